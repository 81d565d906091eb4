"""Filling measured: the propagation oracle (the ceiling of what filling can add), the fill
rule chosen on the tuning split, and the filling study (the funnel of every variant, per
training seed). Compute only; :mod:`objprop.present.propagation` shows it."""
from pathlib import Path

from .. import roles
from ..data.ytvis import annotations_by_video, decode_segmentation
from .branch import FrameCache, gt_instances, mask_iou, propagate


def oracle_fill(model, dataset, gt, results, iou_thr=0.5, max_videos=None, progress=True):
    """The propagation oracle: the ceiling of what filling can add to ``results``.

    Frame by frame, every ground-truth instance-frame that no result finds (mask IoU ≥
    ``iou_thr``) while a result covered the instance in the frame before gets that result's
    mask in frame t replaced by the branch's mask propagated from the instance's
    **ground-truth box** at t-1 (filling extends existing tracks only; it cannot start one).
    Fills are marked ``filled`` and chain: a track filled in t is filled again in t+1 if the
    instance is still missed, even when its fill in t was wrong.
    Returns (new results, number of oracle fills). Only the videos ``dataset`` holds change.
    """
    import copy

    from tqdm import tqdm

    from ..data.ytvis import encode_mask
    thr = model.filler.mask_thr
    out = copy.deepcopy(results)
    anns = annotations_by_video(gt)
    videos = {v["id"]: v for v in gt["videos"]}
    order = [(vi, info["id"]) for vi, info in enumerate(dataset.vid_infos)
             if info["id"] in videos][:max_videos]
    n_fills = 0
    for vi, vid in tqdm(order, desc="propagation oracle", unit="video", disable=not progress):
        video, cache = videos[vid], FrameCache(model, dataset, vi)
        h, w = video["height"], video["width"]
        tracks = [r for r in out if r["video_id"] == vid]
        for r in tracks:
            r["filled"] = list(r.get("filled") or [False] * video["length"])
        masks = [[decode_segmentation(s, h, w) if s is not None else None
                  for s in r["segmentations"]] for r in tracks]
        before = gt_instances(anns[vid], 0, h, w)
        owner = {}  # instance → the result the oracle filled for it (it keeps following it)
        for t in range(1, video["length"]):
            now = gt_instances(anns[vid], t, h, w)
            for k, (cat, mask_t, _) in now.items():
                if k not in before or _covered(masks, t, mask_t, iou_thr) is not None:
                    continue
                i = _covered(masks, t - 1, before[k][1], iou_thr)
                if i is None and k in owner and masks[owner[k]][t - 1] is not None:
                    i = owner[k]  # its fill in t-1 was wrong, but it is still its track
                if i is None:
                    continue
                owner[k] = i
                prob = propagate(model, cache, t, t - 1, [before[k][2]],
                                 labels=[dataset.cat2label[before[k][0]]])["mask_prob"][0]
                masks[i][t] = prob > thr
                tracks[i]["segmentations"][t] = encode_mask(masks[i][t])
                tracks[i]["filled"][t] = True
                n_fills += 1
            before = now
    return out, n_fills


def _covered(masks, t, mask, iou_thr):
    """The index of the result whose mask in frame ``t`` overlaps ``mask`` most, if its
    IoU reaches ``iou_thr``; else None."""
    best, best_iou = None, iou_thr
    for i, track in enumerate(masks):
        if track[t] is not None:
            iou = mask_iou(track[t], mask)
            if iou >= best_iou:
                best, best_iou = i, iou
    return best


FILLING_VARIANTS = [  # (role, what it is)
    (roles.OBJPROP_NO_FILL, "the trained ObjProp, filling off"),
    (roles.OBJPROP, "the same weights, the paper's filling"),
    (roles.PROP_ORACLE, "filling off, then every missed instance-frame whose track was there "
                        "in the frame before filled from its ground-truth box there"),
]


def tune_fill_rule(config, results_dir, data_root, grid, split="tune", max_videos=None,
                   seed=None, jobs=None):
    """Choose the fill rule on the tuning split: every combination of ``grid`` (prop
    option → values) is run with the first trained seed's ObjProp (``seed``: another) on
    ``split`` and scored; the highest mAP wins (ties: the earlier combination, so list the
    paper's values first). Returns ``dict(rows, chosen)``: one row per combination (its
    options, mAP, hard-frame recall, missed frames, filled frames, seconds) and the chosen
    options as ``--cfg-options`` keys. The combinations run ``jobs`` at a time
    (:func:`objprop.studies.jobs.run_jobs`)."""
    import itertools

    from ..io import safe_name
    from .jobs import run_jobs
    from .scoring import score_method
    from .store import find_checkpoint, trained_seeds
    seed = trained_seeds(config, results_dir)[0] if seed is None else seed
    checkpoint = find_checkpoint(config, results_dir, seed=seed)
    keys = list(grid)
    combos = list(itertools.product(*(grid[k] for k in keys)))
    calls = []
    for values in combos:
        options = {f"model.test_cfg.prop.{k}": v for k, v in zip(keys, values)}
        role = safe_name("tune " + " ".join(f"{k}={v}" for k, v in zip(keys, values)))
        calls.append(((role, config, checkpoint, data_root, split,
                       str(Path(results_dir) / "tune")),
                      dict(max_videos=max_videos, progress=False, cfg_options=options,
                           seed=seed)))
    rows = []
    # the combinations side by side, one per core (their seconds: under the same load)
    for values, (_, kw), m in zip(combos, calls, run_jobs(score_method, calls, jobs)):
        rows.append(dict(dict(zip(keys, values)), options=kw["cfg_options"],
                         AP=100 * m["stats"]["AP"],
                         recall_hard_frames=m["stability"].get("recall_hard_frames"),
                         missed_frames=m["stability"].get("missed_frames"),
                         filled=m["filled_frames"], seconds=m["inference_seconds"]))
    best = max(range(len(rows)), key=lambda i: (rows[i]["AP"], -i))
    return dict(split=split, seed=seed, rows=rows, chosen=rows[best]["options"])


