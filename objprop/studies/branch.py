"""ObjProp's propagation branch taken apart, and measured on its own (compute).

The propagation chapter (``book/propagation.md``) shows one frame pair step by step and then
measures how good the propagated masks are, independent of the tracker and of filling. Every
step here calls the model's own parts (``extract_feat``, ``PropagationHead.prop_features``,
``.affinity``, ``.forward``, :func:`objprop.models.prop_head.masks_to_image`): nothing is
re-implemented, so what the chapter shows is what inference runs.

The measurement (:func:`propagation_ious`) propagates every ground-truth instance of a split
from frame t-δ to frame t for δ = 1…8, starting either from its **ground-truth box** at t-δ
(the branch's own quality) or from the **detector's box** there (the detection of this model
that overlaps the ground-truth box most, box IoU ≥ 0.5; none: the instance-frame is counted
as a miss with IoU 0), and scores the propagated mask (thresholded at the config's
``prop.mask_thr``) against the ground-truth mask at t, split by ToyVIS's easy and hard
target frames. The detector's own best mask on the same instance-frame is recorded beside it:
propagation can only help where it beats that.
"""
import numpy as np
import torch

from ..data.ytvis import annotations_by_video, decode_segmentation, mask_to_bbox, xywh_to_xyxy
from ..errors import ObjPropError


BOX_SOURCES = ("gt", "detector")

class FrameCache:
    """One video's frames through the config's test pipeline, with their FPN and
    propagation features and detections computed once (δ = 1…8 reuse every frame)."""

    def __init__(self, model, dataset, video_index):
        self.model, self.dataset, self.vi = model, dataset, video_index
        self.index = {fi: i for i, (vi, fi) in enumerate(dataset.frame_index)
                      if vi == video_index}
        self._frames, self._dets = {}, {}
        self.device = next(model.parameters()).device

    def frame(self, fi):
        """dict(img, meta, x (FPN levels), feat (the propagation head's ``F``))."""
        if fi not in self._frames:
            if fi not in self.index:
                raise ObjPropError(f"frame {fi} is not in video index {self.vi}")
            data = self.dataset[self.index[fi]]
            img = data["img"][0] if isinstance(data["img"], list) else data["img"]
            meta = data["img_metas"][0] if isinstance(data["img_metas"], list) else \
                data["img_metas"]
            meta = meta.data if hasattr(meta, "data") else meta
            img = img[None].to(self.device)
            with torch.no_grad():
                x = self.model.extract_feat(img)
                feat = self.model.prop_head.prop_features(x)
            self._frames[fi] = dict(img=img, meta=meta, x=x, feat=feat)
        return self._frames[fi]

    def detections(self, fi):
        """This model's detections in frame ``fi``: boxes (original pixels), labels,
        binary masks at the original size."""
        if fi not in self._dets:
            f = self.frame(fi)
            roi = self.model.roi_head
            with torch.no_grad():
                proposals = self.model.rpn_head.simple_test_rpn(f["x"], [f["meta"]])
                boxes, _, labels = roi.detect(f["x"], [f["meta"]], proposals)
                masks = roi.predict_masks(f["x"], boxes, labels, f["meta"])
            scale = boxes.new_tensor(f["meta"]["scale_factor"])
            self._dets[fi] = dict(boxes=(boxes / scale).cpu().numpy(),
                                  labels=labels.cpu().numpy(), masks=masks)
        return self._dets[fi]


