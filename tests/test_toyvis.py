"""ToyVIS: layout, ground truth that decodes to its boxes and areas, the properties the
book relies on (categories, motion, occlusion, hard frames), determinism, atomic writes."""
import hashlib
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from objprop.data import synth, toyvis
from objprop.cli import main as objprop
from objprop.data.toyvis import make_toyvis
from objprop.data.ytvis import decode_segmentation, load_ytvis, mask_to_bbox
from tests.conftest import SMALL

REPO = Path(__file__).resolve().parent.parent


def tree_hash(root):
    """sha256 over (relative path, bytes) of every file under ``root``, in sorted order."""
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def toyvis_medium(tmp_path_factory):
    """Default frame size and video lengths, fewer videos: enough for statistics."""
    root = tmp_path_factory.mktemp("toyvis_medium")
    make_toyvis(root, seed=1, train_videos=14, valid_videos=2, tune_videos=0, progress=False)
    return root, load_ytvis(root / "annotations" / "instances_train.json")


def test_official_layout_and_sizes(toyvis_small):
    for split, n_videos in (("train", SMALL["train_videos"]), ("valid", SMALL["valid_videos"]),
                            ("tune", SMALL["tune_videos"])):
        gt = load_ytvis(toyvis_small / "annotations" / f"instances_{split}.json")
        assert len(gt["videos"]) == n_videos and gt["annotations"]
        for v in gt["videos"]:
            assert v["length"] == SMALL["frames"] == len(v["file_names"])
            for name in v["file_names"]:
                path = toyvis_small / split / "JPEGImages" / name
                assert path.suffix == ".jpg" and len(path.stem) == 5
                with Image.open(path) as im:
                    assert im.format == "JPEG" and im.size == (SMALL["width"], SMALL["height"])
    assert sorted(p.name for p in toyvis_small.iterdir()) == ["annotations",
                                                              "toyvis-request.json", "train",
                                                              "tune", "valid"]


@pytest.mark.parametrize("split", ["train", "valid", "tune"])
def test_every_mask_decodes_to_its_box_and_area(toyvis_small, split):
    gt = load_ytvis(toyvis_small / "annotations" / f"instances_{split}.json")
    videos = {v["id"]: v for v in gt["videos"]}
    checked = 0
    for a in gt["annotations"]:
        v = videos[a["video_id"]]
        for f, segm in enumerate(a["segmentations"]):
            m = decode_segmentation(segm, v["height"], v["width"])
            if m is None:
                assert a["bboxes"][f] is None and a["areas"][f] is None
                continue
            assert isinstance(segm["counts"], str)
            assert mask_to_bbox(m) == a["bboxes"][f]
            assert int(m.sum()) == a["areas"][f] > 0
            checked += 1
    assert checked > 10


def test_categories_shapes_and_object_sizes(toyvis_medium):
    _, gt = toyvis_medium
    names = [c["name"] for c in gt["categories"]]
    assert len(names) >= 4 and len(set(names)) == len(names)
    used = {a["category_id"] for a in gt["annotations"]}
    assert len(used) >= 4
    sides = [max(b[2], b[3]) for a in gt["annotations"] for b, s in
             zip(a["bboxes"], a["areas"]) if b is not None and s > 200]
    assert 20 <= np.median(sides) <= 70


def test_motion_is_smooth_and_instances_enter_or_leave(toyvis_medium):
    _, gt = toyvis_medium
    steps, partial = [], 0
    for a in gt["annotations"]:
        present = [b is not None for b in a["bboxes"]]
        partial += not all(present)
        for b0, b1 in zip(a["bboxes"], a["bboxes"][1:]):
            if b0 is not None and b1 is not None:
                steps.append(np.hypot(b1[0] + b1[2] / 2 - b0[0] - b0[2] / 2,
                                      b1[1] + b1[3] / 2 - b0[1] - b0[3] / 2))
    assert np.median(steps) < 6  # px per frame at 160x288: smooth
    assert 0 < np.median(steps)  # but moving
    assert partial >= 3  # some instances are absent from part of their video


def test_instances_occlude_each_other(toyvis_medium):
    """Visible masks never overlap, yet boxes of different instances do: one hides part of
    the other."""
    _, gt = toyvis_medium
    overlaps = 0
    for v in gt["videos"]:
        anns = [a for a in gt["annotations"] if a["video_id"] == v["id"]]
        for f in range(v["length"]):
            masks = [decode_segmentation(a["segmentations"][f], v["height"], v["width"])
                     for a in anns if a["segmentations"][f] is not None]
            if len(masks) > 1:
                assert np.stack(masks).sum(0).max() == 1
            boxes = [a["bboxes"][f] for a in anns if a["bboxes"][f] is not None]
            overlaps += sum(_box_overlap(p, q) > 0 for i, p in enumerate(boxes)
                            for q in boxes[i + 1:])
    assert overlaps >= 5


