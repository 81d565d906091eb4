"""Training speed: seconds per iteration of the toy MaskTrack R-CNN and ObjProp configs.

Each (model, setting) is one ``objprop train --max-iters N`` run in a fresh work folder, at
the same total batch: 1 CPU process x ``B`` images, ``P`` CPU processes (gloo) x ``B / P``
images, and, when CUDA is available, 1 GPU x ``B`` images. Two figures per run, from its
``train_summary.json``: *wall* s/iter (first iteration's start to last iteration's end, data
loading included) and the *median* iteration (forward, backward, step; data loading
excluded). Periodic checkpoints are switched off (only the last iteration saves one) so that
they do not count; prints a table and the ObjProp / MaskTrack R-CNN ratio per setting.

    python benchmarks/bench_train.py [--data data/toyvis] [--iters 10] [--batch 2]
        [--procs 2] [--no-cuda]

Without ``--data`` (or when the folder is missing) a small ToyVIS at the book's frame size is
generated into a temporary folder first.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"MaskTrack R-CNN": "configs/masktrack_rcnn_r18_fpn_toy.py",
           "ObjProp": "configs/objprop_r18_fpn_toy.py"}


def run_one(config, data, iters, samples, gpus, procs, work_dir):
    cmd = [sys.executable, "-m", "objprop.cli", "train", "--config", config, "--data", data,
           "--max-iters", str(iters), "--samples-per-gpu", str(samples), "--gpus", str(gpus),
           "--procs", str(procs), "--work-dir", str(work_dir),
           "--cfg-options", "checkpoint_config.interval=1000000"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"bench_train: {' '.join(cmd[2:])} failed:\n{(run.stdout + run.stderr)[-3000:]}")
    return json.loads((Path(work_dir) / "train_summary.json").read_text())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="ToyVIS folder (default: a generated one)")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--batch", type=int, default=2, help="total images per iteration")
    p.add_argument("--procs", type=int, default=2, help="CPU processes of the second setting")
    p.add_argument("--no-cuda", action="store_true")
    args = p.parse_args()
    import torch
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        data = args.data
        if data is None or not Path(data).is_dir():
            from objprop.data.toyvis import make_toyvis
            data = str(Path(tmp) / "toyvis")
            make_toyvis(data, seed=0, train_videos=4, valid_videos=1, frames=8, height=160,
                        width=288, progress=False)
        settings = [("CPU, 1 proc", 0, 1, args.batch)]
        if args.procs > 1:
            settings.append((f"CPU, {args.procs} procs (gloo)", 0, args.procs,
                             max(1, args.batch // args.procs)))
        if torch.cuda.is_available() and not args.no_cuda:
            settings.append(("CUDA, 1 GPU", 1, 1, args.batch))
        rows = []
        for label, gpus, procs, samples in settings:
            for name, config in CONFIGS.items():
                wd = Path(tmp) / f"{Path(config).stem}_{gpus}_{procs}"
                s = run_one(config, data, args.iters, samples, gpus, procs, wd)
                rows.append((label, name, s))
                print(f"  {label:<22} {name:<16} {s['s_per_iter']:.3f} s/iter", flush=True)
    print(f"\n{args.iters} iterations, total batch {args.batch} "
          f"(torch threads: {os.environ.get('OMP_NUM_THREADS', 'default')})")
    print(f"{'setting':<22} {'model':<16} {'batch':>5} {'wall s/iter':>11} "
          f"{'median s/iter':>13}")
    for label, name, s in rows:
        print(f"{label:<22} {name:<16} {s['batch']:>5} {s['s_per_iter']:>11.3f} "
              f"{s['s_per_iter_median']:>13.3f}")
    for label in dict.fromkeys(r[0] for r in rows):
        by = {n: s for lab, n, s in rows if lab == label}
        ratio = by["ObjProp"]["s_per_iter"] / by["MaskTrack R-CNN"]["s_per_iter"]
        print(f"ObjProp / MaskTrack R-CNN time per iteration ({label}): {ratio:.2f}x")


if __name__ == "__main__":
    main()