def propagate(model, cache, t, ref, ref_boxes, labels=None):
    """Propagate instances given by their boxes at frame ``ref`` (original pixels, (N, 4)
    x1 y1 x2 y2) to frame ``t``; every intermediate of the branch, for one frame pair:

    ``feat_t``, ``feat_ref`` (1, C, h, w): ``F`` of each frame; ``affinity`` (hw, hw): row i
    is how position i of frame t draws on each position of the reference frame;
    ``box_maps`` (N, h, w): the boxes at t-δ at feature resolution; ``propagated`` (N, h, w):
    ``W b``; ``attention`` (N, h, w); ``mask_prob`` (N, H, W): the head's mask at the
    original frame size.
    """
    from ..models.prop_head import box_maps, masks_to_image
    head = model.prop_head
    ft, fr = cache.frame(t), cache.frame(ref)
    boxes = torch.as_tensor(np.asarray(ref_boxes, dtype=np.float32).reshape(-1, 4),
                            device=cache.device)
    pad_boxes = boxes * boxes.new_tensor(fr["meta"]["scale_factor"])
    h, w = ft["feat"].shape[-2:]
    with torch.no_grad():
        affinity = head.affinity(ft["feat"], fr["feat"])
        out = head(ft["feat"], fr["feat"], pad_boxes, affinity, labels=labels)
        prob = masks_to_image(out["mask_prob"], ft["meta"], head.feat_stride / 2)
    return dict(feat_t=ft["feat"], feat_ref=fr["feat"], affinity=affinity[0],
                box_maps=box_maps(pad_boxes, (h, w), head.feat_stride).view(-1, h, w),
                propagated=out["propagated"], attention=out["attention"],
                mask_prob=prob.cpu().numpy(), feature_size=(h, w), meta_t=ft["meta"])


def gt_instances(anns, frame, h, w):
    """The ground-truth instances present in ``frame``: ``{annotation id: (category id,
    mask (h, w) bool, box x1 y1 x2 y2)}``."""
    out = {}
    for a in anns:
        segm = a["segmentations"][frame]
        mask = decode_segmentation(segm, h, w) if segm is not None else None
        if mask is None or not mask.any():
            continue
        out[a["id"]] = (a["category_id"], mask, np.asarray(xywh_to_xyxy(mask_to_bbox(mask)),
                                                            dtype=np.float32))
    return out


