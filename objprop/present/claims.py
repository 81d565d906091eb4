"""The claims chapter on the page: each of the paper's claims, the evidence this book
measured (read from the studies' JSON), a verdict by rule, and the forest plot of them.

As reproducibility reports do (the ML Reproducibility Challenge's format), each claim of the
paper is stated, the book's evidence for it is read from ``results/*.json``, and the verdict
follows from the numbers by one stated rule (:data:`RULE`, computed by
:mod:`objprop.studies.verdict`), never by hand: a paired difference over training seeds with
its 95 % interval, *reproduced* or *contradicted* when the interval excludes zero on the
paper's side or the other, *smaller than claimed* when it lies wholly below the paper's
effect (the equivalence reading), *inconclusive at this budget* when it includes zero and the
paper's effect (with the smallest effect the seeds could have detected, and the seeds that
would detect the paper's effect). A single-model study (the oracle table) is judged by the paper's ordering; the
overhead by repeated, interleaved timings (``results/timing.json``).
"""
from pathlib import Path

from .. import roles
from ..errors import ObjPropError
from ..paper import TABLE1 as PAPER_TABLE1
from ..studies import verdict as rule
from ..studies.oracle import added_gains
from ..studies.scoring import STABILITY_SCORE_THR
from ..studies.stats import (in_points, paired_by_video, paired_difference,
                             video_seed_bootstrap)
from ..studies.store import load_json
from ..tables import markdown_table

VERDICTS = rule.VERDICTS
OVERHEAD_LIMIT = 1.25  # "limited computational overhead": at most 25 % more time per frame
RULE = (f"**reproduced**: the {rule.LEVEL_TEXT} interval of the mean paired difference over training "
        f"seeds (Student t) excludes zero on the paper's side and reaches the paper's "
        f"effect where the paper claims one of a size; **smaller than claimed**: the "
        f"interval lies wholly below the paper's effect (scaled to this book's baseline by "
        f"the paper's relative gain), the equivalence reading of Lakens et al. (2018): a "
        f"one-sided test against the paper's effect at the interval's level, which rules the "
        f"claimed size out, and the verdict says whether the interval also excludes zero; "
        f"**contradicted**: it excludes zero on the other side; **inconclusive at this "
        f"budget**: it includes zero and the paper's effect (one "
        f"seed gives no interval), and the table says the smallest effect the seeds could "
        f"have detected ({rule.POWER_TEXT} power at the measured spread of the differences) and how many "
        f"seeds would detect the paper's effect. A data effect (temporal stability, "
        f"filling) is reproduced or contradicted only where a second interval agrees, a "
        f"bootstrap that resamples the videos and the seeds together (the same videos for "
        f"both sides): the seed interval alone holds the split fixed, and the bootstrap "
        f"alone, with three seeds, calls A/A comparisons different too often (the chapter "
        f"measures both); **untestable here**: it needs data or runs "
        f"this book does not have. The single-model oracle study is judged by the paper's "
        f"ordering. Overhead: reproduced when every one of the interleaved timing rounds "
        f"is at most {OVERHEAD_LIMIT:.2f}x the baseline's time per frame, contradicted when "
        f"none is.")

STABILITY_KEYS = (("missed_frames", "missed frames", "fewer missed frames"),
                  ("flicker", "flicker", "less flicker"),
                  ("fragmentation", "fragmentation", "less fragmentation"))


def _load(results_dir, name):
    path = Path(results_dir) / f"{name}.json"
    if not path.is_file():
        return None
    return load_json(path)


def _stab(run, key, field="stability"):
    v = run.get(field, {}).get(key)
    return None if v is None else float(v)


def _stab_confident(run, key):
    """A stability metric on the results scoring at least ``STABILITY_SCORE_THR``."""
    return _stab(run, key, "stability_at_score")


def _defined(d):
    return None if d is None or any(v is None for v in d["per_seed"]) else d


