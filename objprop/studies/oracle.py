"""Table 1: the oracle study (compute: hooks, the study, its JSON) — which component limits MaskTrack R-CNN (and ObjProp)?

The trained model runs online over a split several times; each time, some of its per-frame
outputs are replaced by the ground truth (GT) of that frame through the detector's
:class:`~objprop.models.detectors.FrameHook` (see :mod:`objprop.models.detectors` for the
four steps of a frame). The rows are cumulative, as in the paper's Table 1::

    MaskTrack R-CNN      no oracle
    + box                box
    + class              box, class
    + mask               box, class, mask
    + track              box, class, mask, track

How each oracle is applied, in one frame (GT = :meth:`YouTubeVISDataset.get_frame_ann`:
non-crowd instances present in the frame, boxes x1 y1 x2 y2 in original pixels):

``box``
    Each detected box is replaced by the GT box with which it has the highest IoU; its score
    and label are kept, and the mask head then predicts the mask inside the new box. A
    detection that overlaps no GT box (IoU 0) is kept unchanged (the paper is silent on
    this case). Several detections may snap to the same GT box: the duplicates are kept (as
    the paper describes no suppression); each carries its own score and label.
``class``
    The box head's output is replaced by the frame's GT boxes and GT labels, score 1.0 each:
    exactly one detection per GT instance and no other detection. It implies ``box``. With
    ``class`` on, ObjProp's empty-instance filling is switched off (``max_fill=0``): the GT
    boxes already cover every instance of the frame, so a fill could only add a duplicate.
``mask``
    The mask of each detection assigned to a GT instance is replaced by that instance's GT
    mask. Assigned means: with ``class``, detection k *is* GT instance k; with ``box``, the
    GT box it snapped to; with neither, the GT box of highest IoU if that IoU is at least
    ``match_iou`` (0.5), many-to-one. The predicted mask of an unassigned detection is kept.
``track``
    Identities come from the GT instance ids: detections are taken in descending score, each
    gets the id of the GT instance it is assigned to (as for ``mask``) unless a
    higher-scoring detection of this frame already took it. A detection left without a GT
    instance gets a fresh id, used for that single detection only, taken from a counter
    that starts above every annotation id of the data set, so fresh ids never collide with
    GT ids or with each other. The tracker's own matching is bypassed (``forced_ids``).

Every number in ``table1.json`` is in **percent** (the YouTube-VIS stats × 100; a stat that
is -1, no GT in that area range, stays -1); ``gain`` is a row's mAP minus the previous row's.
"""
import itertools
from pathlib import Path

import numpy as np

from .. import roles
from ..errors import ObjPropError
from ..evaluation import STAT_NAMES
from ..hooks import FrameHook
from ..inference import has_filling, set_max_fill
from ..paper import TABLE1 as PAPER_TABLE1  # the paper's rows, quoted in objprop.paper


ORACLES = ("box", "class", "mask", "track")
ORACLE_ROWS = [(roles.name(roles.BASELINE), ()), ("+ box", ("box",)), ("+ class", ("box", "class")),
               ("+ mask", ("box", "class", "mask")),
               ("+ track", ("box", "class", "mask", "track"))]
FRESH_ID_BASE = 1 << 30  # a standalone hook's fresh ids (the factory starts above GT ids)


def normalize_oracles(oracles):
    """Oracle names in canonical order (``class`` implies ``box``); rejects unknown names.
    Accepts an iterable of names or a comma-separated string."""
    if isinstance(oracles, str):
        oracles = [o for o in oracles.replace(" ", "").split(",") if o and o != "none"]
    names = set(oracles or ())
    unknown = sorted(names - set(ORACLES))
    if unknown:
        raise ObjPropError(f"unknown oracle(s) {', '.join(unknown)}; choose from "
                           f"{', '.join(ORACLES)}")
    if "class" in names:
        names.add("box")
    return tuple(o for o in ORACLES if o in names)


# --------------------------------------------------------------------------- hooks


