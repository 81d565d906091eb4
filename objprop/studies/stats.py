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


def paired_by_video(measured, a, b, key, field="stability"):
    """Role ``a``'s and ``b``'s per-video shares of stability metric ``key``
    (``<field>_by_video``, as :func:`objprop.studies.scoring.score` keeps them) on every
    training seed both have, in the same seed order: ``(seeds, a_shares, b_shares)``; None
    where they share none or a run lacks them (scored before they were kept)."""
    runs = by_role(measured)
    by = f"{field}_by_video"
    ra = {r.get("seed"): r.get(by, {}).get(key) for r in runs.get(a, [])}
    rb = {r.get("seed"): r.get(by, {}).get(key) for r in runs.get(b, [])}
    seeds = [s for s in ra if s in rb and ra[s] and rb[s]]
    return (seeds, [ra[s] for s in seeds], [rb[s] for s in seeds]) if seeds else None


def video_seed_bootstrap(a, b, draws=4000, level=None, seed=0, scale=1.0):
    """The interval of a data effect with both of its sources of variation resampled. ``a``,
    ``b``: per training seed (paired, same order) one metric's ``{"sums", "counts"}`` by
    video (same videos, :func:`objprop.evaluation.stability_metrics` ``by_video``). Each
    draw takes the seeds with replacement and the videos with replacement, the same videos
    for every seed and both sides (the comparison stays paired), and the mean over the
    drawn seeds of ``a``'s average over the drawn videos minus ``b``'s. Returns ``(low,
    high)``, the percentile interval at ``level`` (default the verdict's), times ``scale``;
    a draw whose videos hold none of the metric's cases is left out."""
    import numpy as np
    from .verdict import LEVEL
    level = LEVEL if level is None else level
    rng = np.random.default_rng(seed)
    sa, ca, sb, cb = (np.array([x[k] for x in side], float)
                      for side in (a, b) for k in ("sums", "counts"))
    n_seeds, n_videos = sa.shape
    weights = rng.multinomial(n_videos, np.full(n_videos, 1 / n_videos), size=draws)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = (weights @ sa.T) / (weights @ ca.T) - (weights @ sb.T) / (weights @ cb.T)
    picks = rng.integers(0, n_seeds, (draws, n_seeds))
    d = np.take_along_axis(diff, picks, axis=1).mean(axis=1)
    d = d[np.isfinite(d)]
    q = (1 - level) / 2
    return float(scale * np.quantile(d, q)), float(scale * np.quantile(d, 1 - q))


def data_effect_aa_rates(n_seeds=3, n_videos=40, sims=200, draws=500, video_sd=0.2,
                         seed_sd=0.05, noise_sd=0.1, rng=0):
    """How often each way of deciding a data effect calls an A/A comparison different:
    two runs of the same method on ``n_seeds`` seeds each, scored on the same
    ``n_videos`` (each video has its own difficulty, each seed moves every video, and every
    score its own noise). Returns the share of ``sims`` comparisons called different by the
    videos-and-seeds bootstrap alone (``bootstrap``), the seed interval alone (``seeds``) and
    the rule the claims use, both together (``both``,
    :func:`objprop.studies.verdict.data_effect_verdict`)."""
    import numpy as np
    from .verdict import INCONCLUSIVE, data_effect_verdict, interval_verdict, verdict
    gen = np.random.default_rng(rng)
    hits = dict(bootstrap=0, seeds=0, both=0)
    for i in range(sims):
        difficulty = gen.normal(0.5, video_sd, n_videos)
        sides = [[difficulty + gen.normal(0, seed_sd) + gen.normal(0, noise_sd, n_videos)
                  for _ in range(n_seeds)] for _ in range(2)]
        a, b = ([dict(sums=list(x), counts=[1] * n_videos) for x in side] for side in sides)
        diffs = [float(np.mean(x) - np.mean(y)) for x, y in zip(*sides)]
        data = video_seed_bootstrap(a, b, draws=draws, seed=i)
        hits["bootstrap"] += interval_verdict(*data) != INCONCLUSIVE
        hits["seeds"] += verdict(diffs) != INCONCLUSIVE
        hits["both"] += data_effect_verdict(diffs, data) != INCONCLUSIVE
    return {k: v / sims for k, v in hits.items()}


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
                aps[name].append(videos_ap(gt, pairs[name], ious[name], picks))
        row = dict(videos=n)
        for name in names:
            row[name], row[f"{name}_std"] = float(np.mean(aps[name])), float(np.std(aps[name], ddof=1))
        if len(names) == 2:
            diff = np.array(aps[names[0]]) - np.array(aps[names[1]])
            row["difference"], row["difference_std"] = float(diff.mean()), float(diff.std(ddof=1))
        rows.append(row)
    return rows


def videos_ap(gt, pairs, ious, picks):
    """mAP (percent) of one run on the videos ``picks`` names: ``(id in the draw, video
    id)`` pairs (a video drawn twice stands under two ids), scored from the run's
    :class:`~objprop.evaluation.tracks.VideoPairs` and its video IoUs (``ious``: video id →
    matrix) by the COCOeval matching :func:`~objprop.evaluation.ytvis_evaluate` runs."""
    from ..evaluation.ytvis_eval import evaluate_tracks
    return 100 * evaluate_tracks(
        gt, {new: pairs.gt_by_video[old] for new, old in picks},
        {new: pairs.dt_by_video[old] for new, old in picks}, per_category=False,
        video_iou={new: ious[old] for new, old in picks}.__getitem__)["AP"]
