"""The variance study (``results/variance.json``, `make variance`) as the claims chapter shows
it: each source's share of the central comparison's spread, and what it costs to narrow."""
from ..tables import markdown_table

FACTOR_COLUMNS = [("runs or videos", "size"), ("std of the paired difference", "diff_std"),
                  ("ObjProp's own std", "objprop_std"),
                  ("MaskTrack R-CNN's own std", "baseline_std")]


def factor_table(out):
    """One row per source: how much the paired difference (and each side) moves when only
    that source moves; the split's rows at each resampled size."""
    from ..studies.variance import FACTORS
    rows = [dict(f, source=FACTORS[f["factor"]], size=f"{f['runs']} runs")
            for f in out["factors"]]
    rows += [dict(v, source="which videos the split holds (models fixed)",
                  size=f"{v['videos']} videos") for v in out["videos"]]
    return markdown_table(rows, FACTOR_COLUMNS, first=("source varied alone", "source"),
                          extra=(), digits=2)


def largest(out):
    """The source with the largest std of the paired difference (the split at the valid
    split's size counts as one source), or None."""
    rows = [f for f in out["factors"] if f["factor"] != "all"]
    rows += [v for v in out["videos"] if v["videos"] == max(x["videos"] for x in out["videos"])]
    return max(rows, key=lambda r: r["diff_std"]) if rows else None


def seed_plan(sd, seeds=range(3, 11)):
    """Rows: a number of seeds and the smallest effect it detects at spread ``sd``
    (:func:`objprop.studies.verdict.detectable_effect`)."""
    from ..studies.verdict import detectable_effect
    return [dict(seeds=n, detectable=detectable_effect(sd, n)) for n in seeds]


def plan_sentence(sd, minutes_per_seed=None, label="this spread"):
    """How many seeds reach the target smallest detectable effect at spread ``sd``, and
    what they cost at ``minutes_per_seed`` (the training chapter's time per seed)."""
    from ..studies.verdict import POWER_TEXT, TARGET_DETECTABLE, detectable_effect, seeds_needed
    n = seeds_needed(TARGET_DETECTABLE, sd)
    if n is None:
        return (f"At {label} (std {sd:.2f} mAP) no number of seeds up to the book's limit "
                f"detects {TARGET_DETECTABLE:.1f} mAP.")
    cost = ("" if minutes_per_seed is None else
            f", about {n * minutes_per_seed:.0f} min of training at "
            f"{minutes_per_seed:.1f} min per seed")
    return (f"At {label} (std {sd:.2f} mAP) {n} seeds detect {TARGET_DETECTABLE:.1f} mAP "
            f"with {POWER_TEXT} power (smallest detectable effect "
            f"{detectable_effect(sd, n):.2f}{cost}).")


def minutes_per_seed(results_dir="results"):
    """The training chapter's minutes per training seed in the last whole book run
    (``results/book_timings.json``), less the pretraining when that chapter made it
    (``results/pretrain.json`` not reused: it is paid once per machine, not per seed), or
    None before one."""
    import json
    from pathlib import Path
    path = Path(results_dir) / "book_timings.json"
    if not path.is_file():
        return None
    t = json.loads(path.read_text())
    train, seeds = t.get("chapters", {}).get("train"), t.get("seeds") or []
    if not (train and seeds):
        return None
    pretrain = Path(results_dir) / "pretrain.json"
    if pretrain.is_file():
        record = json.loads(pretrain.read_text())
        if not record.get("reused"):
            train -= record.get("seconds") or 0
    return train / 60 / len(seeds)


def variance_sentence(out):
    """The decomposition in one sentence (the README's line): each source's std of the
    paired difference, the largest named."""
    parts = [f"{f['factor']} {f['diff_std']:.2f}" for f in out["factors"]]
    parts += [f"videos ({v['videos']}) {v['diff_std']:.2f}" for v in out["videos"]]
    top = largest(out)
    return (f"What moves the central comparison (`make variance`: one source varied at a time "
            f"from seed 0, {out['split']} split; std of ObjProp − MaskTrack R-CNN in mAP, "
            f"claims chapter): " + ", ".join(parts)
            + ("" if top is None else f"; the largest single source: {top['factor']}") + ".")