def _interval_text(t, unit, digits=1):
    f = f"{{:+.{digits}f}}"
    if t["low"] is None:
        return f"{f.format(t['mean'])}{unit} (one seed)"
    return (f"{f.format(t['mean'])}{unit} [{f.format(t['low'])}, {f.format(t['high'])}]")


def _data_interval(measured, a, b, key, field, scale=1.0):
    """The interval of a data effect over videos and seeds resampled
    (:func:`objprop.studies.stats.video_seed_bootstrap`), None without per-video shares."""
    shares = paired_by_video(measured, a, b, key, field)
    return None if shares is None else video_seed_bootstrap(shares[1], shares[2],
                                                            scale=scale)


def _paired_row(claim, paper, chapter, d, unit, label, direction=+1, paper_effect=None,
                digits=1, describe="", data=None):
    """A claim judged by the paired rule on ``d`` (a paired difference, or None). ``data``:
    for a data effect, its interval with videos and seeds resampled, which must agree
    (:func:`objprop.studies.verdict.data_effect_verdict`)."""
    row = dict(claim=claim, paper=paper, chapter=chapter, label=label, unit=unit.strip())
    if d is None:
        return dict(row, evidence="not measured", difference="—", seeds=0,
                    verdict=rule.UNTESTABLE)
    t = rule.assess_difference(d["per_seed"], direction, paper_effect)
    t.update(direction=direction, unit=unit.strip())
    if data is not None:
        t.update(data_low=data[0], data_high=data[1],
                 verdict=rule.data_effect_verdict(d["per_seed"], data, direction))
    evidence = describe + ", ".join(f"{x:+.{digits}f}" for x in d["per_seed"])
    if t["verdict"] == rule.SMALLER:
        evidence += (f"; the interval lies below the paper's effect ({paper_effect:+.{digits}f}"
                     f"{unit} here) and " + ("also excludes zero" if t["excludes_zero"]
                                             else "includes zero"))
    if t["verdict"] == rule.INCONCLUSIVE and t["detectable"] is not None:
        evidence += (f"; detectable at {rule.POWER_TEXT} power: {t['detectable']:.{digits}f}{unit}")
        if paper_effect:
            need = t["seeds_for_paper"]
            evidence += (f"; the paper's effect ({paper_effect:+.{digits}f}{unit} here) needs "
                         + (f"{need} seeds" if need else f"more than {rule.MAX_SEEDS} seeds"))
    difference = _interval_text(t, unit, digits)
    if data is not None:
        f = f"{{:+.{digits}f}}"
        difference += f"; videos and seeds resampled [{f.format(data[0])}, {f.format(data[1])}]"
    return dict(row, evidence=evidence, difference=difference,
                seeds=len(d["seeds"]), verdict=t["verdict"], test=t,
                reading=_reading(t))


def _reading(t):
    """What a *smaller than claimed* verdict adds: whether zero is ruled out too."""
    if t["verdict"] != rule.SMALLER:
        return ""
    return "above zero" if t["excludes_zero"] else "zero not excluded"


