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
        from mmcv.ops import get_compiler_version, get_compiling_cuda_version
        report["mmcv_ops"] = True
        report["mmcv_compiler"] = get_compiler_version()
        cuda = get_compiling_cuda_version()
        report["mmcv_ops_cuda"] = cuda not in ("not available", "", None)
        report["mmcv_ops_cuda_version"] = cuda
    except (ImportError, OSError) as exc:
        report["mmcv_ops_error"] = str(exc).splitlines()[0]
    if torch.cuda.is_available():
        report["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return report


def format_report(r):
    ops = ("yes (CUDA %s)" % r.get("mmcv_ops_cuda_version") if r["mmcv_ops_cuda"]
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
