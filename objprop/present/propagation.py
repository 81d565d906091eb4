"""The propagation chapter on the page: the branch's figures, the IoU-against-δ table, the
filling study's tables and sentences, the branch variants' table and sentence (from the
JSON the studies in :mod:`objprop.studies.branch`, ``.filling`` and ``.variants`` wrote)."""
import numpy as np

from .. import roles
from ..evaluation.funnel import STAGES
from ..studies.stats import by_role, mean_std, paired_difference, summary_rows
from ..tables import markdown_table
from .evaluation import format_difference


def plot_ious_by_delta(rows):
    """Mean propagated IoU against δ: one panel per frame kind, a line per box source, the
    detector's own mean best IoU dashed."""
    import matplotlib.pyplot as plt
    kinds = [k for k in ("easy", "hard") if any(r["frames"] == k for r in rows)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.2), squeeze=False,
                             sharey=True)
    for ax, kind in zip(axes[0], kinds):
        for i, source in enumerate(dict.fromkeys(r["source"] for r in rows)):
            rs = [r for r in rows if r["frames"] == kind and r["source"] == source]
            ax.plot([r["delta"] for r in rs], [r["iou"] for r in rs], marker="o", color=f"C{i}",
                    label=f"propagated from the {'ground-truth' if source == 'gt' else 'detected'} box")
        rs = [r for r in rows if r["frames"] == kind and r["source"] == rows[0]["source"]]
        ax.plot([r["delta"] for r in rs], [r["detector_iou"] for r in rs], ls="--",
                color="gray", label="detector's best mask at t")
        ax.set_title(f"{kind} target frames", fontsize=9)
        ax.set_xlabel("δ (frames between reference and target)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean mask IoU with the ground truth")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_steps(steps, img_t, img_ref, gt_mask, position, title=""):
    """The branch for one instance, left to right: the reference frame with the box, the
    affinity row of ``position`` (a cell of frame t) over the reference frame, the
    propagated object map ``W b`` and background map ``1 - W b``, the attention, the
    predicted mask, the ground truth at t."""
    import matplotlib.pyplot as plt
    h, w = steps["feature_size"]
    row = steps["affinity"][position[0] * w + position[1]].view(h, w).cpu().numpy()
    fg = steps["propagated"][0].cpu().numpy()
    panels = [(img_ref, "frame t-δ"), (steps["box_maps"][0].cpu().numpy(), "box map b at t-δ"),
              (row, f"affinity row of cell {position} of t"), (fg, "object map W b"),
              (1 - fg, "background map W (1-b)"),
              (steps["attention"][0].cpu().numpy(), "attention"),
              (steps["mask_prob"][0], "predicted mask at t"), (gt_mask, "ground truth at t"),
              (img_t, "frame t")]
    cols = (len(panels) + 1) // 2
    fig, axes = plt.subplots(2, cols, figsize=(2.6 * cols, 4.4))
    axes = axes.ravel()
    for ax, (im, name) in zip(axes, panels):
        ax.imshow(im, cmap=None if im.ndim == 3 else "viridis")
        ax.set_title(name, fontsize=8)
    for ax in axes:
        ax.axis("off")
    axes[2].plot(position[1], position[0], "r+", ms=10)  # the query cell, in t's grid
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


IOU_COLUMNS = [("δ", "delta"), ("instance-frames", "n"), ("mean IoU", "iou"),
               ("IoU ≥ 0.5", "hit"), ("detector's best IoU", "detector_iou"),
               ("propagated beats detector", "beats_detector")]


def ious_table(rows, deltas=None):
    """:func:`summarize_ious` rows (those of ``deltas``) as a markdown table."""
    shown = [dict(r, box=f"{'ground truth' if r['source'] == 'gt' else 'detector'}, "
                         f"{r['frames']} frames", n=str(r["n"]), delta=str(r["delta"]))
             for r in rows if deltas is None or r["delta"] in deltas]
    return markdown_table(shown, IOU_COLUMNS, first=("box at t-δ, target frames", "box"),
                          extra=(), digits=2)