def assess(results_dir="results"):
    """One row per claim: ``claim``, ``paper`` (what the paper reports), ``evidence`` (what
    this book measured), ``difference`` (mean [95 % interval]), ``chapter``, ``seeds``,
    ``verdict``; a row judged by the paired rule carries its numbers under ``test``."""
    from ..paper import ap, scaled_gain
    objprop, baseline = ap("ObjProp"), ap("MaskTrack R-CNN")
    ev, oracle = _load(results_dir, "evaluation"), _load(results_dir, "oracle")
    measured = ev["methods"] if ev else []
    rows = []

    d = paired_difference(measured, roles.OBJPROP, roles.BASELINE) if ev else None
    # the paper's effect, relative to its baseline, on this book's baseline
    scaled = None if d is None else scaled_gain(d["b_mean"])
    rows.append(_paired_row(
        "ObjProp outperforms MaskTrack R-CNN in mAP",
        f"{objprop - baseline:+.1f} mAP ({objprop} vs {baseline}, YouTube-VIS 2019 val, "
        f"Table 2; {100 * (objprop / baseline - 1):+.0f} % relative)", "Evaluation", d,
        " mAP", "mAP: ObjProp − MaskTrack R-CNN", paper_effect=scaled,
        describe="ObjProp − MaskTrack R-CNN, equal training budget, by seed: "))

    fidelity = ev.get("fidelity", []) if ev else []
    d = paired_difference(fidelity, roles.AUTHORS_RELEASED, roles.CONTINUED_AUTHORS_TEST) \
        if fidelity else None
    rows.append(_paired_row(
        "ObjProp as the authors released it outperforms MaskTrack R-CNN at equal budget",
        f"{objprop - baseline:+.1f} mAP (Table 2; their code, configs/"
        f"masktrack_rcnn_r50_fpn_1x_youtubevos_objprop.py, trains on their MaskTrack R-CNN)",
        "Evaluation (fidelity)", d, " mAP",
        "mAP: authors' code − MaskTrack R-CNN trained on (equal budget)",
        paper_effect=None if d is None else scaled_gain(d["b_mean"]),
        describe="the authors' preset (as released) − MaskTrack R-CNN trained on from the same "
        "checkpoint for the same iterations, both at the authors' test settings, by seed: "))

    rows.append(_oracle_row(oracle))

    for key, name, claim in STABILITY_KEYS:
        d = _defined(paired_difference(measured, roles.OBJPROP, roles.BASELINE, key=key,
                                       value=_stab_confident)) if ev else None
        rows.append(_paired_row(
            f"Propagation makes tracks temporally stable: {claim}",
            "qualitative: Figures 1 and 4", "Temporal stability", d, "",
            f"{name}: ObjProp − MaskTrack R-CNN", direction=-1, digits=3,
            data=d and _data_interval(measured, roles.OBJPROP, roles.BASELINE, key,
                                      "stability_at_score"),
            describe=f"results scoring ≥ {STABILITY_SCORE_THR}, "
            + (f"{d['b_mean']:.3f} → {d['a_mean']:.3f}, " if d else "") + "by seed: "))

    d = _defined(paired_difference(measured, roles.OBJPROP, roles.OBJPROP_NO_FILL,
                                   key="recall_hard_frames", value=_stab)) if ev else None
    rows.append(_paired_row(
        "Filling recovers instances the detector misses",
        "qualitative (Sec. 2.2 *Inference*, Figure 4)", "Propagation, Temporal stability",
        in_points(d) if d else None, " points", "hard-frame recall: filling on − off",
        data=d and _data_interval(measured, roles.OBJPROP, roles.OBJPROP_NO_FILL,
                                  "recall_hard_frames", "stability", scale=100),
        describe="hard-frame recall, filling on − off (same weights), by seed: "))

    rows.append(_overhead_row(_load(results_dir, "timing")))

    rows.append(dict(
        claim=f"{objprop} mAP on YouTube-VIS 2019 val with ResNet-50", paper="Table 2",
        chapter="—", evidence="needs YouTube-VIS and a GPU schedule; ToyVIS numbers are not "
        "comparable", difference="—", seeds=0, verdict=rule.UNTESTABLE))
    return rows


