"""Seeds or videos (`make power`): which buys the central comparison more power per minute.

The central claim's verdict is a paired difference (ObjProp − MaskTrack R-CNN) over training
seeds, scored on one split. Its seed-to-seed spread has a part that more videos shrink (how
a seed's model happens to do on these particular videos) and a part they do not (how good
the seed's model is). The variance study holds the models fixed to measure the split's
share; this one holds nothing fixed: both methods, trained on each of ``seeds`` as the book
trains them (the book's own runs, reused; missing seeds trained the same way), are scored
on a **tune** split grown to ``videos`` videos (ToyVIS draws every video from its own seed,
so the grown split starts with the book's tune videos, checked here). Cut into disjoint
blocks of 15, 30, 60, ... videos, each block gives every seed a paired difference; the
spread of those differences over seeds, pooled over the blocks of one size, is the spread a
split of that size would show. The claims chapter turns each size's spread into the seeds it
needs and the minutes they cost (the book's own training and inference times).

Settings are chosen on tune, never on valid. Compute only; the claims chapter reads the JSON.
"""
import json
import os
import time
from pathlib import Path

from .. import roles
from ..errors import ObjPropError
from .variance import METHODS  # the central claim: the first minus the second

SPLIT = "tune"
RESULTS = "power.json"
DEFAULT_VIDEOS = 120


def grown_split(data_root, videos, out_dir):
    """ToyVIS in ``out_dir`` as ``data_root``'s request, its tune split grown to ``videos``
    videos (one train and one valid video: nothing trains on it). Checks that its first
    videos are ``data_root``'s tune split, video for video; returns the folder."""
    from ..data.toyvis import REQUEST_FILE, ensure_toyvis
    request_file = Path(data_root) / REQUEST_FILE
    if not request_file.is_file():
        raise ObjPropError("not a ToyVIS folder (no request file): the power study grows "
                           "ToyVIS's tune split", path=request_file)
    req = json.loads(request_file.read_text())
    book = json.loads((Path(data_root) / "annotations" / f"instances_{SPLIT}.json").read_text())
    n_book = len(book["videos"])
    if videos < 2 * n_book:
        raise ObjPropError(f"--videos {videos}: at least twice the tune split's "
                           f"{n_book} videos (two blocks of its size)")
    ensure_toyvis(out_dir, seed=req["seed"], train_videos=1, valid_videos=1,
                  tune_videos=videos, frames=tuple(req["frames"]), height=req["height"],
                  width=req["width"], progress=False)
    grown = json.loads((Path(out_dir) / "annotations" / f"instances_{SPLIT}.json").read_text())
    ids = {v["id"] for v in book["videos"]}
    same = (grown["videos"][:n_book] == book["videos"]
            and [a for a in grown["annotations"] if a["video_id"] in ids] == book["annotations"])
    if not same:
        raise ObjPropError(f"the grown tune split's first {n_book} videos are not "
                           f"{data_root}'s tune split (another generator version?)",
                           path=out_dir)
    return str(out_dir), n_book


def train_pair(data_root, seeds, work_dir="work_dirs", max_iters=None, jobs=None, log=print):
    """Both methods on every seed, as the training chapter trains them (the same request:
    its runs are reused, and the book reuses these); ``{(role, seed): summary}``."""
    from ..training import parallel_jobs, train_subprocesses
    from .trials import book_run_settings
    settings = {(role, seed): book_run_settings(roles.TOY_CONFIGS[role], data_root, seed,
                                                work_dir, max_iters)
                for seed in seeds for role in METHODS}
    return train_subprocesses(settings, jobs=jobs or parallel_jobs(), log=log)


def score_pair(runs, split_root, out_dir, jobs=None):
    """Every run of :func:`train_pair` online over the grown tune split (filling on, as the
    central claim's ObjProp); ``{(role, seed): results file}``."""
    from .jobs import run_jobs
    from .scoring import score_method
    calls = [((f"power_{role}", s["config"], s["checkpoint"], split_root, SPLIT, str(out_dir)),
              dict(progress=False, seed=seed)) for (role, seed), s in runs.items()]
    return {key: m["results"] for key, m in zip(runs, run_jobs(score_method, calls, jobs))}


def block_aps(gt, results, size):
    """mAP (percent) of ``results`` on each disjoint block of ``size`` consecutive videos of
    ``gt`` (videos in id order; a last, shorter block is left out). Every block is scored by
    the COCOeval matching ``ytvis_evaluate`` runs, from one set of video IoUs."""
    from ..evaluation.tracks import VideoPairs
    from .stats import videos_ap
    ids = sorted(v["id"] for v in gt["videos"])
    pairs = VideoPairs(gt, results)
    ious = {v: pairs.video_ious(v) for v in ids}
    return [videos_ap(gt, pairs, ious, [(v, v) for v in ids[i:i + size]])
            for i in range(0, len(ids) - size + 1, size)]


