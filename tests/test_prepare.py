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


TRAIN_FILES = {"2019": "train.json", "2021": "train/instances.json",
               "ovis": "annotations_train.json"}
VALID_FILES = {"2019": "valid.json", "2021": "valid/instances.json",
               "ovis": "annotations_valid.json"}
OVIS_CATEGORIES = 25


def official(tmp_path, toyvis_small, layout="2019", edit=None):
    """ROOT/train/JPEGImages (ToyVIS frames; OVIS: ROOT/train/<video>/) + the train
    annotations under the official name of ``layout``, optionally edited. The OVIS fixture
    declares OVIS's 25 categories (ToyVIS's five used)."""
    root = tmp_path / f"ytvis{layout}"
    frames = toyvis_small / "train" / ("JPEGImages" if layout == "ovis" else "")
    shutil.copytree(frames, root / "train")
    gt = json.loads((toyvis_small / "annotations" / "instances_train.json").read_text())
    if layout == "ovis":
        gt["categories"] += [dict(id=k, name=f"ovis{k}", supercategory="object")
                             for k in range(len(gt["categories"]) + 1, OVIS_CATEGORIES + 1)]
    if edit is not None:
        edit(gt, root)
    (root / TRAIN_FILES[layout]).write_text(json.dumps(gt))
    return root


def outputs(root):
    folder = root / "annotations"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("layout", ["2019", "2021", "ovis"])
def test_split_is_a_partition_with_its_summary(tmp_path, toyvis_small, layout):
    root = official(tmp_path, toyvis_small, layout)
    summary = prepare_youtube_vis(root, minival_videos=1)
    assert outputs(root) == ["instances_minival.json", "instances_train_sub.json"]
    full = load_ytvis(root / TRAIN_FILES[layout])
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
    with pytest.raises(ObjPropError, match="no train/ "):
        prepare_youtube_vis(tmp_path)
    (tmp_path / "train").mkdir()
    with pytest.raises(ObjPropError, match="no train annotation file"):
        prepare_youtube_vis(tmp_path)
    (tmp_path / "train.json").write_text("{}")  # 2019's file, but no JPEGImages level
    with pytest.raises(ObjPropError, match="not a YouTube-VIS 2019 folder: no train/JPEGImages"):
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
    assert "not a YouTube-VIS or OVIS folder" in captured.err


@pytest.mark.parametrize("layout", ["2019", "2021", "ovis"])
def test_the_official_valid_split_is_written_for_objprop_test(tmp_path, toyvis_small, layout):
    """With the valid split's video list (no annotations, as published) and frames, prepare
    writes annotations/instances_valid.json, and the `valid` split of that folder loads."""
    from objprop.config import load_config
    root = official(tmp_path, toyvis_small, layout)
    shutil.copytree(toyvis_small / "valid" / ("JPEGImages" if layout == "ovis" else ""),
                    root / "valid")
    valid = json.loads((toyvis_small / "annotations" / "instances_valid.json").read_text())
    valid.pop("annotations")
    (root / VALID_FILES[layout]).write_text(json.dumps(valid))
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
    next((root / "valid").rglob("*.jpg")).unlink()
    with pytest.raises(ObjPropError, match="frame file missing"):
        prepare_youtube_vis(root, minival_videos=1)
    assert outputs(root) == []


@pytest.mark.parametrize("layout, config, classes", [
    ("2021", "configs/objprop_r50_fpn_12e_youtubevis2021.py", 40),
    ("ovis", "configs/objprop_r50_fpn_12e_ovis.py", OVIS_CATEGORIES),
    ("ovis", "configs/masktrack_rcnn_r50_fpn_12e_ovis.py", OVIS_CATEGORIES)])
def test_each_data_set_has_its_configs_and_the_class_count_is_checked(tmp_path, toyvis_small,
                                                                      layout, config, classes):
    """The prepared folder loads with its data set's config (OVIS: frames without a
    JPEGImages level); the detector's classes must match the annotation file's categories."""
    from objprop.config import load_config
    from objprop.inference import build_test_dataset

    def declare(gt, root):  # the fixture's category list as long as the data set's
        gt["categories"] = [dict(id=k, name=f"c{k}") for k in range(1, classes + 1)]
    root = official(tmp_path, toyvis_small, layout, edit=declare)
    summary = prepare_youtube_vis(root, minival_videos=1)
    assert summary["categories"] == classes
    assert summary["layout"] == {"2021": "YouTube-VIS 2021", "ovis": "OVIS"}[layout]
    cfg = load_config(config, data_root=root, test_split="minival")
    assert cfg.model.roi_head.bbox_head.num_classes == classes
    assert cfg.data.test.img_prefix == str(root / "train" / ("" if layout == "ovis"
                                                             else "JPEGImages")).rstrip("/")
    dataset = build_test_dataset(cfg)
    assert len(dataset.CLASSES) == classes and len(dataset.vid_infos) == 1
    other = "configs/objprop_r50_fpn_12e_youtubevis2019.py" if classes != 40 else \
        "configs/objprop_r50_fpn_12e_ovis.py"
    with pytest.raises(ObjPropError, match=r"categories but the config's detector has"):
        build_test_dataset(load_config(other, data_root=root, test_split="minival"))
