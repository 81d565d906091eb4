"""``YouTubeVISDataset``: YouTube-VIS (and ToyVIS) frames as mmdet 2.x samples.

MaskTrack R-CNN and ObjProp learn from PAIRS of frames: frame t, and a reference frame
t-δ of the same video whose instances carry the same ids, so the tracking head learns to
match embeddings and the propagation head learns to carry a mask from t-δ to t. At test
time the model is online: it sees the frames of each video in order, one at a time.

Training sample (``test_mode=False``), one per (video, frame) whose frame has at least one
non-crowd instance, as produced by the configs' train pipeline::

    img          DataContainer(float tensor (3, H, W), stack=True)
    img_metas    DataContainer(dict: filename, ori_shape, img_shape, pad_shape,
                               scale_factor, flip, flip_direction, img_norm_cfg, ...)
    gt_bboxes    DataContainer(float tensor (n, 4), x1 y1 x2 y2 in resized pixels)
    gt_labels    DataContainer(long tensor (n,)): 0-based indices into CLASSES
    gt_masks     DataContainer(BitmapMasks (n, H', W'), cpu_only)
    gt_ids       DataContainer(long tensor (n,)): YouTube-VIS annotation ids
    ref_img, ref_img_metas, ref_gt_bboxes, ref_gt_labels, ref_gt_masks, ref_gt_ids
                 the same for frame t-δ (same pipeline, same flip)

Test sample (``test_mode=True``), one per frame, video by video in order: whatever the
test pipeline collects; the frame's ``video_id``, ``frame_id``, ``is_first`` and
``vid_len`` are put in the results dict so that Collect can copy them into ``img_metas``
(list them in its ``meta_keys``, as ``configs/_base_/datasets/youtube_vis.py`` does).

The train pipeline's Collect must keep ``gt_ids`` (list it in ``keys``); this class wraps
it into a DataContainer, which DefaultFormatBundle does not do for unknown keys. The flip
of frame t is preset on the reference frame's results, which mmdet's RandomFlip respects,
so both frames flip together; keep ``flip`` and ``flip_direction`` in Collect's meta_keys
(mmdet's default). Reference frames are drawn with numpy's global generator, which mmdet
seeds per worker.
"""
import json
import os.path as osp

import numpy as np
from mmcv.parallel import DataContainer as DC
from mmdet.datasets.builder import DATASETS
from mmdet.datasets.coco import CocoDataset
from mmdet.datasets.custom import CustomDataset
from mmdet.datasets.pipelines import to_tensor

from ..errors import ObjPropError
from .ytvis import annotations_by_video, decode_segmentation, load_ytvis, mask_to_bbox


