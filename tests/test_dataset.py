"""YouTubeVISDataset: ToyVIS through mmdet pipelines, training pairs, ordered test frames."""
import json
import shutil
from collections import Counter

import numpy as np
import pytest
from mmcv.parallel import DataContainer

from objprop.book import repo_root
from objprop.config import load_config
from objprop.data.dataset import YouTubeVISDataset
from objprop.data.ytvis import decode_segmentation, load_ytvis, mask_to_bbox, xywh_to_xyxy
from objprop.errors import ObjPropError

RAW_PIPELINE = [  # no resize, no flip: what comes out is the file's ground truth
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    dict(type="DefaultFormatBundle"),
    dict(type="Collect", keys=["img", "gt_bboxes", "gt_labels", "gt_masks", "gt_ids"],
         meta_keys=("filename", "ori_filename", "ori_shape", "img_shape")),
]
# the book's own pipelines (ToyVIS at 288x160), read from the toy config, not copied
_TOY = load_config(repo_root() / "configs" / "masktrack_rcnn_r18_fpn_toy.py")
TRAIN_PIPELINE, TEST_PIPELINE = _TOY.train_pipeline, _TOY.test_pipeline


def paths(root, split="train"):
    return (str(root / "annotations" / f"instances_{split}.json"),
            str(root / split / "JPEGImages"))


def make(root, pipeline=TRAIN_PIPELINE, split="train", **kw):
    from mmdet.datasets import build_dataset
    ann, imgs = paths(root, split)
    return build_dataset(dict(type="YouTubeVISDataset", ann_file=ann, img_prefix=imgs,
                              pipeline=pipeline, **kw))


def frames_with_instances(gt):
    """(video index, frame) pairs with a non-crowd instance, and the ids on each frame."""
    ids = {}
    for vi, v in enumerate(gt["videos"]):
        for f in range(v["length"]):
            ids[(vi, f)] = [a["id"] for a in gt["annotations"] if a["video_id"] == v["id"]
                            and a["segmentations"][f] is not None and not a["iscrowd"]]
    return ids


def test_train_samples_are_the_frames_with_instances(toyvis_small):
    ds = make(toyvis_small)
    gt = load_ytvis(paths(toyvis_small)[0])
    ids = frames_with_instances(gt)
    assert ds.frame_index == [k for k in sorted(ids) if ids[k]]
    assert len(ds) == len(ds.flag) == len(ds.frame_index)
    assert ds.CLASSES == tuple(c["name"] for c in gt["categories"])
    assert len(ds.vid_infos) == len(gt["videos"])


def test_round_trip_every_frame_matches_the_file(toyvis_small):
    """Through LoadAnnotations: each instance's mask decodes to its stored box and area,
    boxes are the stored boxes (x1 y1 x2 y2), labels follow the category order."""
    ds = make(toyvis_small, RAW_PIPELINE)
    gt = load_ytvis(paths(toyvis_small)[0])
    anns = {a["id"]: a for a in gt["annotations"]}
    label_of = {c["id"]: i for i, c in enumerate(gt["categories"])}
    for idx, (vi, f) in enumerate(ds.frame_index):
        out = ds.prepare_train_img(idx)
        masks = out["gt_masks"].data.masks.astype(bool)
        boxes, labels = out["gt_bboxes"].data.numpy(), out["gt_labels"].data.numpy()
        for k, aid in enumerate(out["gt_ids"].data.tolist()):
            a = anns[aid]
            assert a["video_id"] == gt["videos"][vi]["id"]
            assert mask_to_bbox(masks[k]) == a["bboxes"][f]
            assert int(masks[k].sum()) == a["areas"][f]
            np.testing.assert_allclose(boxes[k], xywh_to_xyxy(a["bboxes"][f]))
            assert labels[k] == label_of[a["category_id"]]
        frame = ds.get_frame_ann(vi, f)
        assert frame["masks"].shape == (len(frame["ids"]),) + masks.shape[1:]
        assert frame["ids"].tolist() == out["gt_ids"].data.tolist()
        assert np.array_equal(frame["masks"], masks)


