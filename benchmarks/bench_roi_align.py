"""RoIAlign's backward on the CPU: the kernel's (torchvision's, the same loop as mmcv's)
against the toy configs' two matrix products (``objprop.models.roi_align``), on the RoIs a toy
training really sends through it.

A short in-process toy ObjProp training records every RoIAlign call of its RoI extractors
(feature shape, RoIs, output size, scale); each call is then replayed with random features
and output gradients, both backwards timed side by side (median over rounds) and compared.

    python benchmarks/bench_roi_align.py [--data data/toyvis] [--iters 6] [--threads 1]
        [--repeat 5]
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def record_calls(data, iters):
    """The (input shape, rois, output size, scale, sampling ratio, aligned) of every RoIAlign
    call that needs a gradient in ``iters`` toy ObjProp iterations."""
    from objprop.models import roi_align
    from objprop.training import TrainSettings, train
    calls = []

    class Recording(roi_align.MatmulGradRoIAlign):  # registered under its own name only here
        def forward(self, input, rois):
            if input.requires_grad:
                calls.append((tuple(input.shape), rois.detach().clone(), self.output_size,
                              self.spatial_scale, self.sampling_ratio, self.aligned))
            return super().forward(input, rois)

    roi_align.ROI_LAYERS.register_module(name="RecordingRoIAlign", module=Recording)
    options = {f"model.roi_head.{e}_roi_extractor.roi_layer.type": "RecordingRoIAlign"
               for e in ("bbox", "mask")}
    options["checkpoint_config.interval"] = 10 ** 6
    with tempfile.TemporaryDirectory(prefix="bench_roi_align_") as tmp:
        train(TrainSettings(config=str(ROOT / "configs" / "objprop_r18_fpn_toy.py"),
                            data_root=data, work_dir=tmp, seed=0, max_iters=iters,
                            cfg_options=options))
    return calls


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/toyvis")
    p.add_argument("--iters", type=int, default=6)
    p.add_argument("--threads", type=int, default=1, help="torch threads for the replay")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    import torch
    from torchvision.ops import roi_align as tv_roi_align
    from objprop.models.roi_align import roi_align_grad
    calls = record_calls(args.data, args.iters)
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    kernel, ours, worst = [], [], 0.0
    for shape, rois, size, scale, ratio, aligned in calls:
        x = torch.randn(shape, generator=g).contiguous(
            memory_format=torch.channels_last).requires_grad_()
        y = tv_roi_align(x, rois, size, scale, ratio, aligned)
        go = torch.randn(y.shape, generator=g)
        tk, to = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            ref, = torch.autograd.grad(y, x, go, retain_graph=True)
            tk.append(time.perf_counter() - t)
            t = time.perf_counter()
            got = roi_align_grad(go, rois, shape, scale, ratio, aligned)
            to.append(time.perf_counter() - t)
        kernel.append(statistics.median(tk))
        ours.append(statistics.median(to))
        worst = max(worst, float((got - ref).abs().max() / ref.abs().max().clamp(min=1e-12)))
    n = args.iters
    print(f"\n{len(calls)} RoIAlign calls in {n} toy ObjProp iterations, replayed on "
          f"{args.threads} thread(s), median of {args.repeat}:")
    print(f"  kernel backward (torchvision = mmcv): {1e3 * sum(kernel) / n:.1f} ms an iteration")
    print(f"  two matrix products (objprop):        {1e3 * sum(ours) / n:.1f} ms an iteration")
    print(f"  ratio kernel / products: {sum(kernel) / sum(ours):.2f}x; largest difference "
          f"{worst:.1e} of the gradient's largest entry")


if __name__ == "__main__":
    main()