@DATASETS.register_module()
class YouTubeVISDataset(CustomDataset):
    """mmdet dataset over a YouTube-VIS annotation file and its frame folder.

    Args:
        ann_file: ``instances_*.json`` (YouTube-VIS 2019/2021 ground truth).
        pipeline: mmdet pipeline, run on frame t and (training) on the reference frame.
        img_prefix: folder holding ``<video>/<frame>.jpg`` (``.../JPEGImages``).
        test_mode: ordered frames for online inference instead of training pairs.
        ref_frame_range: inclusive (min, max) of δ. The reference frame is t-δ when some
            earlier frame in range has an instance, else t+δ, else t itself.
        ref_sampling: ``'range'`` (default) samples δ as above; ``'any'`` is the ObjProp
            authors' sampling: any other frame of the video with an instance, earlier or
            later, uniformly (their ``mmdet/datasets/ytvos.py`` ``sample_ref``, lines
            198–210: ``i != frame_id and ref_idx in self.img_ids``, ``img_ids`` being the
            frames with a box, lines 66–69), ``ref_frame_range`` ignored; t itself only
            when no other frame qualifies (where theirs fails an assert).
        classes: category names to keep (default: all, in the file's order).
        filter_empty_gt: training only: skip frames without a non-crowd instance.
        check_files: check at construction that every frame file exists.
    """

    CLASSES = None

    def __init__(self, ann_file, pipeline, img_prefix='', test_mode=False,
                 ref_frame_range=(1, 5), ref_sampling='range', classes=None,
                 filter_empty_gt=True, check_files=True, **kwargs):
        lo, hi = (int(x) for x in ref_frame_range)
        if not 0 <= lo <= hi:
            raise ObjPropError(f"ref_frame_range must be (min, max) with 0 <= min <= max, "
                               f"got {ref_frame_range}", path=ann_file)
        if ref_sampling not in ('range', 'any'):
            raise ObjPropError(f"ref_sampling must be 'range' or 'any', got {ref_sampling!r}",
                               path=ann_file)
        self.ref_frame_range = (lo, hi)
        self.ref_sampling = ref_sampling
        self.check_files = check_files
        super().__init__(ann_file, pipeline, classes=classes, img_prefix=img_prefix,
                         test_mode=test_mode, filter_empty_gt=filter_empty_gt, **kwargs)
        self.frame_index = [(d["video_index"], d["frame_index"]) for d in self.data_infos]
        if not hasattr(self, "flag"):
            self._set_group_flag()

    # ---------------------------------------------------------------- loading

    def load_annotations(self, ann_file):
        """Validate the file, keep videos and their annotations; one info per frame."""
        gt = load_ytvis(ann_file)
        self.categories = self._select_categories(gt["categories"], ann_file)
        self.CLASSES = tuple(c["name"] for c in self.categories)
        self.cat_ids = [c["id"] for c in self.categories]
        self.cat2label = {cid: i for i, cid in enumerate(self.cat_ids)}
        self.vid_infos = gt["videos"]
        by_video = annotations_by_video(gt)
        self.video_anns = [[a for a in by_video[v["id"]] if a["category_id"] in self.cat2label]
                           for v in self.vid_infos]
        self.frame_has_gt = [self._frames_with_instances(vi) for vi in range(len(gt["videos"]))]
        if self.check_files:
            self._check_frame_files()
        return [dict(filename=name, height=v["height"], width=v["width"], video_index=vi,
                     frame_index=f, video_id=v["id"])
                for vi, v in enumerate(self.vid_infos)
                for f, name in enumerate(v["file_names"])]

    def _select_categories(self, categories, ann_file):
        if self.CLASSES is None:
            return list(categories)
        by_name = {c["name"]: c for c in categories}
        unknown = [n for n in self.CLASSES if n not in by_name]
        if unknown:
            raise ObjPropError(f"classes {unknown} are not categories of this file",
                               path=ann_file)
        return [by_name[n] for n in self.CLASSES]

    def _frames_with_instances(self, vi):
        """Per frame of video ``vi``: does it hold a non-crowd instance of a kept class?"""
        has = np.zeros(self.vid_infos[vi]["length"], bool)
        for a in self.video_anns[vi]:
            if not a.get("iscrowd", 0):
                has |= np.array([s is not None for s in a["segmentations"]])
        return has

    def _frame_path(self, vi, fi):
        name = self.vid_infos[vi]["file_names"][fi]
        return osp.join(self.img_prefix, name) if self.img_prefix else name

    def _check_frame_files(self):
        for vi, v in enumerate(self.vid_infos):
            for fi in range(v["length"]):
                path = self._frame_path(vi, fi)
                if not osp.isfile(path):
                    raise ObjPropError(f"frame file missing (video {v['id']}, frame {fi})",
                                       path=path)

    def _filter_imgs(self, min_size=32):
        """Training keeps frames with at least one non-crowd instance (filter_empty_gt)."""
        return [i for i, d in enumerate(self.data_infos)
                if not self.filter_empty_gt or
                self.frame_has_gt[d["video_index"]][d["frame_index"]]]

    # ---------------------------------------------------------------- annotations

    def _frame_instances(self, vi, fi):
        """(annotation, [x, y, w, h]) of each kept instance present at frame ``fi``,
        skipping degenerate boxes as mmdet's CocoDataset does."""
        v = self.vid_infos[vi]
        out = []
        for a in self.video_anns[vi]:
            segm = a["segmentations"][fi]
            if segm is None:
                continue
            box = (a.get("bboxes") or [None] * v["length"])[fi]
            if box is None:
                box = mask_to_bbox(decode_segmentation(segm, v["height"], v["width"]))
            area = (a.get("areas") or [None] * v["length"])[fi]
            if box is None or box[2] < 1 or box[3] < 1 or (area is not None and area <= 0):
                continue
            out.append((a, box))
        return out

    def frame_ann_info(self, vi, fi):
        """mmdet ``ann_info`` of one frame: boxes (x1, y1, x2, y2), 0-based labels, raw
        segmentations for LoadAnnotations, annotation ids; crowd boxes are ignored."""
        boxes, labels, masks, ids, ignore = [], [], [], [], []
        for a, (x, y, w, h) in self._frame_instances(vi, fi):
            if a.get("iscrowd", 0):
                ignore.append([x, y, x + w, y + h])
                continue
            boxes.append([x, y, x + w, y + h])
            labels.append(self.cat2label[a["category_id"]])
            masks.append(a["segmentations"][fi])
            ids.append(a["id"])
        return dict(bboxes=np.array(boxes, np.float32).reshape(-1, 4),
                    labels=np.array(labels, np.int64), masks=masks,
                    ids=np.array(ids, np.int64),
                    bboxes_ignore=np.array(ignore, np.float32).reshape(-1, 4))

    def get_ann_info(self, idx):
        return self.frame_ann_info(*self.frame_index[idx])

    def get_cat_ids(self, idx):
        return self.get_ann_info(idx)["labels"].tolist()

    def get_frame_ann(self, video_index, frame_index):
        """Ground truth of one frame in original pixels (oracle study, figures):
        ``bboxes`` (n, 4) x1 y1 x2 y2, ``labels`` (n,), ``masks`` (n, h, w) bool, ``ids``."""
        v = self.vid_infos[video_index]
        info = self.frame_ann_info(video_index, frame_index)
        masks = [decode_segmentation(s, v["height"], v["width"]) for s in info["masks"]]
        return dict(bboxes=info["bboxes"], labels=info["labels"], ids=info["ids"],
                    masks=np.stack(masks) if masks else
                    np.zeros((0, v["height"], v["width"]), bool))

    # ---------------------------------------------------------------- sampling

    def sample_ref_frame(self, video_index, frame_index):
        """δ uniform over the range among frames with an instance: earlier frames first,
        later ones when no earlier frame qualifies, the frame itself as a last resort
        (``ref_sampling='range'``); with ``'any'``, any other frame with an instance."""
        has = self.frame_has_gt[video_index]
        if self.ref_sampling == 'any':
            cands = [f for f in range(len(has)) if f != frame_index and has[f]]
            return cands[np.random.randint(len(cands))] if cands else frame_index
        lo, hi = self.ref_frame_range
        for sign in (-1, 1):
            cands = [frame_index + sign * d for d in range(lo, hi + 1)
                     if 0 <= frame_index + sign * d < len(has) and has[frame_index + sign * d]]
            if cands:
                return cands[np.random.randint(len(cands))]
        return frame_index

    def _frame_results(self, vi, fi, with_ann):
        v = self.vid_infos[vi]
        results = dict(img_info=dict(filename=v["file_names"][fi], height=v["height"],
                                     width=v["width"]),
                       video_id=v["id"], frame_id=fi, is_first=fi == 0, vid_len=v["length"])
        if with_ann:
            results["ann_info"] = self.frame_ann_info(vi, fi)
            results["gt_ids"] = results["ann_info"]["ids"]
        self.pre_pipeline(results)
        return results

    def _run_pipeline(self, vi, fi, results):
        """The pipeline, with failures caused by a frame file turned into one clear line."""
        try:
            return self.pipeline(results)
        except ObjPropError:
            raise
        except Exception as exc:
            self._raise_if_bad_frame(vi, fi, exc)
            raise

    def _raise_if_bad_frame(self, vi, fi, exc):
        import mmcv
        path, item = self._frame_path(vi, fi), \
            f"video {self.vid_infos[vi]['id']}, frame {fi}"
        if not osp.isfile(path):
            raise ObjPropError(f"frame file missing ({item})", path=path) from exc
        with open(path, "rb") as f:
            ok = mmcv.imfrombytes(f.read()) is not None
        if not ok:
            raise ObjPropError(f"cannot decode image ({item})", path=path) from exc

    def _wrap_ids(self, out):
        """gt_ids as a DataContainer of a LongTensor, like gt_labels."""
        if "gt_ids" not in out:
            raise ObjPropError("the train pipeline's Collect must keep 'gt_ids' (add it to "
                               "its keys)", path=self.ann_file)
        if not isinstance(out["gt_ids"], DC):
            out["gt_ids"] = DC(to_tensor(np.asarray(out["gt_ids"], np.int64)))
        return out

    def prepare_train_img(self, idx):
        """Frame t and reference frame t-δ through the same pipeline with the same flip;
        ``None`` (mmdet then draws another sample) if the pipeline drops either."""
        vi, fi = self.frame_index[idx]
        out = self._run_pipeline(vi, fi, self._frame_results(vi, fi, True))
        if out is None:
            return None
        ri = self.sample_ref_frame(vi, fi)
        ref_results = self._frame_results(vi, ri, True)
        meta = out["img_metas"].data
        if "flip" in meta:
            ref_results["flip"] = meta["flip"]
            ref_results["flip_direction"] = meta.get("flip_direction")
        ref = self._run_pipeline(vi, ri, ref_results)
        if ref is None:
            return None
        self._wrap_ids(out)
        self._wrap_ids(ref)
        out.update({f"ref_{k}": val for k, val in ref.items()})
        return out

    def prepare_test_img(self, idx):
        """One frame, with its place in the video for Collect's meta_keys."""
        vi, fi = self.frame_index[idx]
        return self._run_pipeline(vi, fi, self._frame_results(vi, fi, False))

    def evaluate(self, results, *args, **kwargs):
        raise ObjPropError("YouTube-VIS evaluation lives in objprop.evaluation (`objprop "
                           "evaluate`), not in the dataset", path=self.ann_file)


@DATASETS.register_module()
class ToyCOCODataset(CocoDataset):
    """mmdet's ``CocoDataset`` over ToyCOCO (:mod:`objprop.data.toycoco`, the pretraining
    set): its classes are the annotation file's categories in id order (ToyVIS's five first),
    not COCO's 80, so a config names only their count (``num_classes``)."""

    def load_annotations(self, ann_file):
        with open(ann_file) as f:
            categories = json.load(f).get("categories") or []
        self.CLASSES = tuple(c["name"] for c in sorted(categories, key=lambda c: c["id"]))
        return super().load_annotations(ann_file)
