"""Tracks as RLE lists, and their overlaps: per frame and over the whole video.

Both the YouTube-VIS stats and the stability metrics compare every result track with every
ground-truth track of the same video and category. The costly part is the mask overlap;
this module does it once per frame for all pairs at a time (one ``pycocotools.mask.iou``
call on compressed RLEs), never per pair and frame in Python, and :class:`VideoPairs` keeps
the per-frame intersections so that every metric of one results file reuses them.

Video-level IoU as in the YouTube-VIS fork of the COCO API (``ytvoseval.py``)::

    IoU(d, g) = sum_f |d_f ∩ g_f| / sum_f |d_f ∪ g_f|

where a frame with only one side present adds that side's area to the union. Summed over
frames that is ``I / (A_d + A_g - I)`` with ``A`` the total areas, which is what we compute.
"""
from dataclasses import dataclass

import numpy as np

from ..data.ytvis import segmentation_kind


@dataclass
class Track:
    """One annotation or result: compressed RLE (or ``None``) per frame and its areas."""
    rles: list            # per frame: {"size", "counts"} or None
    areas: np.ndarray     # (F,) float pixel counts, 0 where None
    present: np.ndarray   # (F,) bool: a mask is given (it may still be empty)
    score: float = 0.0
    category_id: int = 0
    iscrowd: bool = False
    avg_area: float = 0.0  # the area used for the small / medium / large ranges

    @property
    def visible(self):
        """(F,) bool: a non-empty mask (what "the instance is there" means)."""
        return self.areas > 0


def to_rle(segm, h, w):
    """Any segmentation the files allow → compressed RLE pycocotools reads, or ``None``."""
    import pycocotools.mask as mask_utils
    kind = segmentation_kind(segm)
    if kind == "none":
        return None
    if kind == "polygon":
        return mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
    if kind == "rle_list":
        return mask_utils.frPyObjects(segm, h, w)
    counts = segm["counts"]
    # bytes once here, so pycocotools does not re-encode the string on every call
    return {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str)
            else counts}


def make_track(segms, h, w, score=0.0, category_id=0, iscrowd=False, file_areas=None):
    """Build a ``Track``; ``avg_area`` is the mean of the truthy per-frame areas, as
    ytvos.py computes it (``[a for a in areas if a]``: null *and* zero areas are left out),
    from ``file_areas`` (ground truth's ``areas`` list) when given, else from the masks."""
    import pycocotools.mask as mask_utils
    # the common case (a compressed RLE string of a validated file) inline: a file holds
    # tens of thousands of masks, and a call per mask was a tenth of `objprop evaluate`
    rles = [{"size": [h, w], "counts": s["counts"].encode("ascii")}
            if type(s) is dict and type(s.get("counts")) is str else to_rle(s, h, w)
            for s in segms]
    present = np.array([r is not None for r in rles], dtype=bool)
    areas = np.zeros(len(rles))
    if present.any():
        areas[present] = mask_utils.area([r for r in rles if r is not None])
    source = areas if file_areas is None else file_areas
    truthy = [float(a) for a in source if a]
    return Track(rles=rles, areas=areas, present=present, score=float(score),
                 category_id=category_id, iscrowd=bool(iscrowd),
                 avg_area=float(np.mean(truthy)) if truthy else 0.0)


def gt_tracks(gt):
    """``{video_id: [Track per annotation, in file order]}`` (every video present)."""
    videos = {v["id"]: v for v in gt["videos"]}
    out = {vid: [] for vid in videos}
    for a in gt.get("annotations", []):
        v = videos[a["video_id"]]
        out[v["id"]].append(make_track(a["segmentations"], v["height"], v["width"],
                                       category_id=a["category_id"],
                                       iscrowd=a.get("iscrowd", 0),
                                       file_areas=a.get("areas")))
    return out


def result_tracks(gt, results):
    """``{video_id: [Track per result, in file order]}`` for the ground truth's videos.

    Extra keys (``track_id``, ``filled``) are ignored: the metrics score masks only.
    """
    videos = {v["id"]: v for v in gt["videos"]}
    out = {vid: [] for vid in videos}
    for r in results:
        v = videos[r["video_id"]]
        out[v["id"]].append(make_track(r["segmentations"], v["height"], v["width"],
                                       score=r["score"], category_id=r["category_id"]))
    return out