def size_rows(aps, seeds, sizes):
    """Per block size: the paired differences of every seed on every block, their std over
    seeds within each block, and the pooled std (root of the blocks' mean variance): the
    seed spread a split of that size shows. ``aps[role, seed, size]``: block mAPs."""
    import numpy as np
    rows = []
    for n in sizes:
        diffs = np.array([np.subtract(aps[METHODS[0], s, n], aps[METHODS[1], s, n])
                          for s in seeds])                       # seeds × blocks
        var = diffs.var(axis=0, ddof=1)
        row = dict(videos=n, blocks=int(diffs.shape[1]), diffs=diffs.T.round(3).tolist(),
                   block_sds=np.sqrt(var).round(3).tolist(), diff_sd=float(np.sqrt(var.mean())),
                   mean_diff=float(diffs.mean()))
        for role in METHODS:
            own = np.array([aps[role, s, n] for s in seeds])
            row[f"{role}_sd"] = float(np.sqrt(own.var(axis=0, ddof=1).mean()))
        rows.append(row)
    return rows


def book_costs(results_dir="results"):
    """What one more seed and one more video cost the book, from its own quiet run: core
    seconds to train the pair (``train.json``: each run's seconds × threads) and core seconds
    of inference per video for the passes the book scores per seed (``evaluation.json``: the
    central pair and ObjProp without filling, each pass one thread). None without both."""
    train, evaluation = Path(results_dir) / "train.json", Path(results_dir) / "evaluation.json"
    if not (train.is_file() and evaluation.is_file()):
        return None
    runs = [r for r in json.loads(train.read_text())["runs"] if r.get("role") in METHODS]
    methods = [m for m in json.loads(evaluation.read_text())["methods"]
               if m.get("seed") == runs[0].get("seed")] if runs else []
    if not runs or not methods:
        return None
    seeds = {r["seed"] for r in runs}
    train_core_s = sum(r["seconds"] * (r.get("threads") or 1) for r in runs) / len(seeds)
    infer = sum(m["inference_seconds"] / len(m["video_ids"]) for m in methods)
    return dict(train_pair_core_s=round(train_core_s, 1),
                inference_core_s_per_video=round(infer, 3), cores=os.cpu_count() or 1,
                passes=[m["role"] for m in methods], from_seeds=sorted(seeds))


def run_power(data_root, seeds, videos=DEFAULT_VIDEOS, sizes=None, results_dir="results",
              work_dir="work_dirs", split_root=None, max_iters=None, jobs=None, log=print):
    """Train (or reuse), score on the grown tune split, cut into blocks; writes
    ``<results_dir>/power.json`` and returns it. ``sizes`` default to the tune split's size
    doubled up to ``videos``."""
    from ..io import write_json_atomic
    from .store import subset_gt
    if len(seeds) < 3:
        raise ObjPropError("--seeds: at least 3 (a spread over seeds within each block)")
    t0 = time.time()
    split_root = split_root or f"{str(data_root).rstrip('/')}_{SPLIT}{videos}"
    split_root, n_book = grown_split(data_root, videos, split_root)
    sizes = sorted(sizes or [n_book * 2 ** k for k in range(8) if n_book * 2 ** k <= videos])
    if any(n < 1 or n > videos for n in sizes):
        raise ObjPropError(f"--sizes: each between 1 and --videos ({videos})")
    runs = train_pair(data_root, seeds, work_dir, max_iters, jobs, log)
    files = score_pair(runs, split_root, Path(work_dir) / "power", jobs)
    gt = subset_gt(Path(split_root) / "annotations" / f"instances_{SPLIT}.json",
                   list(range(1, videos + 1)))
    aps = {}
    for (role, seed), path in files.items():
        results = json.loads(Path(path).read_text())
        for n in sizes:
            aps[role, seed, n] = block_aps(gt, results, n)
    from .verdict import interval
    whole = [aps[METHODS[0], s, videos][0] - aps[METHODS[1], s, videos][0] for s in seeds] \
        if videos in sizes else None
    out = dict(split=SPLIT, data_root=str(data_root), split_root=split_root, videos=videos,
               book_videos=n_book, seeds=list(seeds), methods=list(METHODS),
               max_iters=max_iters, sizes=size_rows(aps, seeds, sizes),
               whole=None if whole is None else dict(
                   diffs=whole, **dict(zip(("mean", "low", "high"), interval(whole)))),
               runs=[dict(role=r, seed=s, results=str(p),
                          blocks={str(n): aps[r, s, n] for n in sizes})
                     for (r, s), p in files.items()],
               cost=book_costs(results_dir), seconds=round(time.time() - t0, 1))
    write_json_atomic(out, Path(results_dir) / RESULTS, indent=2)
    return out
