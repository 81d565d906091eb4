"""Where the studies' JSON lives, and reading it back: what one chapter wrote, the next
reads (a missing file is one line naming the chapter to run first)."""
import json
from pathlib import Path

from ..errors import ObjPropError


def load_json(path):
    """A results file a previous chapter wrote, or a one-line error saying which chapter."""
    from ..data.ytvis import load_json as read_json
    path = Path(path)
    if not path.is_file():
        raise ObjPropError(f"missing: run the {path.stem} chapter first", path=path)
    return read_json(path, what=f"results of the {path.stem} chapter")


def load_measured(results_dir="results"):
    """The evaluation chapter's measured methods (``results/evaluation.json``)."""
    return load_json(Path(results_dir) / "evaluation.json")


def subset_gt(ann_file, video_ids):
    """The ground truth restricted to ``video_ids`` (smoke runs score a few videos)."""
    gt = json.loads(Path(ann_file).read_text())
    keep = set(video_ids)
    return dict(gt, videos=[v for v in gt["videos"] if v["id"] in keep],
                annotations=[a for a in gt["annotations"] if a["video_id"] in keep])


def find_checkpoint(config, results_dir="results", work_dir="work_dirs", seed=None):
    """The checkpoint the training chapter recorded for ``config`` and training ``seed``
    (``results/train.json``; ``seed=None``: the first recorded), else
    ``<work_dir>/<config name>/seed<seed>/latest.pth``."""
    from ..training import run_dir
    train = Path(results_dir) / "train.json"
    if train.is_file():
        for run in json.loads(train.read_text()).get("runs", []):
            if (Path(run.get("config", "")).name == Path(config).name and run.get("checkpoint")
                    and seed in (None, run.get("seed"))):
                return run["checkpoint"]
    path = Path(run_dir(work_dir, config, 0 if seed is None else seed)) / "latest.pth"
    if not path.is_file():
        raise ObjPropError(f"no trained checkpoint for {config} (seed {seed}): run the "
                           f"training chapter first (looked in {train} and {path})")
    return str(path)


def trained_seeds(config, results_dir="results"):
    """The training seeds ``results/train.json`` holds a run of ``config`` for, in order."""
    runs = load_json(Path(results_dir) / "train.json").get("runs", [])
    return [r.get("seed") for r in runs if Path(r.get("config", "")).name == Path(config).name]


def training_budget(config, seed, results_dir="results"):
    """The training behind ``config``'s weights of training ``seed`` (``results/train.json``):
    its own ``iters`` and ``batch``, the run it started from (``start``: that run's role and
    budget, None from scratch), and ``samples``, every iteration × batch behind the weights
    (its own plus its start's). None when the run is not recorded."""
    path = Path(results_dir) / "train.json"
    if not path.is_file():
        return None
    runs = load_json(path).get("runs", [])
    by_checkpoint = {r.get("checkpoint"): r for r in runs if r.get("checkpoint")}

    def budget(run, depth=0):
        start = by_checkpoint.get(run.get("load_from")) if depth < 8 else None
        own = dict(role=run.get("role"), iters=run.get("iters"), batch=run.get("batch"),
                   start=budget(start, depth + 1) if start else None)
        own["samples"] = ((run.get("iters") or 0) * (run.get("batch") or 0)
                          + (own["start"]["samples"] if own["start"] else 0))
        return own

    for run in runs:
        if Path(run.get("config", "")).name == Path(config).name and run.get("seed") == seed:
            return budget(run)
    return None
