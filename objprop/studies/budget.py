"""The budget curve (`make budget`): how far the book's training length is from converged.

Each method is trained at 1×, 2×, 4× and 8× the book's iterations, each length a complete
schedule (``--max-iters``: warm-up and lr steps scaled with it, as a user asking for that
length gets), from the toy configs' pretrained start (`make pretrain` first), on every seed given; the authors' preset at k× starts from the
baseline trained at k× of the same seed, as in the book. Every model is scored on ToyVIS's
**tune** split (never valid: the book's length is chosen from this curve), and the ObjProp
models' branch is measured there too: the mask propagated from the ground-truth box at t-1,
against the detector's own best mask on the same instance-frames, on easy and hard frames.

The plateau rule the book's length is chosen by: the shortest length at which doubling moves
the baseline's mean mAP by less than its seed spread (the std over seeds at that length).
"""
from pathlib import Path

import numpy as np

from .. import roles

MULTIPLES = (1, 2, 4, 8)
ROLES = (roles.BASELINE, roles.OBJPROP, roles.AUTHORS)
SPLIT = "tune"


def run_folder(work_dir, config, multiple, seed):
    return str(Path(work_dir) / Path(config).stem / f"x{multiple}" / f"seed{seed}")


def base_iters(config):
    """The book's length for ``config`` (its runner's iterations)."""
    from ..config import load_config
    return int(load_config(config).runner.max_iters)


def train_budget(data_root, seeds, multiples=MULTIPLES, methods=ROLES, work_dir="work_dirs/budget",
                 base=None, jobs=None, log=print):
    """Train every (method, multiple, seed); returns ``{(role, multiple, seed): summary}``.
    A finished run is reused. ``base``: the iterations of 1× (default: the baseline
    config's)."""
    from ..training import TrainSettings, parallel_jobs, train_subprocesses
    base = base or base_iters(roles.TOY_CONFIGS[roles.BASELINE])
    jobs = jobs or parallel_jobs()

    def settings(role, k, seed, start=()):
        config = roles.TOY_CONFIGS[role]
        return TrainSettings(config, data_root=data_root, seed=seed, resume=True,
                             max_iters=base * k, work_dir=run_folder(work_dir, config, k, seed),
                             # a checkpoint every 1x, not every half-run as the scaled
                             # schedule would: a stopped 8x run loses one book length at most
                             cfg_options=[f"checkpoint_config.interval={base}", *start])

    scratch = [r for r in methods if r not in roles.STARTS_FROM_BASELINE]
    runs = train_subprocesses({(role, k, seed): settings(role, k, seed)
                               for k in multiples for seed in seeds for role in scratch},
                              jobs=jobs, log=log)
    later = [r for r in methods if r in roles.STARTS_FROM_BASELINE]
    if later:
        runs.update(train_subprocesses(
            {(role, k, seed): settings(role, k, seed, [
                f"load_from={runs[roles.BASELINE, k, seed]['checkpoint']}"])
             for k in multiples for seed in seeds for role in later}, jobs=jobs, log=log))
    return runs


def score_budget(runs, data_root, out_dir, max_videos=None, jobs=None):
    """Each trained model of :func:`train_budget` scored on the tune split (mAP) and, for
    models with a propagation branch, the branch against the detector there (δ = 1, boxes
    from the ground truth). One row per run."""
    from .branch import split_propagation_ious, summarize_ious
    from .jobs import run_jobs
    from .scoring import score_method
    calls = [((f"budget_{role}_x{k}", summary["config"], summary["checkpoint"], data_root,
               SPLIT, str(out_dir)), dict(max_videos=max_videos, progress=False, seed=seed))
             for (role, k, seed), summary in runs.items()]
    scored = run_jobs(score_method, calls, jobs)
    rows = []
    for ((role, k, seed), summary), m in zip(runs.items(), scored):
        row = dict(role=role, method=roles.name(role), multiple=k, iters=summary["iters"],
                   seed=seed, AP=100 * m["stats"]["AP"], checkpoint=summary["checkpoint"],
                   s_per_iter=summary.get("s_per_iter"))
        if role != roles.BASELINE:
            ids = m["video_ids"]
            records = split_propagation_ious(summary["config"], summary["checkpoint"],
                                             data_root, SPLIT, ids, deltas=[1],
                                             box_sources=("gt",), jobs=jobs)
            for r in summarize_ious(records):
                if r["source"] == "gt" and r["delta"] == 1 and r["frames"] in ("easy", "hard"):
                    row[f"branch_iou_{r['frames']}"] = r["iou"]
                    row[f"detector_iou_{r['frames']}"] = r["detector_iou"]
        rows.append(row)
    return rows


