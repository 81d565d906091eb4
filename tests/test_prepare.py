"""prepare_youtube_vis on a tiny data set in the official layouts: the split, its summary,
determinism, and one clear error (and no output) for each kind of bad input."""
import json
import runpy
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from objprop.data.prepare import prepare_youtube_vis
from objprop.data.ytvis import encode_mask, load_ytvis
from objprop.errors import ObjPropError

REPO = Path(__file__).resolve().parent.parent


def official(tmp_path, toyvis_small, layout="2019", edit=None):
    """ROOT/train/JPEGImages (ToyVIS frames) + the train annotations under the official
    name of ``layout``, optionally edited."""
    root = tmp_path / f"ytvis{layout}"
    shutil.copytree(toyvis_small / "train", root / "train")
    gt = json.loads((toyvis_small / "annotations" / "instances_train.json").read_text())
    if edit is not None:
        edit(gt, root)
    ann = root / ("train.json" if layout == "2019" else "train/instances.json")
    ann.write_text(json.dumps(gt))
    return root


def outputs(root):
    folder = root / "annotations"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("layout", ["2019", "2021"])
def test_split_is_a_partition_with_its_summary(tmp_path, toyvis_small, layout):
    root = official(tmp_path, toyvis_small, layout)
    summary = prepare_youtube_vis(root, minival_videos=1)
    assert outputs(root) == ["instances_minival.json", "instances_train_sub.json"]
    full = load_ytvis(toyvis_small / "annotations" / "instances_train.json")
    sub = load_ytvis(root / "annotations" / "instances_train_sub.json")
    mini = load_ytvis(root / "annotations" / "instances_minival.json")
    sub_ids, mini_ids = {v["id"] for v in sub["videos"]}, {v["id"] for v in mini["videos"]}
    assert len(mini_ids) == 1 and not sub_ids & mini_ids
    assert sub_ids | mini_ids == {v["id"] for v in full["videos"]}
    for part, ids in ((sub, sub_ids), (mini, mini_ids)):
        assert part["annotations"] == [a for a in full["annotations"] if a["video_id"] in ids]
        assert part["categories"] == full["categories"]
    s = summary["splits"]["minival"]
    assert s["videos"] == 1 and s["frames"] == mini["videos"][0]["length"]
    assert s["instances"] == len(mini["annotations"])
    names = {c["id"]: c["name"] for c in full["categories"]}
    per_class = {n: 0 for n in names.values()}
    for a in sub["annotations"]:
        per_class[names[a["category_id"]]] += 1
    assert summary["splits"]["train_sub"]["per_class"] == per_class


