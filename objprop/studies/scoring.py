"""Methods scored on a split: one loader of a split, one score of a results list, a method
run online and scored, and runs scored once per training seed.

Every run a study writes carries its ``role`` (:mod:`objprop.roles`) and, for the tables,
its display name (``method``); results files are named after the role.
"""
import json
import time
from collections import namedtuple
from pathlib import Path

from .. import roles
from ..evaluation.hota import TRACKING_SCORE_THR
from .store import find_checkpoint, subset_gt, trained_seeds, training_budget

# The stability metrics are also reported on the results scoring at least this much: low-score
# tracks (e.g. a false positive extended by filling) cannot buy them there. The tracking
# metrics (HOTA, ...) use the same threshold.
STABILITY_SCORE_THR = TRACKING_SCORE_THR

Split = namedtuple("Split", "cfg model dataset gt video_ids")


def load_split(config, data_root, split="valid", checkpoint=None, cfg_options=None,
               max_videos=None, device="cpu"):
    """Everything a study needs to run a model over a split: the config (with
    ``cfg_options``), the model (``checkpoint``'s weights; None: initialised), the test
    dataset, the ground truth of its first ``max_videos`` videos and their ids."""
    from ..config import load_config
    from ..inference import build_model, build_test_dataset
    cfg = load_config(config, data_root=data_root, test_split=split, cfg_options=cfg_options)
    model = build_model(cfg, checkpoint, device=device)
    dataset = build_test_dataset(cfg)
    ids = [v["id"] for v in dataset.vid_infos][:max_videos]
    return Split(cfg, model, dataset, subset_gt(cfg.data.test.ann_file, ids), ids)


def score(gt, results, per_category=True):
    """The one score of a results list: the 12 YouTube-VIS stats (``stats``), per-category
    AP, the temporal-stability metrics on all results and on those scoring at least
    :data:`STABILITY_SCORE_THR` (each also by video, ``*_by_video``), and the number of filled instance-frames (one set of
    per-frame intersections for all of them)."""
    from ..evaluation import stability_metrics, ytvis_evaluate
    from ..evaluation.tracks import VideoPairs
    pairs = VideoPairs(gt, results)
    metrics = ytvis_evaluate(gt, results, per_category=per_category, pairs=pairs)
    stability = stability_metrics(gt, results, pairs=pairs, by_video=True)
    confident = stability_metrics(gt, results, pairs=pairs, score_thr=STABILITY_SCORE_THR,
                                  by_video=True)
    return dict(stats={k: v for k, v in metrics.items() if k != "per_category_AP"},
                per_category_AP=metrics.get("per_category_AP", {}),
                stability=stability, stability_at_score=confident,
                # each video's share of every stability average: claims resample videos
                stability_by_video=stability.pop("by_video"),
                stability_at_score_by_video=confident.pop("by_video"),
                filled_frames=int(sum(sum(r.get("filled", [])) for r in results)))


def score_method(role, config, checkpoint, data_root, split="valid", out_dir="results",
                 fill=True, max_videos=None, progress=True, cfg_options=None, seed=None):
    """Run one model online over a split, write its results file, and score it.

    ``role``: what the run is (:mod:`objprop.roles`; it names the results file, so it must be
    a safe file-name part). ``fill=False`` switches ObjProp's empty-instance filling off
    (same weights). ``cfg_options`` (dotted keys, as ``--cfg-options``) change test-time
    settings only, on the same weights. ``seed`` is the training seed of ``checkpoint``:
    recorded, and part of the results file's name. Returns the run: its role and display
    name, where its results are, :func:`score`'s numbers, and the inference time.
    """
    from ..inference import run_inference, set_max_fill
    from ..io import safe_name, write_json_atomic
    if safe_name(role) != role:
        raise ValueError(f"a role names files and must be a safe name, not {role!r}")
    s = load_split(config, data_root, split, checkpoint, cfg_options, max_videos)
    if not fill:
        set_max_fill(s.model, 0)
    t0 = time.perf_counter()
    results = run_inference(s.model, s.dataset, video_ids=s.video_ids, progress=progress)
    seconds = time.perf_counter() - t0  # every run under the same load: comparable
    res_path = Path(out_dir) / (f"results_{role}.json" if seed is None
                                else f"results_{role}_seed{seed}.json")
    write_json_atomic(results, res_path)
    return dict(role=role, method=roles.name(role), seed=seed, config=str(config),
                checkpoint=str(checkpoint), fill=fill, cfg_options=dict(cfg_options or {}),
                results=str(res_path), ann_file=s.cfg.data.test.ann_file,
                video_ids=s.video_ids, **score(s.gt, results),
                inference_seconds=round(seconds, 3),
                frames=int(sum(v["length"] for v in s.gt["videos"])))


class Run(namedtuple("Run", "role config fill options what seeds", defaults=(None,))):
    """One measured row: its role, its config, filling on/off, test-time ``--cfg-options``,
    what it isolates, and how many of the config's training seeds to score (``None``: all
    of them; the first ``seeds`` otherwise)."""


def score_runs(runs, data_root, split="valid", out_dir="results", max_videos=None,
               cache=None, jobs=None):
    """Score each :class:`Run` (or plain tuple of its fields) of ``runs`` once per training
    seed ``results/train.json`` holds for its config (the first ``seeds`` of them when set);
    returns the scored runs, each with its ``role``, display name, ``seed``, ``what`` and
    training ``budget`` (:func:`objprop.studies.store.training_budget`).
    ``cache`` (a dict, shared between calls) reuses a run already scored with the same
    config, seed, filling and options under another role. The runs not in the cache are
    scored ``jobs`` at a time (:func:`objprop.studies.jobs.run_jobs`; default one per core,
    one thread each: every run's inference time is then measured under the same load)."""
    from .jobs import run_jobs
    cache = {} if cache is None else cache
    plan, todo = [], {}
    for role, config, fill, options, what, max_seeds in (Run(*r) for r in runs):
        for seed in trained_seeds(config, out_dir)[:max_seeds]:
            key = (str(config), seed, bool(fill), json.dumps(options or {}, sort_keys=True))
            plan.append((key, role, what))
            if key not in cache and key not in todo:
                todo[key] = ((role, config, find_checkpoint(config, out_dir, seed=seed),
                              data_root, split, out_dir),
                             dict(fill=fill, max_videos=max_videos, progress=False,
                                  cfg_options=options or None, seed=seed))
    cache.update(zip(todo, run_jobs(score_method, todo.values(), jobs)))
    return [dict(cache[key], role=role, method=roles.name(role), what=what,
                 budget=training_budget(key[0], key[1], out_dir))
            for key, role, what in plan]


def tracking_scores(measured, score_thr=STABILITY_SCORE_THR):
    """Each run of ``measured`` with its tracking metrics (``tracking``: HOTA, DetA, AssA,
    MOTA, IDF1, ID switches; :func:`objprop.evaluation.hota.tracking_metrics` on its results
    file, results scoring at least ``score_thr``)."""
    from ..data.ytvis import load_results
    from ..evaluation.hota import tracking_metrics
    scored = []
    for run in measured:
        gt = subset_gt(run["ann_file"], run["video_ids"])
        m = tracking_metrics(gt, load_results(run["results"], gt), score_thr=score_thr)
        scored.append(dict(run, tracking=m))
    return scored
