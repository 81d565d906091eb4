"""Inference time per frame, measured for a verdict: two models timed in turns.

One timing decides nothing (the overhead ratio read 1.24x in one run and 1.05x in the next on
the same code, when each run was timed once beside other work). Here both models are loaded
once and run over the same videos in alternating order (A B, B A, A B, ...), one thread, after
one warm-up run each, so slow phases of the machine fall on both; each round gives one ratio,
and the verdict reads their median and range.
"""
import time

import numpy as np

from .scoring import load_split

ROUNDS = 5


def interleaved_times(specs, data_root, split="valid", max_videos=2, rounds=ROUNDS,
                      threads=1):
    """``specs``: ``{role: (config, checkpoint, fill)}`` of two models. Returns seconds per
    frame of each role in each round (``per_frame[role]``), the per-round ratio of the
    first role to the second, its median, min and max, and what was timed."""
    import torch
    from ..inference import run_inference, set_max_fill
    if len(specs) != 2:
        raise ValueError("the timing study compares two models")
    splits = {}
    for role, (config, checkpoint, fill) in specs.items():
        splits[role] = load_split(config, data_root, split, checkpoint, max_videos=max_videos)
        if not fill:
            set_max_fill(splits[role].model, 0)
    frames = int(sum(v["length"] for v in next(iter(splits.values())).gt["videos"]))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        def run(role):
            s = splits[role]
            t0 = time.perf_counter()
            run_inference(s.model, s.dataset, video_ids=s.video_ids, progress=False)
            return (time.perf_counter() - t0) / frames

        order = list(specs)
        for role in order:        # warm-up: first-call allocations and caches, not counted
            run(role)
        per_frame = {role: [] for role in order}
        for r in range(rounds):
            for role in (order if r % 2 == 0 else order[::-1]):
                per_frame[role].append(run(role))
    finally:
        torch.set_num_threads(before)
    a, b = (np.asarray(per_frame[role]) for role in order)
    ratios = a / b
    return dict(roles=order, per_frame=per_frame, ratios=ratios.tolist(),
                median=float(np.median(ratios)), min=float(ratios.min()),
                max=float(ratios.max()), rounds=rounds, threads=threads, frames=frames,
                videos=len(next(iter(splits.values())).video_ids), split=split)


def time_first_seed(measured, a, b, data_root, split="valid", max_videos=2, rounds=ROUNDS):
    """:func:`interleaved_times` of roles ``a`` and ``b`` with the checkpoints, configs and
    filling their first scored seed ran with (``measured``: scored runs)."""
    first = {}
    for run in measured:
        first.setdefault(run["role"], run)
    specs = {r: (first[r]["config"], first[r]["checkpoint"], first[r].get("fill", True))
             for r in (a, b)}
    out = interleaved_times(specs, data_root, split, max_videos=max_videos, rounds=rounds)
    return dict(out, seed=first[a].get("seed"))