def test_pairs_same_video_delta_in_range_same_flip_consistent_ids(toyvis_small):
    ds = make(toyvis_small, ref_frame_range=(1, 2))
    gt = load_ytvis(paths(toyvis_small)[0])
    ids = frames_with_instances(gt)
    np.random.seed(0)
    deltas, flips = Counter(), Counter()
    for _ in range(3):
        for idx, (vi, f) in enumerate(ds.frame_index):
            s = ds[idx]
            meta, ref_meta = s["img_metas"].data, s["ref_img_metas"].data
            video, name = meta["ori_filename"].split("/")
            ref_video, ref_name = ref_meta["ori_filename"].split("/")
            assert video == ref_video == gt["videos"][vi]["file_names"][0].split("/")[0]
            r = int(ref_name[:5])
            assert int(name[:5]) == f and ids[(vi, r)]
            earlier = [f - d for d in (1, 2) if f - d >= 0 and ids[(vi, f - d)]]
            later = [f + d for d in (1, 2) if f + d < len(gt["videos"][vi]["file_names"])
                     and ids[(vi, f + d)]]
            assert r in (earlier or later or [f])
            deltas[f - r] += 1
            assert meta["flip"] == ref_meta["flip"]
            flips[meta["flip"]] += 1
            assert s["gt_ids"].data.tolist() == ids[(vi, f)]
            assert s["ref_gt_ids"].data.tolist() == ids[(vi, r)]
            for key in ("img", "gt_bboxes", "gt_labels", "gt_masks", "gt_ids"):
                assert isinstance(s[f"ref_{key}"], DataContainer)
            assert len(s["ref_gt_labels"].data) == len(s["ref_gt_ids"].data) == \
                len(s["ref_gt_masks"].data) == len(s["ref_gt_bboxes"].data)
    assert deltas[1] > 0 and deltas[2] > 0  # δ drawn over the range
    assert flips[True] > 0 and flips[False] > 0


def test_flip_mirrors_both_frames(toyvis_small):
    """With flip_ratio 1 both frames flip: boxes are the file's, mirrored."""
    pipeline = [dict(t, flip_ratio=1.0) if t["type"] == "RandomFlip" else t
                for t in TRAIN_PIPELINE if t["type"] not in ("Resize", "Pad", "Normalize")]
    ds = make(toyvis_small, pipeline)
    s = ds[0]
    w = ds.vid_infos[0]["width"]
    for prefix in ("", "ref_"):
        assert s[f"{prefix}img_metas"].data["flip"]
        vi, f = ds.frame_index[0]
        frame = int(s[f"{prefix}img_metas"].data["ori_filename"][-9:-4])
        plain = ds.frame_ann_info(vi, frame)["bboxes"]
        boxes = s[f"{prefix}gt_bboxes"].data.numpy()
        np.testing.assert_allclose(boxes[:, [2, 0]], w - plain[:, [0, 2]])


def synthetic_gt(tmp_path, toyvis_small, edit):
    """A copy of the small train split's annotation file, edited; frames stay shared."""
    gt = json.loads(open(paths(toyvis_small)[0]).read())
    edit(gt)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    return str(path)


def test_reference_falls_back_to_later_then_to_itself(tmp_path, toyvis_small):
    def keep_one_video(gt):  # video 1: instance on frames 0 and 4 only, then only 0
        gt["videos"] = gt["videos"][:1]
        a = dict(next(a for a in gt["annotations"] if a["video_id"] == 1))
        a["iscrowd"] = 0
        n = gt["videos"][0]["length"]
        segm = next(s for s in a["segmentations"] if s is not None)
        a["segmentations"] = [segm if f in (0, 4) else None for f in range(n)]
        a["bboxes"], a["areas"] = None, None
        gt["annotations"] = [a]

    from mmdet.datasets import build_dataset
    ann = synthetic_gt(tmp_path, toyvis_small, keep_one_video)
    cfg = dict(type="YouTubeVISDataset", ann_file=ann, img_prefix=paths(toyvis_small)[1],
               pipeline=RAW_PIPELINE)
    ds = build_dataset(dict(cfg, ref_frame_range=(1, 4)))
    assert ds.frame_index == [(0, 0), (0, 4)]
    assert {ds.sample_ref_frame(0, 0) for _ in range(5)} == {4}  # nothing earlier
    assert {ds.sample_ref_frame(0, 4) for _ in range(5)} == {0}
    narrow = build_dataset(dict(cfg, ref_frame_range=(1, 3)))
    assert narrow.sample_ref_frame(0, 0) == 0  # nothing in range: the frame itself
    s = narrow[0]
    assert s["ref_gt_ids"].data.tolist() == s["gt_ids"].data.tolist()


