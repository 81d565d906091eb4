"""The evaluation chapter on the page: Table 2 (the paper's rows beside the measured ones),
its figure, the gain sentence, the split-size sentence and the fidelity rows (from
``results/evaluation.json`` and ``split_size.json``)."""
from .. import paper, roles
from ..studies.fidelity import FIDELITY_PAIRS
from ..studies.stats import by_role, mean_std, paired_difference, percent, summary_rows

TABLE2_COLUMNS = [("mAP", "AP"), ("AP@50", "AP50"), ("AP@75", "AP75"), ("AR@1", "AR1"),
                  ("AR@10", "AR10")]


def format_difference(d, unit=" mAP"):
    """``+1.0 mAP, 95 % interval [-0.5, +2.5] (per seed +2.0, -0.5, +1.5)`` for a
    :func:`paired_difference`."""
    if len(d["seeds"]) == 1:
        return f"{d['mean']:+.1f}{unit} (one seed, no interval)"
    per = ", ".join(f"{x:+.1f}" for x in d["per_seed"])
    return (f"{d['mean']:+.1f}{unit}, 95 % interval [{d['low']:+.1f}, {d['high']:+.1f}] "
            f"(per seed {per})")


def table2_rows(measured, data_name="ToyVIS"):
    """Paper rows (quoted) then measured rows: percent, mean ± std over training seeds."""
    rows = [dict(r, source="paper (YouTube-VIS 2019 val)") for r in paper.TABLE2]
    for r in summary_rows(measured, [k for _, k in TABLE2_COLUMNS], percent):
        rows.append(dict(r, source=f"measured here ({data_name}), {r['seeds']} "
                                   f"seed{'s' if r['seeds'] > 1 else ''}"))
    return rows


def plot_table2(rows):
    """Grouped bars: each Table 2 column, paper rows hatched, measured rows solid with the
    seeds' standard deviation as an error bar."""
    import matplotlib.pyplot as plt
    import numpy as np
    fig, ax = plt.subplots(figsize=(9, 3.6))
    n = len(rows)
    width = 0.8 / n
    x = np.arange(len(TABLE2_COLUMNS))
    for i, r in enumerate(rows):
        quoted = r["source"].startswith("paper")
        err = [r.get(f"{k}_std") or 0.0 for _, k in TABLE2_COLUMNS]
        ax.bar(x + i * width, [r[k] for _, k in TABLE2_COLUMNS], width,
               yerr=None if quoted else err, capsize=2,
               label=f"{r['method']} ({'paper' if quoted else 'here'})",
               hatch="//" if quoted else None, alpha=0.55 if quoted else 0.95)
    ax.set_xticks(x + 0.4 - width / 2, [h for h, _ in TABLE2_COLUMNS])
    ax.set_ylabel("percent")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Table 2: the paper's rows (hatched) beside the rows measured here "
                 "(mean, bar: std over seeds)", fontsize=9)
    fig.tight_layout()
    return fig


def gain_sentence(measured):
    """ObjProp against MaskTrack R-CNN, from the measured rows: means over training seeds,
    the paired per-seed differences with their interval, and what the verdict rule reads."""
    d = paired_difference(measured, roles.OBJPROP, roles.BASELINE)
    if not d:
        return "Both models are needed for a comparison."
    n = len(d["seeds"])
    sd = (lambda v: "" if v is None else f" ± {v:.1f}")
    parts = [f"Over {n} training seed{'s' if n > 1 else ''}, ObjProp scores "
             f"**{d['a_mean']:.1f}{sd(d['a_std'])} mAP** against the baseline's "
             f"**{d['b_mean']:.1f}{sd(d['b_std'])}** (mean ± sample std); paired by seed the "
             f"difference is {format_difference(d)} (the paper: "
             f"{paper.ap('ObjProp') - paper.ap('MaskTrack R-CNN'):+.1f} on YouTube-VIS)."]
    parts.append(verdict_sentence(d))
    f = paired_difference(measured, roles.OBJPROP, roles.OBJPROP_NO_FILL)
    if f:
        filled = mean_std([r["filled_frames"] for r in by_role(measured)[roles.OBJPROP]])[0]
        parts.append(f"Filling missed instances by propagation (same weights, on and off) "
                     f"accounts for {format_difference(f)}, with {filled:.0f} instance-frames "
                     f"filled per run on average.")
    return " ".join(parts)