def _box_overlap(p, q):
    w = min(p[0] + p[2], q[0] + q[2]) - max(p[0], q[0])
    h = min(p[1] + p[3], q[1] + q[3]) - max(p[1], q[1])
    return max(w, 0) * max(h, 0)


def test_video_lengths_and_hard_frame_schedule(toyvis_medium):
    _, gt = toyvis_medium
    total = hard = 0
    for v in gt["videos"]:
        assert 12 <= v["length"] <= 24
        frames = sorted(int(f) for f in v["hard_frames"])
        assert 0 not in frames
        assert set(v["hard_frames"].values()) <= {"blur", "low_contrast", "occlusion"}
        runs = np.split(frames, np.flatnonzero(np.diff(frames) > 1) + 1) if frames else []
        assert all(1 <= len(r) <= 3 for r in runs)
        total, hard = total + v["length"], hard + len(frames)
    assert 0.08 <= hard / total <= 0.18
    kinds = {k for v in gt["videos"] for k in v["hard_frames"].values()}
    assert kinds == {"blur", "low_contrast", "occlusion"}


def _sharpness_and_contrast(path):
    img = np.asarray(Image.open(path).convert("L"), np.float32)
    lap = img[1:-1, 1:-1] * 4 - img[:-2, 1:-1] - img[2:, 1:-1] - img[1:-1, :-2] - img[1:-1, 2:]
    return float(np.abs(lap).mean()), float(img.std())


def test_hard_frames_are_degraded(toyvis_medium):
    """Blur kills fine detail, low contrast flattens the frame, an occlusion hides most of
    an instance: each compared with the closest ordinary frame before it."""
    root, gt = toyvis_medium
    anns = {}
    for a in gt["annotations"]:
        anns.setdefault(a["video_id"], []).append(a)
    seen = set()
    for v in gt["videos"]:
        for key, kind in v["hard_frames"].items():
            f = int(key)
            prev = max(g for g in range(f) if str(g) not in v["hard_frames"])
            path = root / "train" / "JPEGImages"
            sharp, contrast = _sharpness_and_contrast(path / v["file_names"][f])
            sharp0, contrast0 = _sharpness_and_contrast(path / v["file_names"][prev])
            if kind == "blur":
                assert sharp < 0.5 * sharp0
            elif kind == "low_contrast":
                assert contrast < 0.4 * contrast0
            else:
                shrunk = [a["areas"][f] is None or a["areas"][f] < 0.5 * a["areas"][prev]
                          for a in anns.get(v["id"], []) if a["areas"][prev]]
                assert any(shrunk)
            seen.add(kind)
    assert seen == {"blur", "low_contrast", "occlusion"}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, toyvis_small):
    make_toyvis(tmp_path / "a", progress=False, **SMALL)
    assert tree_hash(tmp_path / "a") == tree_hash(toyvis_small)
    make_toyvis(tmp_path / "b", progress=False, **dict(SMALL, seed=1))
    assert tree_hash(tmp_path / "b") != tree_hash(toyvis_small)


def test_more_videos_keep_the_first_ones(tmp_path, toyvis_small):
    make_toyvis(tmp_path, progress=False, **dict(SMALL, train_videos=5))
    old = json.loads((toyvis_small / "annotations" / "instances_train.json").read_text())
    new = json.loads((tmp_path / "annotations" / "instances_train.json").read_text())
    assert new["videos"][:4] == old["videos"]
    assert new["annotations"][:len(old["annotations"])] == old["annotations"]


def test_interrupted_run_leaves_nothing_half_written(tmp_path, monkeypatch):
    out = tmp_path / "toy"
    make_toyvis(out, progress=False, **SMALL)
    before = tree_hash(out)
    calls = []

    def failing_save(img, path):
        calls.append(path)
        if len(calls) == 20:
            raise KeyboardInterrupt
        return Image.Image.save(img, path, format="JPEG")

    monkeypatch.setattr(synth, "save_jpeg", failing_save)
    with pytest.raises(KeyboardInterrupt):
        make_toyvis(out, progress=False, **dict(SMALL, seed=3))
    assert tree_hash(out) == before  # the old data set, untouched
    assert sorted(p.name for p in out.iterdir()) == ["annotations", "toyvis-request.json",
                                                     "train", "tune", "valid"]
    fresh = tmp_path / "fresh"
    with pytest.raises(KeyboardInterrupt):
        calls.clear()
        make_toyvis(fresh, progress=False, **SMALL)
    assert list(fresh.iterdir()) == []


