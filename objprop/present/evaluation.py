"""The evaluation chapter on the page: Table 2 (the paper's rows beside the measured ones, each
with its training budget),
its figure, the gain sentence, the split-size sentence, the fidelity rows (from
``results/evaluation.json`` and ``split_size.json``), the budget curve (``budget.json``) and
the attribution of the authors' preset (``ablation.json``)."""
from .. import paper, roles
from ..studies.budget import MULTIPLES
from ..studies.fidelity import FIDELITY_PAIRS
from ..studies.verdict import (CONTRADICTED, INCONCLUSIVE, LEVEL_TEXT, POWER_TEXT,
                               REPRODUCED, UNTESTABLE)
from ..studies.stats import by_role, mean_std, paired_difference, percent, summary_rows

TABLE2_COLUMNS = [("mAP", "AP"), ("AP@50", "AP50"), ("AP@75", "AP75"), ("AR@1", "AR1"),
                  ("AR@10", "AR10")]
# every measured row says what training its weights had (equal budgets, or labelled not)
BUDGET_COLUMN = ("training (iterations × batch)", "budget")
TABLE2_EXTRA = (("Source", "source"), BUDGET_COLUMN)


def budget_text(budget):
    """``400 × 2``, or ``400 × 2 after MaskTrack R-CNN's 400 × 2`` for weights trained on
    from another run's checkpoint (:func:`objprop.studies.store.training_budget`)."""
    if not budget:
        return "—"
    own = f"{budget['iters']} × {budget['batch']}"
    start = budget.get("start")
    return own if not start else f"{own} after {roles.name(start['role'])}'s {budget_text(start)}"


def _with_budgets(rows, measured):
    first = {}
    for run in measured:
        first.setdefault(run["role"], run)
    for r in rows:
        if r.get("role") in first:
            r["budget"] = budget_text(first[r["role"]].get("budget"))
    return rows


def format_difference(d, unit=" mAP"):
    """``+1.0 mAP, 95 % interval [-0.5, +2.5] (per seed +2.0, -0.5, +1.5)`` for a
    :func:`paired_difference`."""
    if len(d["seeds"]) == 1:
        return f"{d['mean']:+.1f}{unit} (one seed, no interval)"
    per = ", ".join(f"{x:+.1f}" for x in d["per_seed"])
    return (f"{d['mean']:+.1f}{unit}, {LEVEL_TEXT} interval [{d['low']:+.1f}, {d['high']:+.1f}] "
            f"(per seed {per})")


def table2_rows(measured, data_name="ToyVIS"):
    """Paper rows (quoted) then measured rows: percent, mean ± std over training seeds."""
    rows = [dict(r, source="paper (YouTube-VIS 2019 val)", budget="paper's schedule")
            for r in paper.TABLE2]
    for r in summary_rows(measured, [k for _, k in TABLE2_COLUMNS], percent):
        rows.append(dict(r, source=f"measured here ({data_name}), {r['seeds']} "
                                   f"seed{'s' if r['seeds'] > 1 else ''}"))
    return _with_budgets(rows, measured)


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
    parts.append(verdict_sentence(d, paper_effect=paper.scaled_gain(d["b_mean"])))
    f = paired_difference(measured, roles.OBJPROP, roles.OBJPROP_NO_FILL)
    if f:
        filled = mean_std([r["filled_frames"] for r in by_role(measured)[roles.OBJPROP]])[0]
        parts.append(f"Filling missed instances by propagation (same weights, on and off) "
                     f"accounts for {format_difference(f)}, with {filled:.0f} instance-frames "
                     f"filled per run on average.")
    return " ".join(parts)


def verdict_sentence(d, unit=" mAP", paper_effect=None):
    """What the verdict rule (:mod:`objprop.studies.verdict`) reads from a paired
    difference: the verdict (against ``paper_effect`` too, the paper's effect in the same
    unit, where given), and the smallest effect these seeds could have detected."""
    from ..studies.verdict import SMALLER, assess_difference
    if len(d["seeds"]) < 2:
        return ("With one seed there is no interval: run more training seeds before "
                "reading the difference as a gain.")
    a = assess_difference(d["per_seed"], paper_effect=paper_effect)
    where = "excludes zero" if a["excludes_zero"] else "includes zero"
    if a["verdict"] == SMALLER:
        where += f" and lies below the paper's effect ({paper_effect:+.1f}{unit} here)"
    return (f"The interval {where} (verdict: *{a['verdict']}*); with {a['n']} seeds at "
            f"this spread of the differences (± {a['sd']:.1f}) the smallest effect detected "
            f"{POWER_TEXT} of the time is {a['detectable']:.1f}{unit}.")


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
    return _with_budgets(rows, measured)


