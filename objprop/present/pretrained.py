"""The pretrained start and the fidelity trials made from it, as the training chapter and the
README show them: from ``results/pretrain.json`` (``objprop pretrain``) and
``results/recipe_trials.json`` (``make trials``)."""
from ..tables import markdown_table


def pretrain_sentence(record):
    """One sentence on the pretrained start: its data, length, held-out AP and cost."""
    ap = record["ap"]
    trained = (f"trained in {record['train_seconds'] / 60:.1f} min at "
               f"{record['s_per_iter']:.2f} s/iteration" if record.get("train_seconds")
               else "trained")
    return (f"Pretrained start ({record.get('load_from') or record['config']}, `make "
            f"pretrain`): the toy Mask R-CNN, {record['iters']} iterations on ToyCOCO, "
            f"{trained}; COCO AP on {record['valid_images']} held-out images: box "
            f"{_ap(ap['bbox']['mAP'])}, mask {_ap(ap['segm']['mAP'])} (cached per machine"
            + (", reused by this run" if record.get("reused") else "") + ").")


def _ap(value):
    return "–" if value is None else f"{value:.1f}"


def ap_table(record):
    """Box and mask COCO AP of a pretraining record, one row each (markdown)."""
    from ..pretrain import AP_KEYS
    rows = [dict({k: _float(v) for k, v in record["ap"][kind].items()}, kind=name)
            for kind, name in (("bbox", "box"), ("segm", "mask"))]
    return markdown_table(rows, [(k.replace("mAP", "AP"), k) for k in AP_KEYS],
                          first=("", "kind"), extra=())


TRIAL_COLUMNS = [("method", "method"), ("trial mAP", "AP"), ("book's mAP", "control_AP"),
                 ("learns", "learns"), ("paired difference", "difference"),
                 ("reading", "reading")]


def trials_table(out):
    """The fidelity trials: each source choice against the book's run of its method."""
    rows = []
    for t in out["trials"]:
        diff = "–" if t["diff"] is None else f"{t['diff']:+.1f}" + (
            "" if t["low"] is None else f" [{t['low']:+.1f}, {t['high']:+.1f}]")
        rows.append(dict(t, difference=diff, reading=t["reading"] or "one seed: no interval",
                         learns="yes" if t["learns"] else "no",
                         AP=_float(t["AP"]), control_AP=_float(t["control_AP"])))
    return markdown_table(rows, TRIAL_COLUMNS, first=("the source's choice", "what"), extra=())


def _float(value):
    return "–" if value is None else float(value)


def trials_sentence(out):
    """Where the trials were measured, for the table's caption."""
    return (f"Fidelity trials (`make trials`): each trained from the pretrained start on seeds "
            f"{', '.join(map(str, out['seeds']))}, scored on the {out['split']} split, paired "
            f"by seed with the book's run of its method (95 % interval; *learns*: above zero "
            f"mAP on every seed; *better* or *worse*: the whole interval on one side of zero).")