def _overhead_row(timing):
    row = dict(claim="Limited computational overhead at inference",
               paper="stated, not measured (Conclusion)", chapter="Evaluation", seeds=1,
               label="time per frame: ObjProp / MaskTrack R-CNN")
    if not timing:
        return dict(row, evidence="not measured", difference="—", seeds=0,
                    verdict=rule.UNTESTABLE)
    a, b = timing["roles"]
    ms = {r: 1000 * sorted(v)[len(v) // 2] for r, v in timing["per_frame"].items()}
    return dict(row, verdict=rule.timing_verdict(timing["ratios"], OVERHEAD_LIMIT),
                ratio=dict(median=timing["median"], low=timing["min"], high=timing["max"],
                           limit=OVERHEAD_LIMIT),
                difference=f"{timing['median']:.2f}x [{timing['min']:.2f}, "
                f"{timing['max']:.2f}]",
                evidence=f"time per frame, median of {timing['rounds']} interleaved rounds "
                f"(range in brackets), {timing['threads']} thread, {timing['frames']} frames: "
                f"{ms[a]:.0f} vs {ms[b]:.0f} ms (CPU, first seed's models); limit "
                f"{OVERHEAD_LIMIT:.2f}x")


def _oracle_row(oracle):
    row = dict(claim="Masks limit MaskTrack R-CNN most (the mask oracle adds the most)",
               paper="", chapter="The oracle study", seeds=1 if oracle else 0)
    paper = max(added_gains(PAPER_TABLE1), key=lambda a: a[1])
    row["paper"] = f"+{paper[1]:.1f} mAP from the {paper[0]} oracle (Table 1)"
    if not oracle:
        return dict(row, evidence="not measured", difference="—", verdict=rule.UNTESTABLE)
    added = added_gains(oracle)
    label, gain, _ = max(added, key=lambda a: a[1])
    mask = next((a for a in added if a[0] == "mask"), None)
    if mask is None:
        return dict(row, evidence="no mask oracle row", difference="—",
                    verdict=rule.UNTESTABLE)
    evidence = ("gains: " + ", ".join(f"{a[0]} {a[1]:+.1f}" for a in added)
                + " (one model, the first seed's: judged by the paper's ordering)")
    return dict(row, evidence=evidence, difference=f"mask oracle {mask[1]:+.1f} mAP",
                verdict=rule.REPRODUCED if label == "mask" else rule.CONTRADICTED)


CLAIM_COLUMNS = [(f"Difference [{rule.LEVEL_TEXT} interval]", "difference"), ("Seeds", "seeds"),
                 ("Verdict", "verdict")]


def claims_table(rows):
    """The claims as a narrow markdown table (claim, difference with its interval, seeds,
    verdict in bold); the evidence and the paper's figure go to :func:`evidence_list`."""
    shown = [dict(r, verdict=verdict_text(r, "**{}**"), seeds=str(r["seeds"])) for r in rows]
    return markdown_table(shown, CLAIM_COLUMNS, first=("Claim", "claim"), extra=())


def evidence_list(rows):
    """Each claim's evidence as a markdown list: the paper's figure, what was measured,
    in which chapter."""
    return "\n".join(f"{i}. *{r['claim']}*. The paper: {r['paper']}. Here "
                     f"({r['chapter']}): {r['evidence']}."
                     for i, r in enumerate(rows, 1))


def error_rates_table(rows, draws=4000):
    """How often each verdict of the central claim's rule is wrong, by simulation
    (:func:`objprop.studies.verdict.verdict_rates`) at that row's seeds and measured spread
    of the differences: the true effect zero, then the paper's (scaled) effect. None where
    the row has no interval or no claimed size."""
    t = rows[0].get("test") if rows else None
    if not t or t["sd"] is None or not t.get("paper_effect"):
        return None
    table = []
    for name, effect in (("zero", 0.0), ("the paper's", t["paper_effect"])):
        rates = rule.verdict_rates(effect, t["sd"], t["n"], t["paper_effect"], draws=draws)
        table.append(dict(truth=f"{name} ({effect:+.1f}{t['unit'] and ' ' + t['unit']})",
                          **{k: f"{100 * x:.1f} %" for k, x in rates.items()}))
    columns = [(k, k) for k in rule.VERDICTS if k != rule.UNTESTABLE]
    return markdown_table(table, columns, first=("True effect", "truth"), extra=())


# the figure's size and resolution: about the width of the book's column (770 px at 1400),
# so the page shows it near 1:1 and its smallest text (FOREST_LABEL_PT - 1) stays above 9 pt
FOREST_WIDTH_IN, FOREST_DPI = 7.6, 100
FOREST_LABEL_PT = 12
VERDICT_COLORS = {rule.REPRODUCED: "tab:green", rule.SMALLER: "tab:orange",
                  rule.CONTRADICTED: "tab:red", rule.INCONCLUSIVE: "tab:gray"}


def verdict_text(row, style="{}"):
    """A row's verdict as pages say it (``style`` wraps the verdict itself, e.g. bold),
    with what *smaller than claimed* adds."""
    return style.format(row["verdict"]) + (f" ({row['reading']})" if row.get("reading") else "")


def forest_rows(rows):
    """The rows the forest plot draws (a measured interval or timing), each as (label,
    verdict, the verdict as said, mean, low, high, reference, paper's value, data interval
    or None)."""
    out = []
    for r in rows:
        if "test" in r:
            t = r["test"]
            data = (t["data_low"], t["data_high"]) if t.get("data_low") is not None else None
            out.append((r["label"], r["verdict"], verdict_text(r), t["mean"], t["low"],
                        t["high"], 0.0, t.get("paper_effect"), data))
        elif "ratio" in r:
            q = r["ratio"]
            out.append((r["label"], r["verdict"], verdict_text(r), q["median"], q["low"],
                        q["high"], 1.0, q["limit"], None))
    return out


def plot_forest(rows):
    """The forest plot of the verdicts: one row per measured claim, its paired difference
    (dot) with its 95 % interval (thick line), on the row's own axis (units differ), no
    effect marked (black line) and the paper's effect or limit (blue dashes) where the
    paper gives one; data effects add the interval with videos and seeds resampled (thin
    line below). The claim and its verdict label each row at :data:`FOREST_LABEL_PT`."""
    import textwrap

    import matplotlib.pyplot as plt
    shown = forest_rows(rows)
    height = 1.2 * len(shown) + 1.0
    fig, axes = plt.subplots(len(shown), 1, figsize=(FOREST_WIDTH_IN, height),
                             dpi=FOREST_DPI, squeeze=False)
    small = FOREST_LABEL_PT - 1
    for ax, (label, verdict, said, mid, low, high, ref, paper, data) in zip(axes[:, 0], shown):
        color = VERDICT_COLORS.get(verdict, "black")
        if low is not None:
            ax.plot([low, high], [0, 0], color=color, lw=5, solid_capstyle="butt")
        if data is not None:
            ax.plot(list(data), [-0.45, -0.45], color=color, lw=1.5)
        ax.plot([mid], [0], "o", color=color, ms=8, mec="black", mew=0.6)
        ax.axvline(ref, color="black", lw=1.2)
        if paper is not None:
            ax.axvline(paper, color="tab:blue", ls="--", lw=1.5)
        ax.set_ylim(-0.8, 0.5)
        ax.set_yticks([])
        ax.set_ylabel("\n".join(textwrap.wrap(label, 24)), rotation=0, ha="right",
                      va="center", fontsize=small, labelpad=8)
        ax.set_title(said, loc="right", color=color, fontweight="bold",
                     fontsize=FOREST_LABEL_PT, pad=2)
        ax.tick_params(labelsize=small)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        span = [v for v in (low, high, mid, ref, paper, *(data or ())) if v is not None]
        pad = 0.12 * (max(span) - min(span) or 1.0)
        ax.set_xlim(min(span) - pad, max(span) + pad)
    fig.suptitle(f"Mean paired difference (dot), {rule.LEVEL_TEXT} interval over seeds (thick),\n"
                 f"videos and seeds resampled (thin, data effects); black: no effect,\n"
                 f"blue dashes: the paper's effect or limit", fontsize=small)
    fig.subplots_adjust(left=0.34, right=0.97, top=1 - 1.0 / height, bottom=0.35 / height,
                        hspace=1.0)
    return fig


def require_results(results_dir):
    """The claims chapter reads what the others wrote: refuse, in one line, without it."""
    if not (Path(results_dir) / "evaluation.json").is_file():
        raise ObjPropError("no evaluation results: run the evaluation chapter first",
                           path=Path(results_dir) / "evaluation.json")
