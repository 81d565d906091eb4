"""Inference speed and peak memory: MaskTrack R-CNN, ObjProp and the authors' preset on the
same ToyVIS videos,
and each at test time in float32 against bf16 autocast (``objprop.inference.
test_precision_options``).

Each (model, precision) runs in its own subprocess (so each peak RSS is its own), one thread
(as the book's studies run their passes side by side), over the same videos, after one
warm-up video; with ``--repeat R`` the runs are interleaved R times and each figure is the
median. Prints frames per second, the ObjProp/baseline time ratio (the paper claims "limited
computational overhead"), float32 / bf16 per model, and peak memory. The weights are the
book's trained runs (``objprop.studies.store.find_checkpoint``; initialised weights if the
train chapter has not run), or the checkpoints given. On a CUDA machine pass ``--device
cuda`` for GPU figures (peak = torch.cuda.max_memory_allocated).

    python benchmarks/bench_models.py [--data data/toyvis] [--videos 5] [--repeat 1]
        [--precisions float32 bfloat16] [--baseline-checkpoint K1] [--objprop-checkpoint K2]
        [--authors-checkpoint K3] [--device cpu]
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIGS = {"MaskTrack R-CNN": "configs/masktrack_rcnn_r18_fpn_toy.py",
           "ObjProp": "configs/objprop_r18_fpn_toy.py",
           "authors' preset": "configs/objprop_r18_fpn_authors_toy.py"}
CHECKPOINT_FLAGS = {"MaskTrack R-CNN": "baseline_checkpoint", "ObjProp": "objprop_checkpoint",
                    "authors' preset": "authors_checkpoint"}


def measure(config, checkpoint, data, videos, device, precision):
    import torch
    from objprop.config import load_config
    from objprop.inference import (build_model, build_test_dataset, run_inference,
                                   test_precision_options)
    torch.manual_seed(0)
    if device == "cpu":
        torch.set_num_threads(1)
    cfg = load_config(config, data_root=data, cfg_options=test_precision_options(
        load_config(config), precision))
    model = build_model(cfg, checkpoint, device=device)
    dataset = build_test_dataset(cfg)
    ids = [v["id"] for v in dataset.vid_infos]
    run_inference(model, dataset, video_ids=ids[:1], progress=False)  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    sel = ids[1:1 + videos]
    frames = sum(v["length"] for v in dataset.vid_infos if v["id"] in sel)
    t0 = time.perf_counter()
    results = run_inference(model, dataset, video_ids=sel, progress=False)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    filled = sum(sum(r["filled"]) for r in results)
    return dict(frames=frames, seconds=dt, fps=frames / dt, peak_mib=peak, filled=filled)


def checkpoint_of(name, args):
    given = getattr(args, CHECKPOINT_FLAGS[name])
    if given:
        return given
    from objprop.studies.store import find_checkpoint
    found = find_checkpoint(CONFIGS[name], seed=0)
    return found if found and Path(found).is_file() else None


def main():
    from objprop.inference import TEST_PRECISIONS
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="data/toyvis")
    p.add_argument("--videos", type=int, default=5)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--precisions", nargs="+", default=list(TEST_PRECISIONS),
                   choices=TEST_PRECISIONS)
    p.add_argument("--baseline-checkpoint")
    p.add_argument("--objprop-checkpoint")
    p.add_argument("--authors-checkpoint")
    p.add_argument("--device", default="cpu")
    p.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:  # child process: one (model, precision)
        name, precision = args.one
        print(json.dumps(measure(CONFIGS[name], checkpoint_of(name, args), args.data,
                                 args.videos, args.device, precision)))
        return
    for name in CONFIGS:
        print(f"{name}: {checkpoint_of(name, args) or 'initialised weights'}")
    runs = {}
    for _ in range(args.repeat):
        for name in CONFIGS:
            for precision in args.precisions:
                cmd = [sys.executable, __file__, "--one", name, precision] + sys.argv[1:]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
                runs.setdefault((name, precision), []).append(
                    json.loads(out.stdout.strip().splitlines()[-1]))
    rows = {k: dict(v[0], seconds=statistics.median(r["seconds"] for r in v),
                    fps=statistics.median(r["fps"] for r in v)) for k, v in runs.items()}
    mem = "peak GPU MiB" if args.device.startswith("cuda") else "peak RSS MiB"
    print(f"\n{args.repeat} round(s), medians\n{'model':<16} {'precision':<9} {'frames':>6} "
          f"{'fps':>7} {mem:>13} {'filled':>6}")
    for (name, precision), r in rows.items():
        print(f"{name:<16} {precision:<9} {r['frames']:>6} {r['fps']:>7.2f} "
              f"{r['peak_mib']:>13.0f} {r['filled']:>6}")
    for precision in args.precisions:
        ratio = rows["ObjProp", precision]["seconds"] / rows["MaskTrack R-CNN", precision]["seconds"]
        print(f"ObjProp / MaskTrack R-CNN time per frame, {precision}: {ratio:.2f}x "
              f"({args.device})")
    if len(args.precisions) == 2:
        for name in CONFIGS:
            ratio = rows[name, "float32"]["seconds"] / rows[name, "bfloat16"]["seconds"]
            print(f"{name}: float32 / bf16 at test time = {ratio:.2f}x (speed-up)")


if __name__ == "__main__":
    main()