class VideoPairs:
    """The tracks of one ground truth and one results file, and the per-frame intersections
    of every result track with every ground-truth track of its video and category (0 for
    a pair of two categories, which no metric compares): computed once per video, on
    first use, and shared by the 12 stats (:func:`objprop.evaluation.ytvis_evaluate`), the
    stability metrics and the tracking metrics, which each computed them again before."""

    def __init__(self, gt, results):
        self.gt_by_video = gt_tracks(gt)
        self.dt_by_video = result_tracks(gt, results)
        self.n_frames = {v["id"]: v["length"] for v in gt["videos"]}
        self._inter, self._video_ious, self._frame_ious = {}, {}, {}

    def intersections(self, vid):
        """(F, D, G) pixel counts |d_f ∩ g_f| of all of video ``vid``'s result tracks
        (``dt_by_video[vid]``, in that order) against its ground-truth tracks."""
        if vid not in self._inter:
            inter = frame_intersections(self.dt_by_video[vid], self.gt_by_video[vid],
                                        same_category=True)
            if not inter.shape[0]:   # no track on either side
                inter = np.zeros((self.n_frames[vid],) + inter.shape[1:])
            self._inter[vid] = inter
        return self._inter[vid]

    def video_ious(self, vid):
        """(D, G) video IoUs of all of ``vid``'s result and ground-truth tracks (computed
        once; a subset of the tracks is a slice of it: the IoUs are per pair)."""
        if vid not in self._video_ious:
            self._video_ious[vid] = video_ious(self.dt_by_video[vid], self.gt_by_video[vid],
                                               self.intersections(vid))
        return self._video_ious[vid]

    def frame_ious(self, vid):
        """(F, D, G) per-frame IoUs of all of ``vid``'s pairs (:func:`all_frame_ious`,
        computed once; sliced by the metrics that read a subset)."""
        if vid not in self._frame_ious:
            self._frame_ious[vid] = all_frame_ious(self.intersections(vid),
                                                   self.dt_by_video[vid], self.gt_by_video[vid])
        return self._frame_ious[vid]


def frame_intersections(dets, gts, same_category=False):
    """(F, D, G) pixel counts |d_f ∩ g_f|: one batched RLE call per frame.

    ``pycocotools.mask.iou`` returns i / u with u = a_d + a_g - i, so i is recovered
    exactly as round(iou * (a_d + a_g) / (1 + iou)) (integers far below 2**53). The loop
    over frames does only what must be per frame (the masks present, the C call); the
    pairs' flat indices into the result and the arithmetic are computed once for all frames.

    ``same_category``: only the pairs of one category are computed, the others left 0 (all
    the metrics compare a result with the ground truth of its own category): a frame
    without such a pair makes no call, and a mask without a partner there is not decoded.
    """
    import pycocotools.mask as mask_utils
    n_frames = len(dets[0].rles) if dets else len(gts[0].rles) if gts else 0
    n_d, n_g = len(dets), len(gts)
    inter = np.zeros((n_frames, n_d, n_g))
    if not dets or not gts:
        return inter
    d_present = np.stack([d.present for d in dets], 1)                       # (F, D)
    g_present = np.stack([g.present for g in gts], 1)                        # (F, G)
    wanted = d_present[:, :, None] & g_present[:, None, :]                   # (F, D, G)
    if same_category:
        same = (np.array([d.category_id for d in dets])[:, None] ==
                np.array([g.category_id for g in gts])[None, :])                 # (D, G)
        wanted &= same
    d_wanted, g_wanted = wanted.any(2), wanted.any(1)                        # (F, D), (F, G)
    calls = np.flatnonzero(d_wanted.any(1))
    if not calls.size:
        return inter
    # per frame, the masks wanted there in track order: Python lists, the loop's cost
    d_frames, g_frames = list(zip(*[d.rles for d in dets])), list(zip(*[g.rles for g in gts]))
    d_rows, g_rows = d_wanted.tolist(), g_wanted.tolist()
    ious = []
    for t in calls.tolist():
        ds = [r for r, k in zip(d_frames[t], d_rows[t]) if k]
        gs = [r for r, k in zip(g_frames[t], g_rows[t]) if k]
        ious.append(mask_utils.iou(ds, gs, [0] * len(gs)).ravel())
    # the same pairs in the same (frame, result, ground truth) order as the calls above,
    # then those asked for (the calls also paired masks of two categories)
    flat = np.flatnonzero(d_wanted[:, :, None] & g_wanted[:, None, :])
    iou = np.clip(np.concatenate(ious), 0, None)  # -1 would mean a size mismatch: validated
    asked = wanted.ravel()[flat]
    flat, iou = flat[asked], iou[asked]
    f, pair = np.divmod(flat, n_d * n_g)
    d, g = np.divmod(pair, n_g)
    total = np.stack([t.areas for t in dets])[d, f] + np.stack([t.areas for t in gts])[g, f]
    inter.flat[flat] = np.rint(iou * total / (1 + iou))
    return inter


