"""YouTube-VIS files: the mask codecs, and loading / validating GT and results files."""
import copy
import json

import numpy as np
import pycocotools.mask as mask_utils
import pytest

from objprop.data.ytvis import (box_sides, decode_segmentation, encode_mask, load_results,
                                load_ytvis, mask_to_bbox, summarize)
from objprop.errors import ObjPropError

H, W = 12, 17


def random_mask(seed, h=H, w=W):
    return np.random.default_rng(seed).random((h, w)) > 0.6


def tiny_gt():
    """One video of 3 frames, one category, one annotation present on frames 0 and 2."""
    m = np.zeros((H, W), bool)
    m[2:5, 3:9] = True
    return dict(
        videos=[dict(id=1, width=W, height=H, length=3,
                     file_names=["v/00000.jpg", "v/00001.jpg", "v/00002.jpg"],
                     hard_frames={"1": "blur"})],
        categories=[dict(id=4, name="disc")],
        annotations=[dict(id=10, video_id=1, category_id=4, iscrowd=0,
                          segmentations=[encode_mask(m), None, encode_mask(m)],
                          bboxes=[mask_to_bbox(m), None, mask_to_bbox(m)],
                          areas=[int(m.sum()), None, int(m.sum())])])


def write(tmp_path, obj, name="gt.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


# --------------------------------------------------------------------------- codecs

@pytest.mark.parametrize("seed", range(4))
def test_rle_round_trip_is_exact_and_json_ready(seed):
    m = random_mask(seed)
    rle = encode_mask(m)
    assert rle["size"] == [H, W] and isinstance(rle["counts"], str)
    json.dumps(rle)
    back = decode_segmentation(rle, H, W)
    assert back.dtype == bool and np.array_equal(back, m)


def test_empty_and_full_masks_round_trip():
    for m in (np.zeros((H, W), bool), np.ones((H, W), bool)):
        assert np.array_equal(decode_segmentation(encode_mask(m), H, W), m)


def test_uncompressed_rle_and_bytes_counts_decode_like_compressed():
    m = random_mask(7)
    compressed = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    flat = m.flatten(order="F").astype(int)
    change = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], change])).tolist()
    uncompressed = {"size": [H, W], "counts": counts}
    assert np.array_equal(decode_segmentation(uncompressed, H, W), m)
    assert np.array_equal(decode_segmentation(compressed, H, W), m)


def test_polygon_decodes_to_its_area():
    square = [[2.0, 3.0, 10.0, 3.0, 10.0, 9.0, 2.0, 9.0]]
    m = decode_segmentation(square, H, W)
    assert m.shape == (H, W)
    x, y, w, h = mask_to_bbox(m)
    assert x == 2 and y == 3 and 8 <= w <= 9 and 6 <= h <= 7


def test_none_is_absent_and_wrong_size_is_refused():
    assert decode_segmentation(None, H, W) is None
    with pytest.raises(ValueError, match=r"RLE size \[12, 17\]"):
        decode_segmentation(encode_mask(random_mask(0)), H + 1, W)
    with pytest.raises(ValueError, match="neither RLE"):
        decode_segmentation({"foo": 1}, H, W)


@pytest.mark.parametrize("seed", range(3))
def test_mask_to_bbox_matches_pycocotools(seed):
    m = np.zeros((H, W), bool)
    m[3:3 + seed + 2, 5:5 + 2 * seed + 1] = True
    m[8, 1] = True
    rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    assert mask_to_bbox(m) == mask_utils.toBbox(rle).tolist()
    assert mask_to_bbox(np.zeros((H, W), bool)) is None


# --------------------------------------------------------------------------- ground truth