def test_test_mode_orders_frames_and_carries_video_metadata(toyvis_small):
    ds = make(toyvis_small, TEST_PIPELINE, split="valid", test_mode=True)
    gt = load_ytvis(paths(toyvis_small, "valid")[0])
    expected = [(vi, f) for vi, v in enumerate(gt["videos"]) for f in range(v["length"])]
    assert ds.frame_index == expected and len(ds) == len(expected)
    for idx, (vi, f) in enumerate(ds.frame_index):
        s = ds[idx]
        meta = s["img_metas"][0].data
        v = gt["videos"][vi]
        assert (meta["video_id"], meta["frame_id"], meta["is_first"], meta["vid_len"]) == \
            (v["id"], f, f == 0, v["length"])
        assert meta["ori_filename"] == v["file_names"][f]
        assert tuple(s["img"][0].shape) == (3, 160, 256)  # 64x96 → 160x240, padded


def test_dataloader_batches_pairs(toyvis_small):
    from mmdet.datasets import build_dataloader
    ds = make(toyvis_small)
    loader = build_dataloader(ds, samples_per_gpu=2, workers_per_gpu=0, num_gpus=1,
                              dist=False, seed=0)
    batch = next(iter(loader))
    assert batch["img"].data[0].shape == (2, 3, 160, 256)
    assert batch["ref_img"].data[0].shape == (2, 3, 160, 256)
    assert len(batch["gt_ids"].data[0]) == len(batch["ref_gt_ids"].data[0]) == 2
    assert batch["gt_ids"].data[0][0].dtype.is_floating_point is False


def test_classes_subset_relabels(toyvis_small):
    gt = load_ytvis(paths(toyvis_small)[0])
    name = gt["categories"][2]["name"]
    ds = make(toyvis_small, RAW_PIPELINE, classes=[name])
    assert ds.CLASSES == (name,) and len(ds) > 0
    out = ds.prepare_train_img(0)
    assert set(out["gt_labels"].data.tolist()) == {0}
    with pytest.raises(ObjPropError, match=r"classes \['zebra'\] are not categories"):
        make(toyvis_small, RAW_PIPELINE, classes=["zebra"])


@pytest.fixture()
def frames_copy(tmp_path, toyvis_small):
    root = tmp_path / "copy"
    shutil.copytree(toyvis_small, root)
    return root


def test_missing_frame_file_named_at_construction(frames_copy):
    victim = frames_copy / "train" / "JPEGImages" / "train_0001" / "00003.jpg"
    victim.unlink()
    with pytest.raises(ObjPropError) as err:
        make(frames_copy)
    # mmcv's builder prefixes the class name to errors raised while constructing
    assert f"{victim}: frame file missing (video 2, frame 3)" in str(err.value)


def test_unreadable_image_named_when_loaded(frames_copy):
    ds = make(frames_copy, RAW_PIPELINE)
    vi, f = ds.frame_index[0]
    victim = frames_copy / "train" / "JPEGImages" / ds.vid_infos[vi]["file_names"][f]
    victim.write_bytes(b"not a jpeg at all")
    np.random.seed(0)
    with pytest.raises(ObjPropError) as err:
        ds.prepare_train_img(0)
    assert str(err.value) == f"{victim}: cannot decode image (video {vi + 1}, frame {f})"


def test_pipeline_must_keep_gt_ids(toyvis_small):
    pipeline = RAW_PIPELINE[:-1] + [dict(RAW_PIPELINE[-1], keys=["img", "gt_bboxes",
                                                                 "gt_labels"])]
    ds = make(toyvis_small, pipeline)
    with pytest.raises(ObjPropError, match="must keep 'gt_ids'"):
        ds[0]


def test_ground_truth_rle_with_wrong_size_refused(tmp_path, toyvis_small):
    def wrong(gt):
        a = next(a for a in gt["annotations"] if a["segmentations"][0] is not None)
        a["segmentations"][0]["size"] = [10, 10]

    ann = synthetic_gt(tmp_path, toyvis_small, wrong)
    from mmdet.datasets import build_dataset
    with pytest.raises(ObjPropError, match=r"frame 0: RLE size \[10, 10\] is not the video's"):
        build_dataset(dict(type="YouTubeVISDataset", ann_file=ann, pipeline=RAW_PIPELINE,
                           img_prefix=paths(toyvis_small)[1]))


def test_registered_and_decodes_like_the_codec(toyvis_small):
    from mmdet.datasets.builder import DATASETS
    assert DATASETS.get("YouTubeVISDataset") is YouTubeVISDataset
    ds = make(toyvis_small, RAW_PIPELINE, split="valid", test_mode=True)
    v = ds.vid_infos[0]
    frame = ds.get_frame_ann(0, 0)
    for k, aid in enumerate(frame["ids"]):
        a = next(a for a in ds.video_anns[0] if a["id"] == aid)
        assert np.array_equal(frame["masks"][k],
                              decode_segmentation(a["segmentations"][0], v["height"],
                                                  v["width"]))
