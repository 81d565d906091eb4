"""Inference speed and peak memory: MaskTrack R-CNN vs ObjProp on the same ToyVIS videos.

Each model runs in its own subprocess (so each peak RSS is its own), over the same videos,
after one warm-up video; prints frames per second, the ObjProp/baseline time ratio (the paper
claims "limited computational overhead") and peak memory. On a CUDA machine pass
``--device cuda`` for GPU figures (peak = torch.cuda.max_memory_allocated).

    python benchmarks/bench_models.py [--data data/toyvis] [--videos 5]
        [--baseline-checkpoint K1 --objprop-checkpoint K2] [--device cpu]
"""
import argparse
import json
import resource
import subprocess
import sys
import time

CONFIGS = {"MaskTrack R-CNN": "configs/masktrack_rcnn_r18_fpn_toy.py",
           "ObjProp": "configs/objprop_r18_fpn_toy.py"}


def measure(config, checkpoint, data, videos, device):
    import torch
    from objprop.config import load_config
    from objprop.inference import build_model, build_test_dataset, run_inference
    torch.manual_seed(0)
    cfg = load_config(config, data_root=data)
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="data/toyvis")
    p.add_argument("--videos", type=int, default=5)
    p.add_argument("--baseline-checkpoint")
    p.add_argument("--objprop-checkpoint")
    p.add_argument("--device", default="cpu")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:  # child process: one model
        name = args.one
        ckpt = args.baseline_checkpoint if name == "MaskTrack R-CNN" else args.objprop_checkpoint
        print(json.dumps(measure(CONFIGS[name], ckpt, args.data, args.videos, args.device)))
        return
    rows = {}
    for name in CONFIGS:
        cmd = [sys.executable, __file__, "--one", name] + sys.argv[1:]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows[name] = json.loads(out.stdout.strip().splitlines()[-1])
    mem = "peak GPU MiB" if args.device.startswith("cuda") else "peak RSS MiB"
    print(f"{'model':<16} {'frames':>6} {'fps':>7} {mem:>13} {'filled':>6}")
    for name, r in rows.items():
        print(f"{name:<16} {r['frames']:>6} {r['fps']:>7.2f} {r['peak_mib']:>13.0f} "
              f"{r['filled']:>6}")
    ratio = rows["ObjProp"]["seconds"] / rows["MaskTrack R-CNN"]["seconds"]
    print(f"ObjProp / MaskTrack R-CNN time per frame: {ratio:.2f}x ({args.device})")


if __name__ == "__main__":
    main()