def test_valid_file_loads_with_extra_keys(tmp_path):
    gt = load_ytvis(write(tmp_path, tiny_gt()))
    assert gt["videos"][0]["hard_frames"] == {"1": "blur"}
    assert summarize(gt) == dict(videos=1, frames=3, instances=1, categories=1,
                                 per_class={"disc": 1}, hard_frames=1)
    sides = box_sides(gt)
    boxes = [b for b in gt["annotations"][0]["bboxes"] if b is not None]
    assert sides["p10"] <= sides["median"] <= sides["p90"]
    assert min(b[2] * b[3] for b in boxes) ** 0.5 <= sides["p10"]
    assert sides["p90"] <= max(b[2] * b[3] for b in boxes) ** 0.5


def test_file_without_annotations_loads(tmp_path):
    gt = tiny_gt()
    del gt["annotations"]
    assert load_ytvis(write(tmp_path, gt))["annotations"] == []


def broken(edit):
    gt = tiny_gt()
    edit(gt)
    return gt


BAD_GT = {
    "unknown video": (lambda g: g["annotations"][0].update(video_id=7),
                      "annotation 10 names unknown video_id 7"),
    "unknown category": (lambda g: g["annotations"][0].update(category_id=99),
                         "annotation 10 names unknown category_id 99"),
    "segmentations length": (lambda g: g["annotations"][0]["segmentations"].pop(),
                             "annotation 10 has 2 segmentations but video 1 has 3 frames"),
    "rle size": (lambda g: g["annotations"][0]["segmentations"].__setitem__(
        2, encode_mask(np.zeros((H, W + 1), bool))),
        "annotation 10, frame 2: RLE size [12, 18] is not the video's [12, 17]"),
    "not a mask": (lambda g: g["annotations"][0]["segmentations"].__setitem__(1, 5),
                   "annotation 10, frame 1: segmentation is neither"),
    "length vs file_names": (lambda g: g["videos"][0].update(length=4),
                             "video 1 lists 3 file_names but its length is 4"),
    "bboxes length": (lambda g: g["annotations"][0]["bboxes"].pop(),
                      "annotation 10: 'bboxes' does not have one entry per frame"),
    "no videos": (lambda g: g.pop("videos"), "no 'videos'"),
}


@pytest.mark.parametrize("case", sorted(BAD_GT))
def test_bad_ground_truth_names_file_and_item(tmp_path, case):
    edit, message = BAD_GT[case]
    path = write(tmp_path, broken(edit))
    with pytest.raises(ObjPropError) as err:
        load_ytvis(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_malformed_json_names_file_and_position(tmp_path):
    path = tmp_path / "gt.json"
    path.write_text('{"videos": [1, 2,, 3]}')
    with pytest.raises(ObjPropError, match=r"gt\.json: malformed JSON at line 1, column 18"):
        load_ytvis(path)


def test_missing_file(tmp_path):
    with pytest.raises(ObjPropError, match="annotation file not found"):
        load_ytvis(tmp_path / "nope.json")


# --------------------------------------------------------------------------- results

def result(**kw):
    m = np.zeros((H, W), bool)
    m[1:4, 1:4] = True
    r = dict(video_id=1, category_id=4, score=0.9,
             segmentations=[encode_mask(m), None, encode_mask(m)])
    r.update(kw)
    return r


def test_results_load_and_check_against_gt(tmp_path):
    gt = tiny_gt()
    results = [result(), result(score=0.2, filled=[False, True, False])]
    assert load_results(write(tmp_path, results, "res.json"), gt) == results


@pytest.mark.parametrize("bad, message", [
    (dict(video_id=3), "result 0 names unknown video_id 3"),
    (dict(category_id=1), "result 0 names unknown category_id 1"),
    (dict(segmentations=[None]), "result 0 has 1 segmentations but video 1 has 3 frames"),
    (dict(score="high"), "result 0: 'score' is not a number"),
])
def test_bad_results_name_file_and_item(tmp_path, bad, message):
    path = write(tmp_path, [result(**bad)], "res.json")
    with pytest.raises(ObjPropError) as err:
        load_results(path, tiny_gt())
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_results_missing_keys(tmp_path):
    r = result()
    del r["score"]
    with pytest.raises(ObjPropError, match="result 0 lacks score"):
        load_results(write(tmp_path, [copy.deepcopy(r)], "res.json"))