def video_ious(dets, gts, inter=None):
    """(D, G) video IoUs, crowd ground truth included: the official evaluator builds an
    ``iscrowd`` list but scores crowd tracks with the plain video IoU (youtubevos/cocoapi
    ``PythonAPI/pycocotools/ytvoseval.py`` lines 198–217, ``maskUtils.iou(d, g, iscrowd)``
    commented out at 199); crowd tracks still only *ignore* matches (COCOeval's flags)."""
    if inter is None:
        inter = frame_intersections(dets, gts)
    if not dets or not gts:
        return np.zeros((len(dets), len(gts)))
    i = inter.sum(0)
    a_d = np.array([d.areas.sum() for d in dets])[:, None]
    a_g = np.array([g.areas.sum() for g in gts])[None, :]
    union = a_d + a_g - i
    return np.divide(i, union, out=np.zeros_like(i), where=union > 0)


def all_frame_ious(inter, dets, gts):
    """(F, D, G) per-frame IoUs of every pair: :func:`frame_ious` for all pairs at once
    (the same arithmetic, element by element)."""
    if not dets or not gts:
        return np.zeros(inter.shape)
    d_areas, g_areas = np.stack([d.areas for d in dets], 1), np.stack([g.areas for g in gts], 1)
    both = np.stack([d.present for d in dets], 1)[:, :, None] & \
        np.stack([g.present for g in gts], 1)[:, None, :]
    union = d_areas[:, :, None] + g_areas[:, None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=both & (union > 0))


def frame_ious(inter, det, gt, d_index, g_index):
    """(F,) per-frame IoU of one result and one ground-truth track (0 where either is
    missing or both are empty)."""
    i = inter[:, d_index, g_index]
    union = det.areas + gt.areas - i
    both = det.present & gt.present
    return np.divide(i, union, out=np.zeros_like(i), where=both & (union > 0))


def video_ious_ytvoseval(dets, gts):
    """The official evaluator's video IoU, transcribed: youtubevos/cocoapi
    ``PythonAPI/pycocotools/ytvoseval.py`` lines 200-217 (``iou_seq`` and its loop over
    every (result, ground truth) pair), on the tracks' RLEs (``None`` where a frame has no
    mask, as the file's null). Per pair and frame, an RLE merge for the intersection and one
    for the union. The tests and ``benchmarks/bench_eval.py`` check :func:`video_ious`
    against it."""
    import pycocotools.mask as maskUtils

    def iou_seq(d_seq, g_seq):
        i = .0
        u = .0
        for d, g in zip(d_seq, g_seq):
            if d and g:
                i += maskUtils.area(maskUtils.merge([d, g], True))
                u += maskUtils.area(maskUtils.merge([d, g], False))
            elif not d and g:
                u += maskUtils.area(g)
            elif d and not g:
                u += maskUtils.area(d)
        iou = i / u if u > .0 else .0
        return iou

    d = [t.rles for t in dets]
    g = [t.rles for t in gts]
    ious = np.zeros([len(d), len(g)])
    for i, j in np.ndindex(ious.shape):
        ious[i, j] = iou_seq(d[i], g[j])
    return ious