def filling_study(config, results_dir, data_root, split="valid", max_videos=None,
                  tuned_options=None, jobs=None):
    """The filling funnel of MaskTrack R-CNN, and of ObjProp with and without filling and
    with the propagation oracle, per training seed, from the evaluation chapter's results
    files; returns ``dict(runs=[...])``, one scored run per (variant, seed) in the form
    :mod:`objprop.studies.stats` aggregates (``role``, ``method``, ``seed``, ``stats``,
    ``stability``) plus its ``funnel``. ``tuned_options`` (the fill rule chosen on the tuning
    split) adds the role ``TUNED_FILL``: the same weights with those options, scored here
    (or, when they are the config's own values, the ``OBJPROP`` run under that role). The
    seeds run ``jobs`` at a time (:func:`objprop.studies.jobs.run_jobs`)."""
    from ..data.ytvis import load_results
    from ..evaluation.funnel import filling_funnel
    from .jobs import run_jobs
    from .stats import by_role
    from .store import load_measured, subset_gt
    measured = by_role(load_measured(results_dir)["methods"])
    runs = []
    for base in measured.get(roles.BASELINE, []):  # the baseline's funnel: no filling
        gt = subset_gt(base["ann_file"], base["video_ids"])
        runs.append(dict({k: base[k] for k in ("stats", "stability", "inference_seconds",
                                               "frames") if k in base},
                         role=base["role"], method=base["method"], seed=base["seed"],
                         funnel=filling_funnel(gt, load_results(base["results"], gt), 0)))
    calls = [((config, results_dir, data_root, split, nofill, fill),
              dict(max_videos=max_videos, tuned_options=tuned_options))
             for nofill, fill in zip(measured[roles.OBJPROP_NO_FILL], measured[roles.OBJPROP])]
    for seed_runs in run_jobs(filling_runs_of_seed, calls, jobs):
        runs += seed_runs
    return dict(runs=runs)


def filling_runs_of_seed(config, results_dir, data_root, split, nofill, fill, max_videos=None,
                         tuned_options=None):
    """:func:`filling_study`'s runs of one training seed: ObjProp without and with filling
    (``nofill``, ``fill``: their scored runs), the propagation oracle, and the tuned rule."""
    from ..data.ytvis import load_results
    from ..evaluation.funnel import filling_funnel
    from .scoring import load_split, score, score_method
    from .store import find_checkpoint, subset_gt
    seed, runs = fill["seed"], []
    s = load_split(config, data_root, split, find_checkpoint(config, results_dir, seed=seed))
    model = s.model
    gt = subset_gt(s.cfg.data.test.ann_file, fill["video_ids"])
    base = load_results(nofill["results"], gt)
    oracle, n = oracle_fill(model, s.dataset, gt, base, max_videos=max_videos, progress=False)
    variants = zip(FILLING_VARIANTS, (base, load_results(fill["results"], gt), oracle),
                   (nofill, fill, None))
    for (role, _), res, scored in variants:
        keep = {k: scored[k] for k in ("stats", "stability", "stability_at_score",
                                       "inference_seconds", "frames") if k in scored} \
            if scored else {k: v for k, v in score(gt, res, per_category=False).items()
                            if k in ("stats", "stability")}
        max_fill = (None if role == roles.PROP_ORACLE else model.filler.max_fill
                    if role == roles.OBJPROP else 0)
        runs.append(dict(keep, role=role, method=roles.name(role), seed=seed,
                         funnel=filling_funnel(gt, res, max_fill=max_fill)))
    runs[-1]["oracle_fills"] = n
    paper_rule = tuned_options is not None and all(
        getattr(model.filler, k.rsplit(".", 1)[-1], None) == v
        for k, v in tuned_options.items())
    tuned_role = dict(role=roles.TUNED_FILL, method=roles.name(roles.TUNED_FILL))
    if tuned_options and paper_rule:  # the paper's rule won: its runs, not a rerun
        runs.append(dict(runs[-2], **tuned_role))
    elif tuned_options:
        tuned = score_method(roles.TUNED_FILL, config,
                             find_checkpoint(config, results_dir, seed=seed),
                             data_root, split, results_dir, max_videos=max_videos,
                             progress=False, cfg_options=tuned_options, seed=seed)
        max_fill = tuned_options.get("model.test_cfg.prop.max_fill", model.filler.max_fill)
        runs.append(dict(tuned, funnel=filling_funnel(gt, load_results(tuned["results"], gt),
                                                      max_fill=max_fill)))
    return runs
