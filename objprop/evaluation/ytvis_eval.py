"""The 12 YouTube-VIS stats, with the numbers of the official evaluator.

The official code (``ytvos.py`` / ``ytvoseval.py`` in youtubevos/cocoapi) is COCOeval with
"image" replaced by "video": the same per-(video, category) greedy matching, the same
accumulation and the same summary, only the IoU is a video IoU and the area of a track is
the mean of its per-frame areas. So instead of porting that logic (and its corner cases:
the precision envelope, ``searchsorted`` on the recall thresholds, -1 for settings without
ground truth, crowd and area-range ignore flags), we run pycocotools' own ``COCOeval``
matching, accumulation and summary over videos, and hand it our video IoUs: parity comes
from running the same code, not from re-reading it.

Crowd ground truth is scored as ``ytvoseval.py`` scores it: the plain video IoU (its
``computeIoU`` builds ``iscrowd`` but never passes it to the IoU, lines 198–217), with the
crowd track's ``ignore`` flag set as COCOeval sets it (line 117).

Where we differ from ``ytvoseval.py`` on purpose (numbers unchanged):

* the IoU is computed once per frame for all pairs (``tracks.frame_intersections``, kept
  by ``tracks.VideoPairs`` for the other metrics of the same file), not per pair and frame
  in Python: same numbers (``tracks.video_ious_ytvoseval``, the transcription, checks it);
* internal ids start at 1 for ground truth too, so an annotation with id 0 cannot be
  mistaken for "unmatched" by COCOeval's ``dtm == 0`` test.
"""
import contextlib
import io
from collections import defaultdict

import numpy as np

from . import tracks as T

STAT_NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl",
              "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
# YouTube-VIS ranges (ytvoseval.Params): COCO's 32² / 96² become 128² / 256²
AREA_RANGES = [[0 ** 2, 1e5 ** 2], [0 ** 2, 128 ** 2], [128 ** 2, 256 ** 2],
               [256 ** 2, 1e5 ** 2]]
AREA_LABELS = ["all", "small", "medium", "large"]
MAX_DETS = [1, 10, 100]


def _video_cocoeval(gt_by_video, dt_by_video, cat_ids, iou_fn, per_video=True,
                    video_iou=None):
    """A pycocotools ``COCOeval`` whose "images" are videos and whose IoU is ``iou_fn``.

    ``gt_by_video`` / ``dt_by_video``: ``{video_id: [Track]}``; ``iou_fn(dets, gts)``
    returns the (D, G) video IoUs. Built as a subclass so ``evaluate``, ``evaluateImg``,
    ``accumulate`` and ``summarize`` are pycocotools' own. ``per_video``: call ``iou_fn``
    once per video for all its tracks (fewer, larger batched calls; pairs across categories
    cost little since pycocotools skips masks whose boxes do not overlap) and slice the
    matrix per category; else once per (video, category), as ytvoseval does.
    ``video_iou(vid)``: the per-video matrix from elsewhere (shared intersections).
    """
    if video_iou is None:
        def video_iou(vid):
            return iou_fn(dt_by_video[vid], gt_by_video[vid])
    from pycocotools.cocoeval import COCOeval

    class VideoCOCOeval(COCOeval):
        def _prepare(self):
            # COCOeval would read COCO objects; we fill its per-(image, category) lists.
            self._gts, self._dts = defaultdict(list), defaultdict(list)
            gt_id = dt_id = 0
            for vid, tracks in gt_by_video.items():
                for k, t in enumerate(tracks):
                    gt_id += 1
                    self._gts[vid, t.category_id].append(dict(
                        id=gt_id, iscrowd=int(t.iscrowd), ignore=int(t.iscrowd),
                        area=t.avg_area, track=t, index=k))
            for vid, tracks in dt_by_video.items():
                for k, t in enumerate(tracks):
                    dt_id += 1
                    self._dts[vid, t.category_id].append(dict(
                        id=dt_id, iscrowd=0, score=t.score, area=t.avg_area, track=t,
                        index=k))
            self.evalImgs = defaultdict(list)
            self.eval = {}
            self._video_ious = {}

        def computeIoU(self, vid, cat):
            gt, dt = self._gts[vid, cat], self._dts[vid, cat]
            if len(gt) == 0 and len(dt) == 0:
                return []
            # the same order and cut as COCOeval.computeIoU / evaluateImg
            order = np.argsort([-d["score"] for d in dt], kind="mergesort")
            dt = [dt[i] for i in order][:self.params.maxDets[-1]]
            if not per_video:
                return iou_fn([d["track"] for d in dt], [g["track"] for g in gt])
            if vid not in self._video_ious:
                self._video_ious[vid] = video_iou(vid)
            return self._video_ious[vid][np.ix_([d["index"] for d in dt],
                                                [g["index"] for g in gt])]

    ev = VideoCOCOeval(iouType="segm")
    p = ev.params
    p.imgIds = sorted(gt_by_video)
    p.catIds = sorted(cat_ids)
    p.areaRng, p.areaRngLbl, p.maxDets = AREA_RANGES, AREA_LABELS, MAX_DETS
    return ev


def _run_quietly(ev):
    """evaluate → accumulate → summarize without COCOeval's progress prints."""
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _per_category_ap(ev, names):
    """AP (IoU .50:.95, all areas, 100 dets) of each category, -1 without ground truth."""
    precision = ev.eval["precision"]   # [T, R, K, A, M]
    out = {}
    for k, cid in enumerate(ev.params.catIds):
        s = precision[:, :, k, 0, -1]
        s = s[s > -1]
        out[names[cid]] = float(s.mean()) if s.size else -1.0
    return out


def evaluate_tracks(gt, gt_by_video, dt_by_video, per_category=True, iou_fn=None,
                    per_video=True, video_iou=None):
    """The stats from prepared tracks; ``iou_fn`` and ``per_video`` swap the IoU and its
    batching (the benchmark's transcription of the official IoU uses them), ``video_iou``
    gives each video's matrix (:meth:`tracks.VideoPairs.video_ious`). See
    ``ytvis_evaluate``."""
    iou_fn = iou_fn or T.video_ious
    cat_ids = [c["id"] for c in gt["categories"]]
    ev = _run_quietly(_video_cocoeval(gt_by_video, dt_by_video, cat_ids, iou_fn,
                                      per_video, video_iou))
    out = {name: float(v) for name, v in zip(STAT_NAMES, ev.stats)}
    if per_category:
        out["per_category_AP"] = _per_category_ap(
            ev, {c["id"]: c["name"] for c in gt["categories"]})
    return out


def ytvis_evaluate(gt, results, per_category=True, pairs=None):
    """The 12 YouTube-VIS stats of ``results`` against ``gt`` (both parsed and validated,
    e.g. by ``objprop.data.ytvis``).

    Returns ``{name: value for name in STAT_NAMES}`` (fractions in [0, 1], -1 where the
    setting has no ground truth, e.g. ``APl`` without large objects) plus, with
    ``per_category``, ``per_category_AP``: ``{category name: AP or -1}``. Empty
    ``results`` give 0 wherever there is ground truth. ``pairs``: the
    :class:`~objprop.evaluation.tracks.VideoPairs` of ``gt`` and ``results``, when the
    caller scores the same file with other metrics too.
    """
    pairs = pairs or T.VideoPairs(gt, results)
    return evaluate_tracks(gt, pairs.gt_by_video, pairs.dt_by_video,
                           per_category=per_category, video_iou=pairs.video_ious)
