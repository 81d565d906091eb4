"""The stability chapter on the page: the temporal-stability and tracking tables, their
figure and sentence (from ``results/evaluation.json``)."""
from .. import roles
from ..studies.scoring import STABILITY_SCORE_THR, tracking_scores
from ..studies.stats import summary_rows


STABILITY_COLUMNS = [  # (header, key, what a reader should want: lower or higher)
    ("missed frames", "missed_frames", "lower"), ("flicker", "flicker", "lower"),
    ("fragmentation", "fragmentation", "lower"), ("jitter", "jitter", "lower"),
    ("recall, easy frames", "recall_easy_frames", "higher"),
    ("recall, hard frames", "recall_hard_frames", "higher")]


def stability_rows(measured, at_score=False):
    """One row per method: its temporal-stability metrics, mean ± std over its seeds
    (``at_score``: on the results scoring at least ``STABILITY_SCORE_THR``)."""
    field = "stability_at_score" if at_score else "stability"

    def value(run, key):
        v = run.get(field, {}).get(key)
        return None if v is None else float(v)
    return summary_rows(measured, [k for _, k, _ in STABILITY_COLUMNS], value)


TRACKING_COLUMNS = [("HOTA", "HOTA"), ("DetA", "DetA"), ("AssA", "AssA"),
                    ("HOTA (det. av.)", "HOTA_det_av"), ("MOTA", "MOTA"), ("IDF1", "IDF1"),
                    ("ID switches", "IDSW")]


def tracking_rows(measured, score_thr=STABILITY_SCORE_THR):
    """One row per method: HOTA, DetA, AssA, MOTA, IDF1 (percent) and ID switches of its
    results files (:func:`objprop.evaluation.hota.tracking_metrics`, results scoring at
    least ``score_thr``), mean ± std over its seeds."""
    return summary_rows(tracking_scores(measured, score_thr), [k for _, k in TRACKING_COLUMNS],
                        lambda r, k: r["tracking"][k] * (1 if k == "IDSW" else 100))


def plot_stability(rows):
    """One panel per stability metric, a bar per method."""
    import matplotlib.pyplot as plt
    cols = [c for c in STABILITY_COLUMNS if any(c[1] in r for r in rows)]
    fig, axes = plt.subplots(1, len(cols), figsize=(2.3 * len(cols), 2.8), squeeze=False)
    for ax, (header, key, better) in zip(axes[0], cols):
        ax.bar(range(len(rows)), [r.get(key, 0.0) for r in rows],
               yerr=[r.get(f"{key}_std") or 0.0 for r in rows], capsize=2,
               color=[f"C{i}" for i in range(len(rows))])
        ax.set_title(f"{header}\n({better} is better)", fontsize=8)
        ax.set_xticks(range(len(rows)), [r["method"] for r in rows], rotation=35, ha="right",
                      fontsize=7)
    fig.tight_layout()
    return fig


def stability_sentence(rows):
    """What the stability numbers say about ObjProp against the baseline, from the rows."""
    by = {r["role"]: r for r in rows}
    base, obj = by.get(roles.BASELINE), by.get(roles.OBJPROP)
    if not (base and obj):
        return "Both models are needed for a comparison."
    parts = []
    for header, key, better in STABILITY_COLUMNS:
        if key in base and key in obj:
            d = obj[key] - base[key]
            good = (d < 0) if better == "lower" else (d > 0)
            verdict = "better" if good else ("the same" if d == 0 else "worse")
            parts.append(f"{header} {base[key]:.3f} → {obj[key]:.3f} ({verdict})")
    return (f"{base['method']} → {obj['method']} (means over {obj.get('seeds', 1)} seeds): "
            + "; ".join(parts) + ".")


def plot_track_timeline(timelines):
    """One ground-truth track under each method (``{display name: track_timeline(...)}``),
    a panel each: the frame IoU of every result track that covers it (its match thick, the
    others thin: fragmentation), the frames where the object is there shaded, and the
    frames where the match drops out (missed frames; an off-run between two on-frames is
    one flicker) marked."""
    import matplotlib.pyplot as plt
    import numpy as np
    fig, axes = plt.subplots(1, len(timelines), figsize=(4.2 * len(timelines), 2.6),
                             squeeze=False, sharey=True)
    for ax, (name, tl) in zip(axes[0], timelines.items()):
        frames = np.arange(len(tl["visible"]))
        ax.fill_between(frames, 0, 1, where=tl["visible"], step="mid", color="0.9",
                        label="object visible")
        for k, tr in enumerate(tl["tracks"]):
            ax.plot(frames, tr["iou"], marker="o", ms=3, lw=2.2 if tr["match"] else 0.9,
                    color="C0" if tr["match"] else f"C{k + 1}",
                    label=f"{'match' if tr['match'] else 'other track'} ({tr['score']:.2f})")
            if tr["match"]:
                lost = tl["visible"] & ~tr["visible"]
                ax.plot(frames[lost], np.zeros(lost.sum()), "rx", ms=7, label="missed")
        ax.axhline(tl["iou_thr"], color="k", ls="--", lw=0.6)
        ax.set_title(f"{name}: flicker {tl['flicker']}, fragmentation "
                     f"{tl['fragmentation']}", fontsize=8)
        ax.set_xlabel("frame")
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=6, loc="lower left")
    axes[0][0].set_ylabel("frame IoU with the object")
    fig.tight_layout()
    return fig