class OracleHook(FrameHook):
    """A frame hook for one frame that applies ``oracles`` (see the module docstring
    for exactly how each is applied).

    Args:
        gt_frame_fn: zero-argument callable returning the frame's GT (``bboxes`` (m, 4)
            x1 y1 x2 y2 original pixels, ``labels`` (m,) 0-based, ``masks`` (m, H, W) bool,
            ``ids`` (m,)), or that dict itself; called once, when first needed.
        oracles: names among ``box``, ``class``, ``mask``, ``track``.
        fresh_id: callable returning a new, never-used track id (``track``).
        match_iou: IoU a detection needs with a GT box to be assigned to it when neither
            ``box`` nor ``class`` snapped it (``mask`` and ``track`` alone).

    The hook is made per frame; ``detections`` runs first and records, per detection, the
    index of its GT instance (``gt_index``, -1 for none) and its score for the later steps.
    """

    def __init__(self, gt_frame_fn, oracles, fresh_id=None, match_iou=0.5):
        self.oracles = normalize_oracles(oracles)
        self._gt_fn = gt_frame_fn
        self._gt = None
        self.fresh_id = fresh_id or itertools.count(FRESH_ID_BASE).__next__
        self.match_iou = match_iou
        self.gt_index = None
        self.scores = None

    @property
    def gt(self):
        if self._gt is None:
            self._gt = self._gt_fn() if callable(self._gt_fn) else self._gt_fn
        return self._gt

    def detections(self, meta, bboxes, scores, labels):
        import torch
        from mmdet.core import bbox_overlaps
        gt = self.gt
        gt_boxes = torch.as_tensor(np.asarray(gt["bboxes"], np.float32)).reshape(-1, 4)
        gt_boxes = gt_boxes.to(bboxes)
        if "class" in self.oracles:
            m = len(gt_boxes)
            bboxes = gt_boxes.clone()
            scores = scores.new_ones(m)
            labels = torch.as_tensor(np.asarray(gt["labels"], np.int64)).to(labels)
            self.gt_index = np.arange(m)
        else:
            n, m = len(bboxes), len(gt_boxes)
            if n and m:
                best_iou, best = bbox_overlaps(bboxes, gt_boxes).max(dim=1)
            else:
                best_iou = bboxes.new_zeros(n)
                best = torch.zeros(n, dtype=torch.long, device=bboxes.device)
            if "box" in self.oracles:
                snap = best_iou > 0
                if m:
                    bboxes = torch.where(snap[:, None], gt_boxes[best], bboxes)
            else:
                snap = best_iou >= self.match_iou
            self.gt_index = np.where(snap.cpu().numpy(), best.cpu().numpy(), -1)
        self.scores = scores.detach().cpu().numpy()
        return bboxes, scores, labels

    def masks(self, meta, bboxes, labels, masks):
        if "mask" not in self.oracles or not len(masks):
            return masks
        gt_masks = np.asarray(self.gt["masks"], bool)
        if gt_masks.shape[1:] != masks.shape[1:]:
            raise ObjPropError(f"GT masks are {gt_masks.shape[1:]} but the frame is "
                               f"{masks.shape[1:]} (video {meta.get('video_id')}, frame "
                               f"{meta.get('frame_id')})")
        out = masks.copy()
        for k, g in enumerate(self.gt_index):
            if g >= 0:
                out[k] = gt_masks[g]
        return out

    def track_ids(self, meta, bboxes, labels, masks):
        if "track" not in self.oracles:
            return None
        gt_ids = np.asarray(self.gt["ids"])
        ids, taken = [None] * len(self.gt_index), set()
        for k in np.argsort(-self.scores, kind="stable"):
            g = int(self.gt_index[k])
            if g >= 0 and g not in taken:
                taken.add(g)
                ids[k] = int(gt_ids[g])
            else:
                ids[k] = int(self.fresh_id())
        return ids


