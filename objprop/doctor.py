"""`objprop doctor`: what this environment can run, and an early, clear GPU check."""
from .errors import ObjPropError


def environment_report():
    """Versions of the stack, mmcv's compiled ops (and whether they include CUDA), GPUs."""
    import mmcv
    import mmdet
    import torch
    import torchvision
    report = dict(torch=torch.__version__, torchvision=torchvision.__version__,
                  mmcv=mmcv.__version__, mmdet=mmdet.__version__,
                  torch_cuda=torch.version.cuda, mmcv_ops=False, mmcv_ops_cuda=False,
                  gpus=[])
    try:
        from mmcv.ops import nms
        report["mmcv_ops"] = True
    except (ImportError, OSError) as exc:
        report["mmcv_ops_error"] = str(exc).splitlines()[0]
    if report["mmcv_ops"]:
        report["mmcv_ops_cuda"] = _mmcv_ops_run_on_cuda(nms)
    if torch.cuda.is_available():
        report["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return report


def _mmcv_ops_run_on_cuda(nms):
    """Whether mmcv's compiled ops include CUDA kernels. With a GPU, by running one (NMS on
    two boxes): mmcv.ops.get_compiling_cuda_version and get_compiler_version, which return a
    string, crashed the process (a segfault) in the build for torch 2.11 with C++20 on an H200
    machine, while the ops themselves ran. Without a GPU, by asking that build function, which
    the CPU builds answer."""
    import torch
    if torch.cuda.is_available():
        boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.]], device="cuda")
        try:
            nms(boxes, torch.tensor([0.9, 0.8], device="cuda"), 0.5)
            return True
        except RuntimeError:
            return False
    from mmcv.ops import get_compiling_cuda_version
    return get_compiling_cuda_version() not in ("not available", "", None)


def format_report(r):
    ops = ("yes (CUDA)" if r["mmcv_ops_cuda"]
           else "yes (CPU only)" if r["mmcv_ops"] else "NO: " + r.get("mmcv_ops_error", "?"))
    lines = [f"torch        {r['torch']} (built for CUDA {r['torch_cuda']})",
             f"torchvision  {r['torchvision']}",
             f"mmcv-full    {r['mmcv']}",
             f"mmdet        {r['mmdet']}",
             f"mmcv ops     {ops}",
             f"GPUs         {', '.join(r['gpus']) if r['gpus'] else 'none visible'}"]
    return "\n".join(lines)


def require_gpu_support(gpus, report=None, what=None):
    """Fail early, with the reason and the fix, when ``gpus`` > 0 cannot run here
    (``what``: the flag that asked, default ``--gpus N``)."""
    if not gpus:
        return
    r = report or environment_report()
    what = what or f"--gpus {gpus}"
    if not r["gpus"]:
        raise ObjPropError(f"{what}: no CUDA GPU visible (torch.cuda.is_available() "
                           "is False); use --gpus 0 for the CPU")
    if len(r["gpus"]) < gpus:
        raise ObjPropError(f"{what}: only {len(r['gpus'])} CUDA GPU(s) visible; "
                           "use --gpus 0 for the CPU")
    if not r["mmcv_ops_cuda"]:
        raise ObjPropError("GPU training asked for but mmcv-full's ops were built without "
                           "CUDA; rebuild them with `FORCE_CUDA=1 make setup` on a machine "
                           "with nvcc (see README, 'GPUs')")
