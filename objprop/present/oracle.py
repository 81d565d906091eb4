"""Table 1 on the page: the oracle study's table, its figure and its sentence (from
``table1.json``), and the ``objprop oracle`` command."""
from pathlib import Path

import numpy as np

from ..config import CfgOptionsAction, positive_int, unit_interval
from ..paper import TABLE1 as PAPER_TABLE1  # the paper's rows, quoted in objprop.paper
from ..studies.oracle import added_gains, paper_row, run_oracle_study
from ..tables import markdown_table

TABLE1_COLUMNS = [("mAP", "AP"), ("gain", "gain"), ("AP@50", "AP50"), ("AP@75", "AP75"),
                  ("AR@1", "AR1"), ("AR@10", "AR10")]
COMPONENTS = dict(box="box localisation", **{"class": "classification (the box head)"},
                  mask="mask prediction", track="tracking (identity association)")


def _fmt(v, signed=False):
    if v is None:
        return "–"
    return f"{v:+.1f}" if signed else f"{v:.1f}"


def table1_markdown(table, paper=True):
    """Table 1 as markdown: the measured rows (percent) and, with ``paper``, the paper's mAP
    and gain for the same oracle combination beside them."""
    columns = [("Oracles", "oracles"), *TABLE1_COLUMNS]
    if paper:
        columns += [("paper mAP", "paper_AP"), ("paper gain", "paper_gain")]
    rows = []
    for r in table["rows"]:
        row = {k: _fmt(r.get(k), signed=(k == "gain")) for _, k in TABLE1_COLUMNS}
        row.update(name=r["name"], oracles=", ".join(r["oracles"]) or "none")
        if paper:
            p = paper_row(r["oracles"]) or dict(AP=None, gain=None)
            row.update(paper_AP=_fmt(p["AP"]), paper_gain=_fmt(p["gain"], True))
        rows.append(row)
    text = markdown_table(rows, columns, first=("Row", "name"), extra=())
    return text + (f"\n\nPaper: {PAPER_TABLE1['source']}." if paper else "")


def plot_gains(table):
    """Bars of the mAP gain each added oracle brings: measured (solid) beside the paper's
    (hatched, Table 1)."""
    import matplotlib.pyplot as plt
    added = added_gains(table)
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    x = np.arange(len(added))
    ax.bar(x - 0.2, [a[1] for a in added], 0.4, label="measured here", color="C0")
    ax.bar(x + 0.2, [a[2] if a[2] is not None else 0.0 for a in added], 0.4,
           label="paper (YouTube-VIS mini-val)", color="C1", hatch="//", alpha=0.6)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x, [f"+ {a[0]}" for a in added])
    ax.set_ylabel("mAP gain (points)")
    ax.set_title("Table 1: what each oracle adds over the previous row")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def limiting_component(table):
    """One sentence naming the oracle with the largest measured gain (and the paper's)."""
    added = added_gains(table)
    if not added:
        return "The table has no oracle row: nothing to compare."
    label, gain, _ = max(added, key=lambda a: a[1])
    what = " and ".join(COMPONENTS.get(o, o) for o in label.split("+"))
    paper = max(added_gains(PAPER_TABLE1), key=lambda a: a[1])
    return (f"Here the largest gain comes from the **{label}** oracle ({gain:+.1f} mAP): "
            f"{what} is the component that limits this model most; in the paper it is the "
            f"{paper[0]} oracle ({paper[1]:+.1f} mAP), i.e. "
            f"{COMPONENTS[paper[0]]}.")


# --------------------------------------------------------------------------- command line


def add_oracle_arguments(p):
    p.add_argument("--config", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", help="data folder in the official layout (default: config's)")
    p.add_argument("--split", default="valid",
                   help="split to run on (the paper: minival, carved by "
                        "data_scripts/prepare_youtube_vis.py)")
    p.add_argument("--out", required=True, help="folder for table1.json and results files")
    p.add_argument("--oracles", help="a single combination, e.g. box,class (default: the "
                                     "paper's five cumulative rows)")
    p.add_argument("--max-videos", type=positive_int, default=None)
    p.add_argument("--match-iou", type=unit_interval, default=0.5,
                   help="IoU for assigning a detection to a GT instance when no box/class "
                        "oracle snapped it")
    p.add_argument("--cfg-options", nargs="+", default={}, metavar="KEY=VALUE",
                   action=CfgOptionsAction,
                   help="test-time config overrides (mmcv's DictAction syntax)")
    p.add_argument("--device", default="cpu")


def run_from_args(args):
    rows = None if not args.oracles else args.oracles
    table = run_oracle_study(args.config, args.checkpoint, args.data, split=args.split,
                             out_dir=args.out, rows=rows, max_videos=args.max_videos,
                             progress=True, cfg_options=args.cfg_options or None,
                             device=args.device, match_iou=args.match_iou)
    print(table1_markdown(table))
    print()
    print(limiting_component(table).replace("**", ""))
    print(f"wrote {Path(args.out) / 'table1.json'}")


def plot_oracle_frame(frame_rgb, outputs, frame_gt, class_names):
    """One frame under each row of the study (:func:`objprop.studies.oracle.oracle_on_frame`)
    beside its ground truth: the boxes, masks, labels and scores each row outputs."""
    from ..vis import draw_instances, frame_grid
    panels = [draw_instances(frame_rgb, out["masks"], boxes=np.asarray(out["bboxes"]),
                             labels=out["labels"], class_names=class_names,
                             track_ids=out["track_ids"], scores=out["scores"])
              for _, out in outputs]
    panels.append(draw_instances(frame_rgb, frame_gt["masks"],
                                 boxes=np.asarray(frame_gt["bboxes"]),
                                 labels=frame_gt["labels"], class_names=class_names,
                                 track_ids=list(frame_gt["ids"])))
    return frame_grid([panels], col_titles=[name for name, _ in outputs] + ["ground truth"])