def verdict_sentence(d, unit=" mAP"):
    """What the verdict rule (:mod:`objprop.studies.verdict`) reads from a paired
    difference: the verdict, and the smallest effect these seeds could have detected."""
    from ..studies.verdict import assess_difference
    if len(d["seeds"]) < 2:
        return ("With one seed there is no interval: run more training seeds before "
                "reading the difference as a gain.")
    a = assess_difference(d["per_seed"])
    where = ("excludes zero" if a["verdict"] in ("reproduced", "contradicted")
             else "includes zero")
    return (f"The interval {where} (verdict: *{a['verdict']}*); with {a['n']} seeds at "
            f"this spread of the differences (± {a['sd']:.1f}) the smallest effect detected "
            f"80 % of the time is {a['detectable']:.1f}{unit}.")


def timing_sentence(t):
    """The interleaved timing (``results/timing.json``) in one sentence."""
    a, b = t["roles"]
    ms = {r: ", ".join(f"{1000 * x:.0f}" for x in t["per_frame"][r]) for r in (a, b)}
    return (f"Time per frame over {t['frames']} frames of {t['videos']} "
            f"video{'s' if t['videos'] > 1 else ''}, {t['rounds']} rounds, "
            f"{t['threads']} thread: {roles.name(a)} {ms[a]} ms, {roles.name(b)} {ms[b]} ms; "
            f"ratio median **{t['median']:.2f}x** (range {t['min']:.2f}-{t['max']:.2f}x).")


def split_size_sentence(rows, names, seed_difference=None, target=1.0):
    """What :func:`bootstrap_ap` says about the split: the spread the split alone puts on
    the paired difference ``names[0] − names[1]`` at each size, against the seeds' spread,
    whether the split's size meets the rule ToyVIS's valid split was sized by (its own
    spread at most half the seeds'; ``objprop/data/toyvis.py``), and the size at which the
    split's share would fall to ``target`` points (extrapolated as 1/√n from the largest
    size measured)."""
    import math
    parts = [f"{r['videos']} videos: ± {r['difference_std']:.1f}" for r in rows]
    last, here = rows[-1], rows[0]
    need = math.ceil(last["videos"] * (last["difference_std"] / target) ** 2)
    text = (f"With the models held fixed, drawing the split alone moves the difference "
            f"{names[0]} − {names[1]} by (std over draws): " + "; ".join(parts) + ". ")
    seed_std = (seed_difference or {}).get("std")
    if seed_std is not None:
        holds = here["difference_std"] <= seed_std / 2
        text += (f"Between training seeds the same difference varies by ± {seed_std:.1f}. "
                 f"The rule the split was sized by, its own spread at most half the seeds' "
                 f"(± {seed_std / 2:.1f}), {'holds' if holds else 'does not hold'} at its "
                 f"{here['videos']} videos (± {here['difference_std']:.1f}). ")
    return text + (f"To bring the split's share under {target:.0f} point a split of about "
                   f"{need} videos is needed.")


RELEASED_INFERENCE_NOTE = (
    "The authors' released inference never propagates a mask: in "
    "`mmdet/models/detectors/two_stage.py` (anirudh-chakravarthy/ObjProp at 34e9957), "
    "lines 441-444 read `if img_meta[0]['video_id'] == 6: pdb.set_trace() else: continue`, "
    "so every propagation is skipped (and video index 6 raises `NameError`: that file "
    "imports no `pdb`). The row *as released* is their model with filling off; *filling as "
    "intended* runs the filling that code would have run.")


def fidelity_rows(measured):
    """One row per fidelity run: Table 2's columns in percent (mean ± std over the seeds it
    ran with), mean filled frames, what it isolates."""
    rows = summary_rows(measured, [k for _, k in TABLE2_COLUMNS], percent)
    filled = {m: mean_std([r.get("filled_frames", 0) for r in recs])[0]
              for m, recs in by_role(measured).items()}
    what = {m["role"]: m.get("what", "") for m in measured}
    for r in rows:
        r.update(what=what[r["role"]], filled=f"{filled[r['role']]:.0f}")
    return rows


def fidelity_sentence(measured):
    """What the fidelity rows isolate, in numbers: the tracker's effect, the thresholds'
    effect and the branch's effect at the same thresholds (paired over common seeds)."""
    parts = []
    for a, b, what in FIDELITY_PAIRS:
        d = paired_difference(measured, a, b)
        if d:
            parts.append(f"{what}: {format_difference(d)}")
    return ("Differences in mAP, paired by training seed: " + "; ".join(parts) + "."
            if parts else "No fidelity runs were measured.")
