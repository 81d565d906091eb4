"""Where a scored run of the book goes: one ``scoring.score_method`` call (online inference
over a split, the results file, the 12 stats and the stability metrics) of a trained toy
checkpoint under cProfile, cut into stages by the cumulative time of the functions that do
each step, beside the same call without the profiler.

    python benchmarks/profile_inference.py --config configs/objprop_r18_fpn_toy.py \\
        --checkpoint work_dirs/objprop_r18_fpn_toy/seed0/latest.pth [--data data/toyvis]
        [--split valid] [--max-videos 10] [--no-fill]

The evaluation chapter scores every trained model on the valid split several times (each
test setting, filling on and off): this says which step a faster pass would have to cut.
Stages (ms per frame, share of the call): the test pipeline (frame loading, resize,
normalise), backbone + FPN, RPN, the box head and its NMS, the mask head and pasting, the
track head's embeddings, the tracker, the propagation branch's filling (ObjProp), mask
encoding (RLE), then scoring. A parent's time includes its children's; cProfile adds a
per-call cost to Python functions, so Python-heavy stages (tracker, encoding, scoring) are
upper bounds. Uses ``profile_train``'s stage accounting.
"""
import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from profile_train import _index, _stage_time  # noqa: E402  (the one stage accounting)

STAGES = [
    ("online inference (run_inference)", 0, [("inference.py", "run_inference")]),
    ("test pipeline (load, resize, normalise)", 1, [("dataset.py", "prepare_test_img")]),
    ("backbone + FPN", 1, [("detectors.py", "extract_feat")]),
    ("RPN (head + proposals)", 1, [("dense_test_mixins.py", "simple_test_rpn")]),
    ("box head + NMS", 1, [("detectors.py", "detect")]),
    ("mask head + pasting", 1, [("detectors.py", "predict_masks")]),
    ("track head embeddings", 1, [("detectors.py", "embed")]),
    ("tracker", 1, [("tracker.py", "assign")]),
    ("propagation / filling (ObjProp)", 1, [("detectors.py", "after_frame")]),
    ("mask encoding (RLE) + results", 1, [("inference.py", "add"),
                                          ("inference.py", "results")]),
    ("scoring (12 stats + stability)", 0, [("scoring.py", "score")]),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default="data/toyvis")
    p.add_argument("--split", default="valid")
    p.add_argument("--max-videos", type=int, default=10)
    p.add_argument("--no-fill", action="store_true")
    args = p.parse_args()
    import torch
    from objprop.studies.scoring import score_method
    call = dict(role="profile", config=args.config, checkpoint=args.checkpoint,
                data_root=args.data, split=args.split, fill=not args.no_fill,
                max_videos=args.max_videos, progress=False)
    with tempfile.TemporaryDirectory(prefix="profile_inference_") as tmp:
        score_method(out_dir=tmp, **dict(call, max_videos=1))  # warm-up (oneDNN kernels)
        t0 = time.perf_counter()
        run = score_method(out_dir=tmp, **call)
        wall = time.perf_counter() - t0
        prof = cProfile.Profile()
        prof.enable()
        t0 = time.perf_counter()
        score_method(out_dir=tmp, **call)
        profiled = time.perf_counter() - t0
        prof.disable()
    table = _index(pstats.Stats(prof))
    frames = run["frames"]
    print(f"{args.config} on {args.split} ({len(run['video_ids'])} videos, {frames} frames, "
          f"filling {'off' if args.no_fill else 'on'}), {torch.get_num_threads()} torch "
          f"threads: {wall:.1f} s per call without the profiler ({1000 * wall / frames:.0f} "
          f"ms/frame, inference alone {run['inference_seconds']:.1f} s); under cProfile "
          f"{profiled:.1f} s\n")
    print(f"| {'stage':<44} | {'ms/frame':>8} | {'share':>6} |")
    print(f"|{'-' * 46}|{'-' * 10}|{'-' * 8}|")
    for label, depth, entries in STAGES:
        t = _stage_time(table, entries, {})
        print(f"| {'  ' * depth + label:<44} | {1000 * t / frames:>8.1f} | "
              f"{100 * t / profiled:>5.1f}% |")


if __name__ == "__main__":
    main()
