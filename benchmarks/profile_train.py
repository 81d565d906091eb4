"""Where a toy training iteration goes: one in-process ``objprop train`` of each toy method
under cProfile (stdlib: no extra dependency), its runner loop cut into stages by the
cumulative time of the functions that do each step, and the heaviest torch operators of a
few iterations under ``torch.profiler``.

    python benchmarks/profile_train.py [--data data/toyvis] [--iters 30] [--warmup 5]
        [--methods masktrack_rcnn objprop] [--ops 8]

Stages (ms per iteration, share of the loop): data (sampling, frame decoding, mask
decoding, augmentation, collate), the model's forward split into backbone + FPN (both
frames in one pass: the reference frame's share is half of it), RPN, RoI heads (sampling,
box, mask and track heads), the propagation head (ObjProp), then backward, gradient
clipping, the optimizer step, and the runner's hooks and logging. Nested stages are
indented; a parent's time includes its children's. cProfile adds a per-call cost to Python
functions, so shares of Python-heavy stages (data, hooks) are upper bounds; the wall time
printed beside is measured without the profiler.
"""
import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONFIGS = {"masktrack_rcnn": "configs/masktrack_rcnn_r18_fpn_toy.py",
           "objprop": "configs/objprop_r18_fpn_toy.py"}

# (label, depth, [(file name, function name[:class]), ...]): a stage's time is the sum of the
# listed functions' cumulative times (none of a stage's functions calls another)
STAGES = [
    ("data loading (next batch)", 0, [("iter_based_runner.py", "__next__")]),
    ("frame decoding (LoadImageFromFile)", 1, [("loading.py", "__call__:LoadImageFromFile")]),
    ("mask decoding (LoadAnnotations)", 1, [("loading.py", "_load_masks")]),
    ("resize (image + masks)", 1, [("transforms.py", "__call__:Resize")]),
    ("flip / normalize / pad", 1, [("transforms.py", "__call__:RandomFlip"),
                                   ("transforms.py", "__call__:Normalize"),
                                   ("transforms.py", "__call__:Pad")]),
    ("format + collate", 1, [("formatting.py", "__call__:DefaultFormatBundle"),
                             ("collate.py", "collate")]),
    ("forward (train_step)", 0, [("data_parallel.py", "train_step")]),
    ("backbone + FPN (t and t-δ)", 1, [("detectors.py", "extract_pair")]),
    ("RPN (head, loss, proposals)", 1, [("base_dense_head.py", "forward_train")]),
    ("RoI heads (box, mask, track)", 1, [("detectors.py", "forward_train:MaskTrackRoIHead")]),
    ("assign + sample", 2, [("detectors.py", "_sample")]),
    ("box head + loss", 2, [("standard_roi_head.py", "_bbox_forward_train")]),
    ("mask head + targets + loss", 2, [("standard_roi_head.py", "_mask_forward_train")]),
    ("track head (t and t-δ) + loss", 2, [("detectors.py", "embed"),
                                          ("track_head.py", "loss")]),
    ("propagation head + losses", 1, [("detectors.py", "prop_losses")]),
    ("backward", 0, [("_tensor.py", "backward")]),
    ("gradient clipping", 0, [("optimizer.py", "clip_grads")]),
    ("optimizer step (AdamW)", 0, [("adamw.py", "step")]),
    ("hooks: logging", 0, [("text.py", "after_train_iter"),
                           ("tensorboard.py", "after_train_iter"),
                           ("base.py", "after_train_iter:LoggerHook")]),
]


def _index(stats):
    """{(file suffix, name, class-ish), cumtime} lookups over pstats' raw table."""
    table = {}
    for (path, line, name), (cc, nc, tt, ct, callers) in stats.stats.items():
        table.setdefault((Path(path).name, name), []).append((path, line, ct, nc))
    return table


def _stage_time(table, entries, sources):
    total = 0.0
    for suffix, name in entries:
        func, _, cls = name.partition(":")
        for path, line, ct, nc in table.get((suffix, func), []):
            if cls and cls not in sources.get((path, line), ""):
                continue
            total += ct
    return total