def curve(rows):
    """Per (role, multiple): mean and std of mAP over seeds, the paired gain of each method
    over the baseline at an equal training budget (mean and 95 % interval over seeds), and
    the branch's and the detector's mean IoUs.

    Equal budget: ObjProp at k x against the baseline at k x; the authors' preset at k x,
    which trains k x on top of the baseline's k x, against the baseline at 2k x (the same
    iterations in all, as one schedule rather than two). ``gain_vs_iters``: the baseline
    length a method's point is paired with (also where the curve lacks it: then no gain)."""
    from .verdict import interval
    by = {}
    for r in rows:
        by.setdefault((r["role"], r["multiple"]), []).append(r)
    base = {(r["multiple"], r["seed"]): r["AP"] for r in rows if r["role"] == roles.BASELINE}
    out = []
    for (role, k), rs in sorted(by.items(), key=lambda kv: (ROLES.index(kv[0][0])
                                                            if kv[0][0] in ROLES else 99,
                                                            kv[0][1])):
        ap = np.array([r["AP"] for r in rs])
        point = dict(role=role, method=roles.name(role), multiple=k, iters=rs[0]["iters"],
                     seeds=[r["seed"] for r in rs], AP=float(ap.mean()),
                     AP_std=float(ap.std(ddof=1)) if len(ap) > 1 else None)
        ref = 2 * k if role in roles.STARTS_FROM_BASELINE else k
        diffs = [r["AP"] - base[ref, r["seed"]] for r in rs if (ref, r["seed"]) in base]
        if role != roles.BASELINE:
            point["gain_vs_iters"] = rs[0]["iters"] * ref // k    # even where it was not run
        if role != roles.BASELINE and diffs:
            mean, low, high = interval(diffs)
            point.update(gain=mean, gain_low=low, gain_high=high)
        for key in ("branch_iou_easy", "branch_iou_hard", "detector_iou_easy",
                    "detector_iou_hard"):
            vals = [r[key] for r in rs if r.get(key) is not None]
            if vals:
                point[key] = float(np.mean(vals))
        out.append(point)
    return out


def plateau(points, role=roles.BASELINE):
    """The plateau rule on ``role``'s curve: for each doubling (k → 2k) how much the mean
    mAP moved against the seed spread at k; ``length``: the shortest k whose doubling moves
    it by less than that spread (None: the curve has not flattened within its lengths)."""
    pts = {p["multiple"]: p for p in points if p["role"] == role}
    steps, length = [], None
    for k in sorted(pts):
        if 2 * k not in pts:
            continue
        moved, spread = pts[2 * k]["AP"] - pts[k]["AP"], pts[k]["AP_std"]
        flat = spread is not None and abs(moved) < spread
        steps.append(dict(multiple=k, iters=pts[k]["iters"], moved=moved, spread=spread,
                          flat=flat))
        if flat and length is None:
            length = k
    return dict(role=role, steps=steps, length=length)


def run_budget(data_root, seeds, multiples=MULTIPLES, methods=ROLES,
               work_dir="work_dirs/budget", results_dir="results", base=None,
               max_videos=None, jobs=None, log=print):
    """Train, score and summarise; writes ``results/budget.json`` and returns it."""
    import time

    from ..io import write_json_atomic
    t0 = time.time()
    base = base or base_iters(roles.TOY_CONFIGS[roles.BASELINE])
    runs = train_budget(data_root, seeds, multiples, methods, work_dir, base, jobs, log)
    rows = score_budget(runs, data_root, Path(results_dir) / "budget", max_videos, jobs)
    points = curve(rows)
    out = dict(split=SPLIT, data_root=str(data_root), seeds=list(seeds),
               multiples=list(multiples), base_iters=base, rows=rows, points=points,
               plateau=plateau(points), seconds=round(time.time() - t0, 1))
    write_json_atomic(out, Path(results_dir) / "budget.json", indent=2)
    return out