def mask_iou(a, b):
    """IoU of two boolean masks of one size (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def box_iou(box, boxes):
    """IoU of one box with each of ``boxes`` (x1 y1 x2 y2): mmdet's ``bbox_overlaps``, as
    the oracle study uses."""
    from mmdet.core import bbox_overlaps
    if not len(boxes):
        return np.zeros(0)
    return bbox_overlaps(torch.as_tensor(np.asarray(box, np.float32)[None]),
                         torch.as_tensor(np.asarray(boxes, np.float32)))[0].numpy()


def split_propagation_ious(config, checkpoint, data_root, split, video_ids,
                           deltas=range(1, 9), box_sources=BOX_SOURCES, jobs=None):
    """:func:`propagation_ious` of ``checkpoint`` over ``video_ids`` of a split (in the
    dataset's order), the videos cut into contiguous parts run side by side
    (:func:`objprop.studies.jobs.run_jobs`, one process per core, each loading the model):
    the same records, in the same order, as one pass over them."""
    from ..training.threads import parallel_jobs
    from .jobs import run_jobs
    ids = list(video_ids)
    n_parts = max(1, min(len(ids), jobs or parallel_jobs()))
    parts = [list(p) for p in np.array_split(ids, n_parts) if len(p)]
    calls = [((config, checkpoint, data_root, split, [int(v) for v in part]),
              dict(deltas=list(deltas), box_sources=tuple(box_sources))) for part in parts]
    return [r for part in run_jobs(_propagation_ious_of_videos, calls, jobs) for r in part]


def _propagation_ious_of_videos(config, checkpoint, data_root, split, video_ids, deltas,
                                box_sources):
    from .scoring import load_split
    from .store import subset_gt
    s = load_split(config, data_root, split, checkpoint)
    return propagation_ious(s.model, s.dataset, subset_gt(s.cfg.data.test.ann_file, video_ids),
                            deltas=deltas, box_sources=box_sources, progress=False)


def propagation_ious(model, dataset, gt, deltas=range(1, 9), box_sources=BOX_SOURCES,
                     max_videos=None, progress=True):
    """One record per (ground-truth instance-frame t, δ, box source) of the split:
    ``video_id, frame, delta, instance, hard (bool), source, iou`` (the propagated mask's
    IoU with the ground truth at t) and ``detector_iou`` (the best IoU of any of the
    detector's masks at t with it)."""
    from tqdm import tqdm
    if not hasattr(model, "prop_head"):
        raise ObjPropError("this model has no propagation head (an ObjProp config is needed)")
    thr = model.filler.mask_thr
    anns = annotations_by_video(gt)
    videos = {v["id"]: v for v in gt["videos"]}
    order = [(vi, info["id"]) for vi, info in enumerate(dataset.vid_infos)
             if info["id"] in videos][:max_videos]
    records = []
    for vi, vid in tqdm(order, desc="propagation", unit="video", disable=not progress):
        video, cache = videos[vid], FrameCache(model, dataset, vi)
        h, w = video["height"], video["width"]
        hard = video.get("hard_frames") or {}
        inst = {f: gt_instances(anns[vid], f, h, w) for f in range(video["length"])}
        for t in range(video["length"]):
            if not inst[t]:
                continue
            det_t = cache.detections(t)
            for delta in deltas:
                ref = t - delta
                if ref < 0:
                    continue
                shared = [k for k in inst[t] if k in inst[ref]]
                for source in box_sources:
                    boxes, keep = _source_boxes(cache, inst[ref], shared, source, ref)
                    labels = [dataset.cat2label[inst[ref][k][0]] for k in keep]
                    probs = (propagate(model, cache, t, ref, boxes, labels)["mask_prob"]
                             if keep else [])
                    got = dict(zip(keep, probs))
                    for k in shared:
                        mask_t = inst[t][k][1]
                        iou = mask_iou(got[k] > thr, mask_t) if k in got else 0.0
                        det = max((mask_iou(m, mask_t) for m in det_t["masks"]), default=0.0)
                        records.append(dict(video_id=vid, frame=t, delta=delta, instance=k,
                                            hard=str(t) in hard, source=source, iou=iou,
                                            detector_iou=det))
    return records


def _source_boxes(cache, inst_ref, keys, source, ref):
    """The boxes at the reference frame to propagate from, and the instances they belong to."""
    if source == "gt":
        return [inst_ref[k][2] for k in keys], list(keys)
    if source != "detector":
        raise ObjPropError(f"unknown box source {source!r}; choose one of {BOX_SOURCES}")
    det = cache.detections(ref)
    boxes, keep = [], []
    for k in keys:
        ious = box_iou(inst_ref[k][2], det["boxes"])
        if len(ious) and ious.max() >= 0.5:
            boxes.append(det["boxes"][int(ious.argmax())])
            keep.append(k)
    return boxes, keep


def summarize_ious(records, hit=0.5):
    """Rows per (source, frame kind, δ): mean propagated IoU, share ≥ ``hit``, the
    detector's mean best IoU on the same instance-frames, the share where propagation beats
    the detector, and the count."""
    groups = {}
    for r in records:
        kind = "hard" if r["hard"] else "easy"
        groups.setdefault((r["source"], kind, r["delta"]), []).append(r)
    rows = []
    for (source, kind, delta), rs in sorted(groups.items()):
        iou = np.array([r["iou"] for r in rs])
        det = np.array([r["detector_iou"] for r in rs])
        rows.append(dict(source=source, frames=kind, delta=delta, n=len(rs),
                         iou=float(iou.mean()), hit=float((iou >= hit).mean()),
                         detector_iou=float(det.mean()), beats_detector=float((iou > det).mean())))
    return rows


def pick_pair(gt, delta=1, video_id=None):
    """(video id, t, annotation id) of the pair the chapter shows: the first hard frame t
    (ToyVIS marks them) whose instance is also in frame t-δ, else the first such frame."""
    anns = annotations_by_video(gt)
    videos = [v for v in gt["videos"] if video_id is None or v["id"] == video_id]
    for want_hard in (True, False):
        for v in videos:
            hard = v.get("hard_frames") or {}
            for t in range(delta, v["length"]):
                if want_hard and str(t) not in hard:
                    continue
                for a in anns[v["id"]]:
                    if a["segmentations"][t] is not None and \
                            a["segmentations"][t - delta] is not None:
                        return v["id"], t, a["id"]
    raise ObjPropError(f"no instance is present in two frames {delta} apart")


def feature_cell(box, meta, stride):
    """(row, column) of the feature-grid cell holding the centre of ``box`` (original
    pixels, x1 y1 x2 y2) in a frame with ``meta``."""
    scale = np.asarray(meta["scale_factor"], dtype=float)[:2]
    cx, cy = (np.asarray(box[:2], float) + np.asarray(box[2:4], float)) / 2 * scale / stride
    return int(cy), int(cx)
