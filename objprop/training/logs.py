"""A run's records: the fields ``results/train.json`` keeps, their table, mmcv's JSON logs
and the loss curves drawn from them."""
import json
from pathlib import Path

from ..errors import ObjPropError
from ..tables import markdown_table


def run_record(summary):
    """The fields of a run that ``results/train.json`` keeps (``objprop.present.readme`` reads
    ``config`` and ``checkpoint``; ``objprop.studies.store.training_budget`` follows
    ``load_from``)."""
    keys = ("config", "checkpoint", "work_dir", "iters", "seconds", "s_per_iter", "gpus",
            "procs", "threads", "seed", "final_losses", "batch", "lr", "skipped")
    record = {k: summary.get(k) for k in keys}
    # the checkpoint the run started from (a budget on top of another run's), as requested
    record["load_from"] = ((summary.get("request") or {}).get("cfg_options") or {}).get(
        "load_from")
    return record


RUNS_COLUMNS = [("seed", "seed"), ("iterations", "iters"), ("batch", "batch"), ("lr", "lr"),
                ("processes", "procs"), ("threads", "threads"), ("s/iter", "s_per_iter"), ("final loss", "loss"),
                ("checkpoint", "checkpoint"), ("trained now", "trained")]


def runs_table(records):
    """A markdown table of :func:`run_record` dicts (with a ``method`` name each)."""
    rows = []
    for r in records:
        loss = (r.get("final_losses") or {}).get("loss")
        spi = r.get("s_per_iter")
        rows.append(dict(
            method=r.get("method", Path(r["config"]).stem), seed=r.get("seed", ""),
            iters=r["iters"], batch=r.get("batch", ""), lr=f"{r.get('lr', 0):g}",
            procs=f"{r['gpus']} GPU" if r.get("gpus") else f"{r.get('procs', 1)} CPU",
            s_per_iter="" if spi is None else f"{spi:.2f}",
            loss="" if loss is None else f"{loss:.3f}", checkpoint=f"`{r['checkpoint']}`",
            trained="no (finished run reused)" if r.get("skipped") else "yes"))
    return markdown_table(rows, RUNS_COLUMNS, extra=())


def effective_config(summary):
    """The configuration a run trained with, as ``objprop train`` wrote it into its work
    folder (``<work_dir>/<config file name>``): bases merged, ``--cfg-options`` applied, the
    schedule as ``--max-iters`` / ``--epochs`` and the lr scaling left it. None if the run
    could not write it (mmcv's yapf formatting failed; the log says so)."""
    path = Path(summary["work_dir"]) / Path(summary["config"]).name
    return path.read_text() if path.is_file() else None


def _read_one_log(path):
    meta, entries = {}, []
    for line in Path(path).read_text().splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        if not isinstance(d, dict):
            continue
        if "mode" not in d:
            meta = d.get("objprop_log") or meta
            continue
        if d["mode"] == "train":
            entries.append(d)
    ipe = meta.get("iters_per_epoch") if meta.get("by_epoch") else None
    for d in entries:
        d["global_iter"] = (d["epoch"] - 1) * ipe + d["iter"] if ipe else d["iter"]
    return entries


def read_json_log(path):
    """Train entries of mmcv's JSON log(s) (``*.log.json``), each with ``global_iter``.

    ``path`` is one log or a work folder; a folder's logs are read in time order and a
    resumed run's entries replace those of the killed run from the same iteration on.
    """
    p = Path(path)
    files = sorted(p.glob("*.log.json")) if p.is_dir() else [p]
    if not files or not all(f.is_file() for f in files):
        raise ObjPropError("no training log (*.log.json)", path=p)
    out = []
    for f in files:
        entries = _read_one_log(f)
        if entries and out:
            first = entries[0]["global_iter"]
            out = [e for e in out if e["global_iter"] < first]
        out.extend(entries)
    return out


def plot_losses(log, ax=None, title=None, label=None, total_only=False):
    """Each ``loss_*`` and the total loss against the iteration; ``log`` is a log path, a work
    folder or the entries of :func:`read_json_log`. ``total_only`` draws the total alone,
    labelled ``label`` (one curve per seed on a shared axis). Returns the figure."""
    import matplotlib.pyplot as plt
    entries = log if isinstance(log, list) else read_json_log(log)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    keys = [] if total_only else sorted({k for e in entries for k in e if k.startswith("loss_")})
    for key in keys + ["loss"]:
        pts = [(e["global_iter"], e[key]) for e in entries if key in e]
        if pts:
            xs, ys = zip(*pts)
            total = key == "loss"
            ax.plot(xs, ys, marker="." if len(pts) < 20 else None,
                    lw=2.5 if total and not total_only else 1.2,
                    color="black" if total and not total_only else None,
                    label=(label or "total") if total else key[len("loss_"):])
    if not entries:
        ax.text(0.5, 0.5, "no logged iterations", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title or "training losses")
    ax.grid(alpha=0.3)
    if entries:
        ax.legend(fontsize=7, ncol=2)
    return fig