def fidelity_sentence(measured):
    """What the fidelity rows isolate, in numbers: the tracker's effect, the thresholds'
    effect, the authors' preset against its equal-budget control and the branch's effect
    (paired over common seeds); a comparison of unequal training budgets says so."""
    parts = []
    for a, b, what, equal in FIDELITY_PAIRS:
        d = paired_difference(measured, a, b)
        if d:
            parts.append(f"{what}: {format_difference(d)}")
    return ("Differences in mAP, paired by training seed: " + "; ".join(parts) + "."
            if parts else "No fidelity runs were measured.")


BUDGET_COLUMNS = [("iterations", "iters"), ("mAP (tune split)", "AP"),
                  (f"gain over MaskTrack R-CNN at an equal budget [{LEVEL_TEXT} interval]",
                   "gain_text"),
                  ("branch IoU easy / hard", "branch"), ("detector IoU easy / hard", "detector")]
NO_BUDGET = ("The budget curve has not been measured here: `make budget` trains each method at "
             + ", ".join(f"{k}×" for k in MULTIPLES) + " this book's iterations and scores "
             "them on the tuning split (`results/budget.json`; hours on two cores), and this "
             "section then shows it.")


def budget_rows(budget):
    """One row per (method, length) of ``results/budget.json``'s curve."""
    rows = []
    for p in budget["points"]:
        row = dict(p, source="seeds " + ", ".join(str(s) for s in p["seeds"]))
        row["gain_text"] = ("" if p["role"] == roles.BASELINE else
                            f"— (no baseline run of {p['gain_vs_iters']} iterations)"
                            if p.get("gain") is None else
                            f"{p['gain']:+.1f}" + ("" if p.get("gain_low") is None else
                                                   f" [{p['gain_low']:+.1f}, "
                                                   f"{p['gain_high']:+.1f}]")
                            + ("" if p.get("gain_vs_iters", p["iters"]) == p["iters"] else
                               f" (against its {p['gain_vs_iters']} iterations: the "
                               f"preset's {p['iters']} come after as many of the baseline's)"))
        for side in ("branch", "detector"):
            easy, hard = p.get(f"{side}_iou_easy"), p.get(f"{side}_iou_hard")
            row[side] = "" if easy is None else f"{easy:.2f} / " + (
                "—" if hard is None else f"{hard:.2f}")
        rows.append(row)
    return rows


def plot_budget(budget):
    """mAP against iterations (log scale, mean ± std over seeds) per method, and the
    branch's IoU beside the detector's for the models that have a branch."""
    import matplotlib.pyplot as plt
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6))
    by = {}
    for p in budget["points"]:
        by.setdefault(p["role"], []).append(p)
    for role, pts in by.items():
        ax.errorbar([p["iters"] for p in pts], [p["AP"] for p in pts],
                    yerr=[p["AP_std"] or 0.0 for p in pts], marker="o", capsize=3,
                    label=roles.name(role))
        if any("branch_iou_easy" in p for p in pts):
            for kind, style in (("easy", "-"), ("hard", "--")):
                bx.plot([p["iters"] for p in pts], [p.get(f"branch_iou_{kind}") for p in pts],
                        style, marker="o", label=f"{roles.name(role)} branch, {kind}")
    det = by.get(roles.OBJPROP, [])
    for kind, style in (("easy", "-"), ("hard", "--")):
        if det and det[0].get(f"detector_iou_{kind}") is not None:
            bx.plot([p["iters"] for p in det], [p.get(f"detector_iou_{kind}") for p in det],
                    style, color="black", marker="s", label=f"ObjProp's detector, {kind}")
    for a in (ax, bx):
        a.set_xscale("log", base=2)
        a.set_xlabel("training iterations")
        a.legend(fontsize=7)
    ax.set_ylabel("mAP, tune split (mean ± std over seeds)")
    bx.set_ylabel("mean mask IoU (δ = 1, box from the ground truth)")
    fig.tight_layout()
    return fig