class OracleHookFactory:
    """``hook_factory`` for :func:`~objprop.inference.run_inference`: one
    :class:`OracleHook` per frame, GT from ``dataset.get_frame_ann``; the fresh-id counter is
    shared by the whole run and starts above every annotation id of the data set."""

    def __init__(self, oracles, match_iou=0.5):
        self.oracles = normalize_oracles(oracles)
        self.match_iou = match_iou
        self._counter = None

    def __call__(self, dataset, video_index, frame_index):
        if not self.oracles:
            return None
        if self._counter is None:
            top = max((a["id"] for anns in dataset.video_anns for a in anns), default=0)
            self._counter = itertools.count(int(top) + 1)
        return OracleHook(lambda: dataset.get_frame_ann(video_index, frame_index),
                          self.oracles, fresh_id=self._counter.__next__,
                          match_iou=self.match_iou)


def set_filling_for(model, oracles, default_max_fill):
    """ObjProp: filling off (``max_fill=0``) when ``class`` is on, else its configured value.
    Returns the ``max_fill`` used (None for a model without filling)."""
    if not has_filling(model):
        return None
    max_fill = 0 if "class" in oracles else default_max_fill
    set_max_fill(model, max_fill)
    return max_fill


# --------------------------------------------------------------------------- the study


def resolve_rows(rows=None):
    """``None`` → :data:`ORACLE_ROWS`; a list of ``(name, oracles)`` pairs as is; a single
    combination (names, or ``"box,class"``) → the no-oracle row and that combination."""
    if rows is None:
        return [(n, normalize_oracles(o)) for n, o in ORACLE_ROWS]
    if isinstance(rows, str) or all(isinstance(r, str) for r in rows):
        combo = normalize_oracles(rows)
        out = [(ORACLE_ROWS[0][0], ())]
        if combo:
            out.append((" ".join(f"+ {o}" for o in combo), combo))
        return out
    return [(n, normalize_oracles(o)) for n, o in rows]


def _percent(v):
    v = float(v)
    return v if v < 0 else 100.0 * v


def _slug(oracles):
    from ..io import safe_name
    return safe_name("_".join(oracles)) if oracles else "none"


def run_oracle_study(config, checkpoint, data_root, split="valid", out_dir="results/oracle",
                     rows=None, max_videos=None, progress=True, cfg_options=None,
                     device="cpu", match_iou=0.5, jobs=None):
    """Run the model once per row of the study, evaluate each row, write the table.

    ``rows``: ``None`` for the paper's five cumulative rows, or a single combination (see
    :func:`resolve_rows`). ``checkpoint=None`` runs randomly initialised weights (tests).
    Writes ``out_dir/results_<oracles>.json`` (YouTube-VIS results) per row and
    ``out_dir/table1.json``; returns the table: ``{"rows": [{"name", "oracles", "AP", ...,
    "gain", "results", "max_fill"}], "split", "config", "checkpoint", ...}``, all stats in
    percent. The no-oracle row is named after the model (MaskTrack R-CNN or ObjProp).
    On the CPU the rows run ``jobs`` at a time (:func:`objprop.studies.jobs.run_jobs`; one
    process per core), each in its own process with its own copy of the model.
    """
    from ..config import load_config
    from ..io import write_json_atomic
    from ..registries import check_config_types
    from .jobs import run_jobs
    rows = resolve_rows(rows)
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise ObjPropError("checkpoint not found", path=checkpoint)
    # here, before the rows' processes start (each loads the config again)
    check_config_types(load_config(config, cfg_options=cfg_options), config)
    common = (config, checkpoint, data_root, split, cfg_options, max_videos, device,
              match_iou, str(out_dir))
    calls = [((name, oracles) + common, dict(progress=progress and i == 0))
             for i, (name, oracles) in enumerate(rows)]
    table_rows, splits = zip(*run_jobs(oracle_row, calls, jobs if device == "cpu" else 1))
    table_rows = list(table_rows)
    for before, row in zip([None] + table_rows[:-1], table_rows):
        row["gain"] = row["AP"] - before["AP"] if before else None
    ann_file, video_ids = splits[0]
    table = dict(rows=table_rows, split=split, config=str(config),
                 checkpoint=None if checkpoint is None else str(checkpoint),
                 data_root=str(data_root), ann_file=ann_file,
                 video_ids=video_ids, units="percent", match_iou=match_iou,
                 paper=PAPER_TABLE1)
    write_json_atomic(table, Path(out_dir) / "table1.json", indent=2)
    return table


