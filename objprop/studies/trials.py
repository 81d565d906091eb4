"""Fidelity trials from the pretrained start (`make trials`): where the toy recipe departs
from the paper's or MaskTrack R-CNN's, the source's choice trained instead.

The toy departures (AdamW, cosine match logits, the authors' stride 8) were chosen when every
toy model trained from scratch at batch 2. Each trial here trains the source's choice from the
same pretrained start, with the same seeds, data, schedule and length as the book's run of
that method (its control, ``work_dirs/<config>/seed<k>``: the very runs the training chapter
makes and reuses), and scores both on ToyVIS's **tune** split (a recipe is chosen there,
never on valid). Two readings:

- *learns*: the trial scores above zero mAP on every seed (the departures were taken because
  the source's choice did not: SGD from scratch left the detector predicting background);
- the trial's mAP minus its control's, paired by seed, with its 95 % interval: *better* or
  *worse* where the whole interval lies on one side of zero, else *inconclusive* (a departure
  that is no better than the source's choice has no measured reason left to stay).

Compute only; the departures page and the training chapter quote the written JSON.
"""
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import roles

SPLIT = "tune"
RESULTS = "recipe_trials.json"


@dataclass(frozen=True)
class Trial:
    """One of the source's choices, as a config (inheriting the method's toy config) and/or
    ``--cfg-options`` on the method's config."""
    name: str
    role: str                      # the method whose book run is the control
    what: str                      # the source's choice, in words
    config: str = None             # None: the role's toy config
    options: dict = field(default_factory=dict)

    def trained_config(self):
        return self.config or roles.TOY_CONFIGS[self.role]


TRIALS = (
    Trial("sgd", roles.BASELINE,
          "the paper's SGD (lr 0.005 for a batch of 24, scaled linearly; no clipping)",
          config="configs/masktrack_rcnn_r18_fpn_toy_sgd.py"),
    Trial("dot_logits", roles.BASELINE,
          "plain dot-product match logits, as MaskTrack R-CNN trains them",
          options={"model.roi_head.track_head.normalize": False}),
    Trial("stride16", roles.OBJPROP, "the paper's feature stride 16 for the branch",
          options={"model.prop_head.feat_stride": 16}),
)


def start_options(config):
    """The ``load_from=<file>`` a toy config's ``pretrained://`` start resolves to, as the
    training chapter passes it (so the controls here are its runs, reused both ways)."""
    from ..config import load_config
    load_from = load_config(config).get("load_from")
    return [f"load_from={load_from}"] if load_from else []


def book_run_settings(config, data_root, seed, work_dir="work_dirs", max_iters=None):
    """The training chapter's run of ``config`` on ``seed`` as :class:`TrainSettings` (its
    folder, its pretrained start, its request): a study that trains it reuses the book's
    run, and the book reuses the study's."""
    from ..training import TrainSettings, run_dir
    return TrainSettings(config, data_root=data_root, seed=seed, resume=True,
                         max_iters=max_iters, work_dir=run_dir(work_dir, config, seed),
                         cfg_options=start_options(config))


def train_trials(data_root, seeds, trials=TRIALS, work_dir="work_dirs",
                 trials_dir="work_dirs/trials", max_iters=None, jobs=None, log=print):
    """Train every trial and its controls on every seed (finished runs are reused);
    returns ``{(name, seed): summary}`` with the controls under the role's name."""
    from ..training import TrainSettings, parallel_jobs, run_dir, train_subprocesses
    jobs = jobs or parallel_jobs()
    settings = {}
    for t in trials:
        control = roles.TOY_CONFIGS[t.role]
        start = start_options(control)
        for seed in seeds:
            settings[t.role, seed] = book_run_settings(control, data_root, seed, work_dir,
                                                       max_iters)
            settings[t.name, seed] = TrainSettings(
                t.trained_config(), data_root=data_root, seed=seed, resume=True,
                max_iters=max_iters, work_dir=run_dir(Path(trials_dir) / t.name,
                                                      t.trained_config(), seed),
                cfg_options=[*start, *(f"{k}={v}" for k, v in t.options.items())])
    return train_subprocesses(settings, jobs=jobs, log=log)


def score_trials(runs, data_root, out_dir, max_videos=None, jobs=None):
    """mAP on the tune split of every run of :func:`train_trials`: one row per run."""
    from .jobs import run_jobs
    from .scoring import score_method
    calls = [((f"trial_{name}", summary["config"], summary["checkpoint"], data_root, SPLIT,
               str(out_dir)), dict(max_videos=max_videos, progress=False, seed=seed))
             for (name, seed), summary in runs.items()]
    scored = run_jobs(score_method, calls, jobs)
    return [dict(name=name, seed=seed, AP=100 * m["stats"]["AP"], iters=summary["iters"],
                 s_per_iter=summary.get("s_per_iter"), checkpoint=summary["checkpoint"])
            for ((name, seed), summary), m in zip(runs.items(), scored)]


def summarize(rows, trials=TRIALS):
    """Per trial: its control, each side's mean mAP, whether it ``learns`` (above zero on
    every seed), the paired difference over seeds (mean, 95 % interval) and its ``reading``
    (``better`` / ``worse`` / ``inconclusive``; None with one seed)."""
    from .verdict import interval
    ap = {(r["name"], r["seed"]): r["AP"] for r in rows}
    out = []
    for t in trials:
        seeds = sorted(s for (n, s) in ap if n == t.name and (t.role, s) in ap)
        diffs = [ap[t.name, s] - ap[t.role, s] for s in seeds]
        mean, low, high = interval(diffs) if diffs else (None, None, None)
        reading = None if high is None else ("worse" if high < 0 else "better" if low > 0
                                             else "inconclusive")
        out.append(dict(name=t.name, what=t.what, role=t.role, method=roles.name(t.role),
                        config=t.trained_config(), options=t.options, seeds=seeds,
                        AP=_mean([ap[t.name, s] for s in seeds]),
                        control_AP=_mean([ap[t.role, s] for s in seeds]),
                        learns=bool(seeds) and all(ap[t.name, s] > 0 for s in seeds),
                        diff=mean, low=low, high=high, reading=reading))
    return out


def _mean(values):
    return sum(values) / len(values) if values else None


def run_trials(data_root, seeds, results_dir="results", work_dir="work_dirs",
               trials_dir="work_dirs/trials", names=None, max_iters=None, max_videos=None,
               jobs=None, log=print):
    """Train, score and summarise the trials (all, or those ``names``); writes
    ``<results_dir>/recipe_trials.json`` and returns it."""
    from ..errors import ObjPropError
    from ..io import write_json_atomic
    known = {t.name for t in TRIALS}
    if names and set(names) - known:
        raise ObjPropError(f"unknown trial(s) {sorted(set(names) - known)}; the trials are "
                           f"{sorted(known)}")
    trials = [t for t in TRIALS if not names or t.name in names]
    t0 = time.time()
    runs = train_trials(data_root, seeds, trials, work_dir, trials_dir, max_iters, jobs, log)
    rows = score_trials(runs, data_root, Path(trials_dir) / "results", max_videos, jobs)
    out = dict(split=SPLIT, data_root=str(data_root), seeds=list(seeds), max_iters=max_iters,
               rows=rows, trials=summarize(rows, trials), seconds=round(time.time() - t0, 1))
    write_json_atomic(out, Path(results_dir) / RESULTS, indent=2)
    return out
