"""Numbers over training seeds: a run's stat in percent, mean ± sample std, one row per role,
paired differences by seed, and the bootstrap over videos that sizes a split."""
from .. import roles


def percent(record, key):
    """A YouTube-VIS stat of one scored run, in percent (None where it is undefined)."""
    v = record["stats"].get(key)
    return None if v is None or v < 0 else 100 * v


def mean_std(values):
    """(mean, sample standard deviation) of a list of numbers; the std is None for one."""
    import numpy as np
    a = np.asarray(values, dtype=float)
    return float(a.mean()), (float(a.std(ddof=1)) if len(a) > 1 else None)


def by_role(measured):
    """Role → its scored runs (one per training seed), in first-seen order."""
    out = {}
    for m in measured:
        out.setdefault(m["role"], []).append(m)
    return out


def summary_rows(measured, keys, value):
    """One row per role: for each key its mean over the role's seeds (``row[key]``), the
    sample std (``row[key + '_std']``, None for one seed) and the per-seed values
    (``row['per_seed'][key]``, in the order of ``row['seed_list']``); ``value(run, key)``
    reads one run's number. ``row['method']`` is the role's display name."""
    rows = []
    for role, runs in by_role(measured).items():
        row = dict(role=role, method=roles.name(role), seeds=len(runs),
                   seed_list=[r.get("seed") for r in runs], per_seed={})
        for key in keys:
            vals = [value(r, key) for r in runs]
            if any(v is None for v in vals):
                continue
            row[key], row[key + "_std"] = mean_std(vals)
            row["per_seed"][key] = vals
        rows.append(row)
    return rows


def paired_difference(measured, a, b, key="AP", value=percent):
    """Role ``a`` minus role ``b`` on ``key``, per training seed both ran with: the
    per-seed differences, their mean, sample std and 95 % interval (``low``, ``high``;
    :func:`objprop.studies.verdict.interval`, None for one seed), and each side's own
    mean ± std over those seeds. None when they share no seed with the number defined."""
    from .verdict import interval
    runs = by_role(measured)
    ra = {r.get("seed"): value(r, key) for r in runs.get(a, [])}
    rb = {r.get("seed"): value(r, key) for r in runs.get(b, [])}
    # a seed counts where both sides have the number (a metric can be undefined, e.g.
    # hard-frame recall on data without hard frames)
    seeds = [s for s in ra if s in rb and ra[s] is not None and rb[s] is not None]
    if not seeds:
        return None
    diffs = [ra[s] - rb[s] for s in seeds]
    (ma, sa), (mb, sb), (md, sd) = (mean_std([ra[s] for s in seeds]),
                                    mean_std([rb[s] for s in seeds]), mean_std(diffs))
    _, low, high = interval(diffs)
    return dict(a=a, b=b, key=key, seeds=seeds, per_seed=diffs, mean=md, std=sd,
                low=low, high=high, a_mean=ma, a_std=sa, b_mean=mb, b_std=sb)


def in_points(d):
    """A paired difference of fractions, in percentage points."""
    scale = (lambda v: None if v is None else 100 * v)
    return dict(d, per_seed=[100 * x for x in d["per_seed"]],
                **{k: scale(d.get(k)) for k in ("mean", "std", "low", "high", "a_mean",
                                                  "a_std", "b_mean", "b_std")})


def bootstrap_ap(gt, runs, sizes, draws=100, seed=0):
    """How much the choice of a split of ``n`` videos alone moves mAP. ``runs``: role →
    results list of one model each, scored on ``gt``. For each ``n`` in ``sizes``, ``draws``
    splits of ``n`` videos are drawn with replacement from ``gt``'s (each copy a new video,
    with its results) and every run is scored on the same draws. Rows: ``videos``, each
    run's mean mAP (percent) and its std over draws (``<role>_std``), and for two runs the
    first minus the second (``difference``, ``difference_std``): the split's share of a
    paired comparison's spread, with the models held fixed.

    A video's tracks and video IoUs do not change with the draw: they are computed once per
    run (:class:`~objprop.evaluation.tracks.VideoPairs`) and every draw is scored from them
    by the same COCOeval matching :func:`~objprop.evaluation.ytvis_evaluate` runs, so each
    draw's mAP is the one ``ytvis_evaluate`` gives on that split written out
    (``tests/test_present.py`` checks it)."""
    import numpy as np
    from ..evaluation.tracks import VideoPairs
    from ..evaluation.ytvis_eval import evaluate_tracks
    rng = np.random.default_rng(seed)
    videos, names = gt["videos"], list(runs)
    pairs = {name: VideoPairs(gt, results) for name, results in runs.items()}
    ious = {name: {v["id"]: p.video_ious(v["id"]) for v in videos} for name, p in pairs.items()}
    rows = []
    for n in sizes:
        aps = {name: [] for name in names}
        for _ in range(draws):
            picks = [(new, videos[k]["id"])
                     for new, k in enumerate(rng.integers(0, len(videos), n), 1)]
            for name in names:
                p = pairs[name]
                aps[name].append(100 * evaluate_tracks(
                    gt, {new: p.gt_by_video[old] for new, old in picks},
                    {new: p.dt_by_video[old] for new, old in picks}, per_category=False,
                    video_iou={new: ious[name][old] for new, old in picks}.__getitem__)["AP"])
        row = dict(videos=n)
        for name in names:
            row[name], row[f"{name}_std"] = float(np.mean(aps[name])), float(np.std(aps[name], ddof=1))
        if len(names) == 2:
            diff = np.array(aps[names[0]]) - np.array(aps[names[1]])
            row["difference"], row["difference_std"] = float(diff.mean()), float(diff.std(ddof=1))
        rows.append(row)
    return rows