def oracle_row(name, oracles, config, checkpoint, data_root, split, cfg_options, max_videos,
               device, match_iou, out_dir, progress=False):
    """One row of :func:`run_oracle_study`: the model run online with ``oracles``, its
    results written and scored (``gain`` is the study's to fill in); returns (row,
    (annotation file, video ids) of the split it ran on)."""
    from ..evaluation import ytvis_evaluate
    from ..inference import run_inference
    from ..io import write_json_atomic
    from .scoring import load_split
    cfg, model, dataset, gt, ids = load_split(config, data_root, split, checkpoint,
                                              cfg_options, max_videos, device=device)
    default_fill = model.filler.max_fill if has_filling(model) else None
    model_name = roles.name(roles.OBJPROP if has_filling(model) else roles.BASELINE)
    max_fill = set_filling_for(model, oracles, default_fill)
    results = run_inference(model, dataset, OracleHookFactory(oracles, match_iou),
                            progress=progress, video_ids=ids)
    path = write_json_atomic(results, Path(out_dir) / f"results_{_slug(oracles)}.json")
    metrics = ytvis_evaluate(gt, results)
    row = dict(name=model_name if not oracles and name == ORACLE_ROWS[0][0] else name,
               oracles=list(oracles), **{k: _percent(metrics[k]) for k in STAT_NAMES})
    row.update(gain=None, results=str(path), max_fill=max_fill, tracks=len(results),
               per_category_AP={k: _percent(v) for k, v in
                                (metrics.get("per_category_AP") or {}).items()})
    return row, (cfg.data.test.ann_file, ids)


def paper_row(oracles):
    """The paper's Table 1 row with the same oracle combination (None: not in the paper)."""
    for r in PAPER_TABLE1["rows"]:
        if tuple(r["oracles"]) == tuple(normalize_oracles(oracles)):
            return r
    return None


def added_gains(table):
    """(label, measured gain, paper gain or None) for each row after the first: what each
    added oracle brings over the previous row."""
    out = []
    rows = table["rows"]
    for prev, r in zip(rows, rows[1:]):
        new = [o for o in r["oracles"] if o not in prev["oracles"]]
        p = paper_row(r["oracles"])
        paper_gain = p["gain"] if p and paper_row(prev["oracles"]) else None
        out.append(("+".join(new) or "none", r["gain"], paper_gain))
    return out


def oracle_on_frame(model, dataset, video_index, frame_index, rows=None):
    """One frame through the model once per row of the study (default: the paper's
    cumulative rows), each row's oracles applied to that frame: what the study does to every
    frame, on one. The frame is run as its video's first (the tracker starts empty), so
    the track oracle's ids are the ground truth's and the others' are new. Returns
    ``[(row name, the frame's output)]`` and the frame's ground truth
    (``dataset.get_frame_ann``: original pixels)."""
    import torch
    from ..inference import frame_inputs
    idx = dataset.frame_index.index((video_index, frame_index))
    img, meta = frame_inputs(dataset[idx])
    meta = dict(meta, is_first=True)
    device = next(model.parameters()).device
    default_fill = model.filler.max_fill if has_filling(model) else None
    outputs = []
    try:
        for name, oracles in resolve_rows(rows):
            set_filling_for(model, oracles, default_fill)
            hook = OracleHookFactory(oracles)(dataset, video_index, frame_index)
            with torch.no_grad():
                out = model.simple_test(img[None].to(device), [meta], frame_hook=hook)[0]
            outputs.append((name, out))
    finally:
        set_filling_for(model, (), default_fill)
    return outputs, dataset.get_frame_ann(video_index, frame_index)