def budget_sentence(budget, book_iters=None):
    """Where the baseline's curve flattens by the plateau rule, and how far from it the
    book's length is."""
    p = budget["plateau"]
    steps = "; ".join(f"{s['iters']} → {2 * s['iters']}: {s['moved']:+.1f} mAP against a seed "
                      f"spread of ± {s['spread']:.1f}" for s in p["steps"]
                      if s["spread"] is not None)
    text = (f"Doubling MaskTrack R-CNN's training moved its mean mAP on the tune split by: "
            f"{steps}. ")
    book_iters = book_iters or budget["base_iters"]
    if p["length"] is None:
        text += (f"By the plateau rule (doubling moves the baseline by less than its "
                 f"seed spread) the curve has not flattened within "
                 f"{max(budget['multiples']) * budget['base_iters']} iterations: the "
                 f"book's {book_iters} are short of the plateau, and its verdicts hold "
                 f"for models still improving.")
    else:
        at = p["length"] * budget["base_iters"]
        text += (f"By the plateau rule it flattens at {at} iterations; the book trains "
                 f"{book_iters}" + (" (on the plateau)." if book_iters >= at else
                                    f", {at / book_iters:.0f}x short of it."))
    return text + _gains_along_the_curve(budget.get("points", []))


def _gains_along_the_curve(points):
    """What the curve says beyond the book's length: each method's paired gain over the
    baseline at an equal budget, length by length."""
    by_role = {}
    for q in points:
        if q.get("gain") is not None:
            by_role.setdefault(q["role"], []).append(q)
    parts = []
    for role, qs in by_role.items():
        gains = ", ".join(
            f"{q['iters']} it {q['gain']:+.1f}"
            + ("" if q.get("gain_low") is None else
               f" [{q['gain_low']:+.1f}, {q['gain_high']:+.1f}]") for q in qs)
        parts.append(f"{roles.name(role)} {gains}")
    if not parts:
        return ""
    return (f" Along the curve, each method's paired gain over {roles.name(roles.BASELINE)} "
            f"at an equal budget (mean [{LEVEL_TEXT} interval] over seeds): "
            + "; ".join(parts) + ".")


ABLATION_COLUMNS = [("left out of the preset", "name"), ("acts at", "when"),
                    (f"its contribution: as released − without it [{LEVEL_TEXT} interval]",
                     "contribution_text"), ("verdict", "verdict")]
NO_ABLATION = ("Which of the authors' choices carry their preset's gain has not been measured "
               "here: `make ablation` leaves each out in turn (retrained from the same "
               "baseline checkpoint, or re-scored where it acts at test time) on the book's "
               "seeds and scores them on the tuning split (`results/ablation.json`), and this "
               "section then shows it.")


# what a choice's paired verdict (released − without it) says about that choice
ABLATION_VERDICTS = {REPRODUCED: "carries part of the gain",
                     CONTRADICTED: "the preset scores higher without it",
                     INCONCLUSIVE: "no effect these seeds can detect",
                     UNTESTABLE: "not measured"}


def ablation_rows(ablation):
    """One row per choice of ``results/ablation.json``."""
    rows = []
    for c in ablation["choices"]:
        d = c.get("contribution")
        rows.append(dict(name=c["name"], when="training" if c["when"] == "train" else "test",
                         contribution_text=("same in both configs: nothing to leave out"
                                            if d is None else format_difference(d)),
                         verdict="" if d is None else ABLATION_VERDICTS[d["verdict"]]))
    return rows


def recipe_sentence(ablation):
    """The authors' recipe told from their design (``ablation['recipe']``): the paper's
    ObjProp fine-tuned from the baseline against the control, and the preset against it;
    empty for an ablation file written before the study measured it."""
    recipe = ablation.get("recipe") or {}
    if not any(recipe.values()):
        return ""
    parts = []
    if recipe.get("recipe"):
        parts.append("the paper's ObjProp fine-tuned from the baseline's checkpoint for the "
                     "preset's iterations (the authors' recipe, the paper's design) against "
                     "the control: " + format_difference(recipe["recipe"]))
    if recipe.get("design"):
        parts.append("the preset against that run, at the same test thresholds (their head "
                     "and their filling as released, same recipe and budget): "
                     + format_difference(recipe["design"]))
    return "Recipe and design, on the tuning split: " + "; ".join(parts) + "."


def ablation_sentence(ablation):
    """The gap being attributed (the preset against its equal-budget control on the tuning
    split, at both test settings), and whether the study went on."""
    parts = [f"at the {where}: {format_difference(d)}" for where, d in ablation["gap"].items()
             if d]
    text = ("On the tuning split, the authors' preset as released against its equal-budget "
            "control: " + "; ".join(parts) + ". ")
    if not ablation["choices"]:
        return text + ("It beats the control at neither test setting, so there is no gain to "
                       "attribute and no choice was left out.")
    carry = [c["name"] for c in ablation["choices"] if c.get("contribution")
             and c["contribution"]["verdict"] == REPRODUCED]
    return text + ("A choice carries part of the gain where the preset without it scores "
                   "lower across the whole interval: " + (
                       ", ".join(carry) if carry else "none does at these seeds") + ".")