def funnel_rows(funnels, hard=False):
    """Rows (one per stage) of mean counts over the given funnels (one per seed), as
    :func:`objprop.tables.markdown_table` reads them: ``key``, ``stage``, ``count`` (+ std)
    and ``share`` (percent of the instance-frames counted)."""
    key = "hard_stages" if hard else "stages"
    total = mean_std([sum(f[key].values()) for f in funnels])[0] or 1.0
    rows = []
    for k, what in STAGES:
        m, s = mean_std([f[key][k] for f in funnels])
        rows.append(dict(key=k, stage=what, count=m, count_std=s, share=100 * m / total))
    return rows


def funnel_table(runs, hard=False):
    """The funnel of each filling variant side by side: per stage, the mean count over
    seeds ± std and its share of the instance-frames (``hard``: ToyVIS's hard frames)."""
    variants = by_role(runs)
    cols = {roles.name(role): funnel_rows([r["funnel"] for r in rs], hard=hard)
            for role, rs in variants.items()}
    rows = []
    for i, (_, what) in enumerate(STAGES):
        row = dict(stage=what)
        for name, rs in cols.items():
            r = rs[i]
            sd = "" if r["count_std"] is None else f" ± {r['count_std']:.1f}"
            row[name] = f"{r['count']:.1f}{sd} ({r['share']:.0f} %)"
        rows.append(row)
    return markdown_table(rows, [(n, n) for n in cols], first=("instance-frames", "stage"),
                          extra=())


FILL_COLUMNS = [("mAP", "AP"), ("recall, hard frames", "recall_hard_frames"),
                ("missed frames", "missed_frames"), ("ms per frame", "ms"), ("fills", "fills"),
                ("correct fills", "correct"), ("counted fills", "counted"),
                ("fills on hard frames", "fills_hard"), ("median score of filled tracks",
                                                         "fill_score")]


def _fill_value(run, key):
    f = run["funnel"]["fills"]
    scores = run["funnel"]["fill_track_scores"]
    if key == "AP":
        return 100 * run["stats"]["AP"]
    if key in ("recall_hard_frames", "missed_frames"):
        v = run["stability"].get(key)
        return None if v is None else float(v)
    if key == "fill_score":
        return float(np.median(scores)) if scores else 0.0
    if key == "ms":  # inference time; the oracle is not an inference rule: None
        return (1000 * run["inference_seconds"] / max(run["frames"], 1)
                if run.get("inference_seconds") else None)
    return float(f["on_hard_frames" if key == "fills_hard" else
                   "total" if key == "fills" else key])


def fills_table(runs):
    """Per filling variant: mAP, hard-frame recall, missed frames, and its fills (how many,
    how many correct, how many on a track that matches the instance as a whole, on hard
    frames, the median score of the tracks that got them): mean ± std over seeds."""
    rows = summary_rows(runs, [k for _, k in FILL_COLUMNS], _fill_value)
    return markdown_table(rows, FILL_COLUMNS, extra=(("seeds", "seeds"),), digits=2)


def filling_sentence(runs):
    """What filling adds and what the oracle says it could add, paired by seed."""
    base = roles.OBJPROP_NO_FILL
    parts = []
    for name, what in ((roles.OBJPROP, "The paper's filling adds"),
                       (roles.TUNED_FILL, "The fill rule chosen on the tuning split adds"),
                       (roles.PROP_ORACLE, "Filling every missed instance-frame "
                                                        "from its ground-truth box would add")):
        d = paired_difference(runs, name, base, key="AP", value=_fill_value)
        r = paired_difference(runs, name, base, key="recall_hard_frames", value=_fill_value)
        if d:
            parts.append(f"{what} {format_difference(d)}" + (
                "" if r is None else f" and {100 * r['mean']:+.1f} points of hard-frame recall"))
    parts = [parts[0]] + [p[0].lower() + p[1:] for p in parts[1:]] if parts else []
    return ("; ".join(parts) + " (against the same weights without filling).") if parts \
        else "No filling runs."


def tuning_table(tuning):
    """The tuning split's grid: each combination's options, mAP, hard-frame recall, missed
    frames, filled frames and seconds; the chosen one marked."""
    keys = [k for k in tuning["rows"][0] if k not in
            ("options", "AP", "recall_hard_frames", "missed_frames", "filled", "seconds")]
    rows = [dict(r, **{k: str(r[k]) for k in keys}, filled=str(r["filled"]),
                 chosen="**chosen**" if r["options"] == tuning["chosen"] else "")
            for r in tuning["rows"]]
    cols = [(k, k) for k in keys[1:]] + [("mAP", "AP"), ("recall, hard", "recall_hard_frames"),
                                         ("missed frames", "missed_frames"),
                                         ("filled frames", "filled"), ("s", "seconds")]
    return markdown_table(rows, cols, first=(keys[0], keys[0]), extra=(("", "chosen"),),
                          digits=2)