def _defining_class(path, line):
    """The class a function at ``path:line`` is defined in (from the source), '' if none."""
    try:
        lines = Path(path).read_text().splitlines()[:line]
    except OSError:
        return ""
    indent = len(lines[-1]) - len(lines[-1].lstrip())
    for text in reversed(lines[:-1]):
        stripped = text.lstrip()
        if stripped.startswith("class ") and len(text) - len(stripped) < indent:
            return stripped[6:].split("(")[0].split(":")[0]
    return ""


def profile_method(config, data, iters, warmup, workdir, ops):
    import torch
    from objprop.training import TrainSettings, train
    base = dict(config=config, data_root=data, seed=0,
                cfg_options={"checkpoint_config.interval": 10 ** 6,
                             "log_config.interval": 10})
    # warm-up run (allocator, oneDNN kernels) and the wall time without the profiler
    s = train(TrainSettings(work_dir=str(workdir / "plain"), max_iters=iters + warmup, **base))
    wall = s["s_per_iter_median"]
    prof = cProfile.Profile()
    prof.enable()
    t0 = time.perf_counter()
    train(TrainSettings(work_dir=str(workdir / "prof"), max_iters=iters, **base))
    prof.disable()
    stats = pstats.Stats(prof)
    table = _index(stats)
    loop = _stage_time(table, [("iter_based_runner.py", "train")], {})
    sources = {(p, ln): _defining_class(p, ln) for k, v in table.items() for p, ln, _, _ in v
               if k[1] in ("__call__", "forward_train", "after_train_iter")}
    rows = []
    for label, depth, entries in STAGES:
        t = _stage_time(table, entries, sources)
        if t:
            rows.append((label, depth, 1000 * t / iters, 100 * t / loop))
    accounted = sum(r[3] for r in rows if r[1] == 0)
    rows.append(("other (runner, lr/checkpoint hooks, ...)", 0,
                 1000 * loop * (1 - accounted / 100) / iters, 100 - accounted))
    # operator view: a few iterations under torch.profiler
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as tp:
        train(TrainSettings(work_dir=str(workdir / "ops"), max_iters=5, **base))
    top = sorted(tp.key_averages(), key=lambda e: -e.self_cpu_time_total)[:ops]
    total_self = sum(e.self_cpu_time_total for e in tp.key_averages())
    op_rows = [(e.key, e.count, e.self_cpu_time_total / 1e3 / 5,
                100 * e.self_cpu_time_total / total_self) for e in top]
    return wall, 1000 * loop / iters, rows, op_rows, torch.get_num_threads()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="ToyVIS folder (default: a generated one)")
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--methods", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--ops", type=int, default=8, help="torch operators to list")
    args = p.parse_args()
    import logging
    logging.getLogger("mmdet").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="profile_train_") as tmp:
        tmp = Path(tmp)
        data = args.data
        if data is None or not Path(data).is_dir():
            from objprop.data.toyvis import make_toyvis
            data = str(tmp / "toyvis")
            make_toyvis(data, seed=0, train_videos=4, valid_videos=1, frames=8, height=160,
                        width=288, progress=False)
        for method in args.methods:
            wall, loop_ms, rows, op_rows, threads = profile_method(
                CONFIGS[method], data, args.iters, args.warmup, tmp / method, args.ops)
            print(f"\n## {method} ({CONFIGS[method]}): {args.iters} iterations, "
                  f"{threads} torch threads, OMP_WAIT_POLICY="
                  f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}")
            print(f"median iteration without the profiler: {1000 * wall:.0f} ms; "
                  f"under cProfile: {loop_ms:.0f} ms/iteration\n")
            print(f"| {'stage':<46} | {'ms/iter':>8} | {'share':>6} |")
            print(f"|{'-' * 48}|{'-' * 10}|{'-' * 8}|")
            for label, depth, ms, share in rows:
                print(f"| {'  ' * depth + label:<46} | {ms:>8.1f} | {share:>5.1f}% |")
            print(f"\nheaviest torch operators (self CPU time, 5 iterations):\n")
            print(f"| {'operator':<40} | {'calls/iter':>10} | {'ms/iter':>8} | {'share':>6} |")
            print(f"|{'-' * 42}|{'-' * 12}|{'-' * 10}|{'-' * 8}|")
            for key, count, ms, share in op_rows:
                print(f"| {key[:40]:<40} | {count / 5:>10.0f} | {ms:>8.1f} | {share:>5.1f}% |")


if __name__ == "__main__":
    main()