def test_cli_flags_and_errors(tmp_path, capsys):
    out = tmp_path / "cli"
    assert objprop(["make-toyvis", "--out", str(out), "--seed", "2", "--train-videos", "2",
                        "--valid-videos", "1", "--frames", "5-7", "--height", "48",
                        "--width", "80", "--quiet"]) == 0
    assert "train: 2 videos" in capsys.readouterr().out
    gt = load_ytvis(out / "annotations" / "instances_valid.json")
    assert len(gt["videos"]) == 1 and 5 <= gt["videos"][0]["length"] <= 7
    assert gt["videos"][0]["width"] == 80
    assert objprop(["make-toyvis", "--out", str(tmp_path / "x"), "--frames", "ten"]) == 2
    assert "frames must be N or LO-HI" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_script_is_a_thin_wrapper(tmp_path, monkeypatch):
    out = tmp_path / "script"
    monkeypatch.setattr(sys, "argv", ["make_toyvis.py", "--out", str(out), "--quiet",
                                      *sum(([f"--{k.replace('_', '-')}", str(v)]
                                            for k, v in SMALL.items()), [])])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(REPO / "data_scripts" / "make_toyvis.py"), run_name="__main__")
    assert exit_.value.code == 0
    assert (out / "annotations" / "instances_valid.json").is_file()


def test_the_tuning_split_leaves_train_and_valid_unchanged(toyvis_small, tmp_path):
    """Training runs are reused by the training data's version: adding (or dropping) the
    tuning split must not change a byte of the other splits."""
    from tests.conftest import SMALL
    make_toyvis(tmp_path, **dict(SMALL, tune_videos=0), progress=False)
    assert not (tmp_path / "tune").exists()
    assert not (tmp_path / "annotations" / "instances_tune.json").exists()
    for split in ("train", "valid"):
        for ann in (f"annotations/instances_{split}.json",):
            assert (tmp_path / ann).read_bytes() == (toyvis_small / ann).read_bytes()
        assert tree_hash(tmp_path / split) == tree_hash(toyvis_small / split)
    tune = load_ytvis(toyvis_small / "annotations" / "instances_tune.json")
    assert tune["info"]["split"] == "tune" and len(tune["videos"]) == SMALL["tune_videos"]


def test_ensure_reuses_the_same_request_and_grows_a_split_keeping_its_videos(toyvis_small,
                                                                             tmp_path, capsys):
    """The same request is reused without touching a file; a larger valid split rewrites the
    folder with the earlier valid videos and the whole training split byte for byte."""
    import shutil
    out = tmp_path / "toy"
    shutil.copytree(toyvis_small, out)
    before = tree_hash(out)
    assert toyvis.ensure_toyvis(out, progress=False, **SMALL) == (None, False)
    assert tree_hash(out) == before
    assert objprop(["make-toyvis", "--out", str(out), "--quiet", *sum(
        ([f"--{k.replace('_', '-')}", str(v)] for k, v in SMALL.items()), [])]) == 0
    assert "up to date" in capsys.readouterr().out and tree_hash(out) == before
    summary, written = toyvis.ensure_toyvis(
        out, progress=False, **dict(SMALL, valid_videos=SMALL["valid_videos"] + 2))
    assert written and summary["splits"]["valid"]["videos"] == SMALL["valid_videos"] + 2
    assert tree_hash(out / "train") == tree_hash(toyvis_small / "train")
    for ann in ("annotations/instances_train.json", "annotations/instances_tune.json"):
        assert (out / ann).read_bytes() == (toyvis_small / ann).read_bytes()
    old = load_ytvis(toyvis_small / "annotations" / "instances_valid.json")
    new = load_ytvis(out / "annotations" / "instances_valid.json")
    assert new["videos"][:len(old["videos"])] == old["videos"]
    assert new["annotations"][:len(old["annotations"])] == old["annotations"]
    for name in old["videos"][0]["file_names"]:
        assert (out / "valid" / "JPEGImages" / name).read_bytes() == \
            (toyvis_small / "valid" / "JPEGImages" / name).read_bytes()
    request = json.loads((out / toyvis.REQUEST_FILE).read_text())
    assert request["videos"]["valid"] == SMALL["valid_videos"] + 2