def test_deterministic_and_seeded(tmp_path, toyvis_small):
    root = official(tmp_path, toyvis_small)
    prepare_youtube_vis(root, out_dir=tmp_path / "a", minival_videos=2)
    prepare_youtube_vis(root, out_dir=tmp_path / "b", minival_videos=2)
    for name in ("instances_train_sub.json", "instances_minival.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    minivals = set()
    for seed in range(6):
        prepare_youtube_vis(root, out_dir=tmp_path / "c", minival_videos=2, seed=seed)
        gt = load_ytvis(tmp_path / "c" / "instances_minival.json")
        minivals.add(tuple(v["id"] for v in gt["videos"]))
    assert len(minivals) > 1  # the seed picks the videos


def test_default_minival_is_ten_percent_at_least_one(tmp_path, toyvis_small):
    root = official(tmp_path, toyvis_small)
    assert prepare_youtube_vis(root)["splits"]["minival"]["videos"] == 1
    with pytest.raises(ObjPropError, match="minival needs between 1 and 3 videos"):
        prepare_youtube_vis(root, out_dir=tmp_path / "x", minival_videos=4)
    assert not (tmp_path / "x").exists()


def first_frame(gt, root):
    return root / "train" / "JPEGImages" / gt["videos"][1]["file_names"][2]


def set_segm(frame, value):
    def edit(gt, root):
        gt["annotations"][0]["segmentations"][frame] = value
    return edit


BAD = {
    "malformed json": (None, "malformed JSON at line 1", "train.json"),
    "missing frame": (lambda gt, root: first_frame(gt, root).unlink(),
                      "frame file missing (video 2, frame 2)", "00002.jpg"),
    "unreadable image": (lambda gt, root: first_frame(gt, root).write_bytes(b"\xff\xd8 junk"),
                         "unreadable image (video 2, frame 2)", "00002.jpg"),
    "unknown video": (lambda gt, root: gt["annotations"][0].update(video_id=999),
                      "annotation 1 names unknown video_id 999", "train.json"),
    "unknown category": (lambda gt, root: gt["annotations"][0].update(category_id=77),
                         "annotation 1 names unknown category_id 77", "train.json"),
    "segmentations length": (lambda gt, root: gt["annotations"][0]["segmentations"].append(None),
                             "annotation 1 has 7 segmentations but video 1 has 6 frames",
                             "train.json"),
    "rle size": (set_segm(3, encode_mask(np.ones((5, 5), bool))),
                 "annotation 1, frame 3: RLE size [5, 5] is not the video's [64, 96]",
                 "train.json"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_error_naming_file_and_item_no_output(tmp_path, toyvis_small, case):
    edit, message, file_name = BAD[case]
    root = official(tmp_path, toyvis_small, edit=edit)
    if edit is None:
        (root / "train.json").write_text('{"videos": [')
    with pytest.raises(ObjPropError) as err:
        prepare_youtube_vis(root)
    text = str(err.value)
    assert "\n" not in text and message in text
    assert text.split(": ")[0].endswith(file_name)  # "<file>: <problem> (<item>)"
    assert outputs(root) == []


def test_not_a_youtube_vis_folder(tmp_path):
    with pytest.raises(ObjPropError, match="no train/JPEGImages"):
        prepare_youtube_vis(tmp_path)
    (tmp_path / "train" / "JPEGImages").mkdir(parents=True)
    with pytest.raises(ObjPropError, match="no train annotation file"):
        prepare_youtube_vis(tmp_path)


def test_script_prints_summary_and_exits_2_on_bad_input(tmp_path, toyvis_small, monkeypatch,
                                                        capsys):
    root = official(tmp_path, toyvis_small)
    script = str(REPO / "data_scripts" / "prepare_youtube_vis.py")
    for argv, code in ((["--root", str(root), "--minival-videos", "1"], 0),
                       (["--root", str(tmp_path / "nowhere")], 2)):
        monkeypatch.setattr(sys, "argv", ["prepare_youtube_vis.py", *argv])
        with pytest.raises(SystemExit) as exit_:
            runpy.run_path(script, run_name="__main__")
        assert exit_.value.code == code
    captured = capsys.readouterr()
    assert "train_sub" in captured.out and "minival" in captured.out
    assert "not a YouTube-VIS folder" in captured.err


@pytest.mark.parametrize("layout", ["2019", "2021"])
def test_the_official_valid_split_is_written_for_objprop_test(tmp_path, toyvis_small, layout):
    """With the valid split's video list (no annotations, as published) and frames, prepare
    writes annotations/instances_valid.json, and the `valid` split of that folder loads."""
    from objprop.config import load_config
    root = official(tmp_path, toyvis_small, layout)
    shutil.copytree(toyvis_small / "valid", root / "valid")
    valid = json.loads((toyvis_small / "annotations" / "instances_valid.json").read_text())
    valid.pop("annotations")
    (root / ("valid.json" if layout == "2019" else "valid/instances.json")).write_text(
        json.dumps(valid))
    summary = prepare_youtube_vis(root, minival_videos=1)
    assert outputs(root) == ["instances_minival.json", "instances_train_sub.json",
                             "instances_valid.json"]
    written = load_ytvis(root / "annotations" / "instances_valid.json")
    assert written["videos"] == valid["videos"] and written["annotations"] == []
    assert summary["splits"]["valid"]["videos"] == len(valid["videos"])
    cfg = load_config("configs/masktrack_rcnn_r18_fpn_toy.py", data_root=root,
                      test_split="valid")
    assert cfg.data.test.ann_file == str(root / "annotations" / "instances_valid.json")
    # a valid frame missing: one error, and nothing written at all
    shutil.rmtree(root / "annotations")
    next((root / "valid" / "JPEGImages").rglob("*.jpg")).unlink()
    with pytest.raises(ObjPropError, match="frame file missing"):
        prepare_youtube_vis(root, minival_videos=1)
    assert outputs(root) == []