def funnel_sentence(runs, method=roles.OBJPROP, oracle=roles.PROP_ORACLE):
    """Where the hard frames' instances are lost, in numbers: the largest missed stage of
    role ``method`` on hard frames, and what the propagation oracle's fills were worth
    there."""
    variants = by_role(runs)
    if method not in variants:
        return "No filling run to follow."
    rows = funnel_rows([r["funnel"] for r in variants[method]], hard=True)
    total = sum(r["count"] for r in rows)
    missed = [r for r in rows if r["key"] not in ("detected", "filled")]
    worst = max(missed, key=lambda r: r["count"])
    found = sum(r["count"] for r in rows if r["key"] in ("detected", "filled"))
    text = (f"On hard frames {roles.name(method)} finds {found:.0f} of {total:.0f} instance-frames "
            f"(mean over seeds); the largest loss is *{worst['stage']}*: {worst['count']:.0f} "
            f"({worst['share']:.0f} %).")
    if oracle in variants:
        o = {r["key"]: r["count"] for r in funnel_rows([r["funnel"] for r in variants[oracle]],
                                                       hard=True)}
        tried = o["filled"] + o["wrong_fill"]
        text += (f" Filled from the ground-truth box by the same branch, {o['filled']:.0f} of "
                 f"{tried:.0f} of them would be right (IoU ≥ 0.5): the loss is the branch's "
                 f"own masks there, not the fill rule." if tried and o["filled"] < tried / 2
                 else f" Filled from the ground-truth box by the same branch, {o['filled']:.0f} "
                 f"of {tried:.0f} of them would be right (IoU ≥ 0.5).")
    return text


def branch_variants_table(rows):
    """Mean ± std over seeds of the ground-truth-box IoU and hit rate, per variant and frame
    kind, with the seeds and each variant's training time per iteration."""
    out = []
    for name in dict.fromkeys(r["variant"] for r in rows):
        for kind in ("easy", "hard"):
            rs = [r for r in rows if r["variant"] == name and r["frames"] == kind]
            if not rs:
                continue
            row = dict(variant=name, frames=kind, seeds=", ".join(str(r["seed"]) for r in rs))
            for key in ("iou", "hit"):
                row[key], row[f"{key}_std"] = mean_std([r[key] for r in rs])
            spi = [r["s_per_iter"] for r in rs if r.get("s_per_iter")]
            row["s_per_iter"] = f"{sum(spi) / len(spi):.2f}" if spi else "–"
            out.append(row)
    return markdown_table(out, [("mean IoU", "iou"), ("share ≥ 0.5", "hit")],
                          first=("variant", "variant"),
                          extra=(("target frames", "frames"), ("seeds", "seeds"),
                                 ("s/iteration", "s_per_iter")), digits=3)


def branch_variants_sentence(rows, reference=None, kind="easy"):
    """Which variant changes the ground-truth-box IoU on ``kind`` frames beyond the seeds'
    spread: the difference of means against the sum of the two sample stds (the rule the
    book's gain sentence uses). ``reference``: the variant compared against (the first)."""
    names = list(dict.fromkeys(r["variant"] for r in rows))
    reference = reference or names[0]

    def of(name):
        return mean_std([r["iou"] for r in rows if r["variant"] == name and r["frames"] == kind])

    ref_mean, ref_std = of(reference)
    parts = []
    for name in names:
        if name == reference:
            continue
        mean, std = of(name)
        diff = mean - ref_mean
        spread = (ref_std or 0.0) + (std or 0.0)
        verdict = ("beyond" if abs(diff) > spread and ref_std is not None and std is not None
                   else "within")
        parts.append(f"*{name}* {diff:+.3f} ({verdict} the seeds' spread, ± {spread:.3f})")
    return (f"Against *{reference}*, the mean IoU from the ground-truth box on {kind} frames "
            f"changes by: " + "; ".join(parts) + ".")
