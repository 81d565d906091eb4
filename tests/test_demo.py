"""`objprop demo`: a video file or a folder of frames in, one overlay frame per input frame
out (mp4 or PNGs), a per-frame tracks JSON beside it; bad input is one line and no output."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from objprop.cli import main
from objprop.data.ytvis import decode_segmentation, load_ytvis
from objprop.demo import VideoInput, encode_frames

CONFIG = "configs/objprop_r18_fpn_toy.py"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The toy ObjProp with its initial weights, saved as training saves it."""
    from mmcv.runner import save_checkpoint
    from tests.model_utils import toy_model
    model, _ = toy_model("objprop")
    path = tmp_path_factory.mktemp("demo") / "toy.pth"
    save_checkpoint(model, str(path), meta=dict(CLASSES=("disc", "square", "triangle", "star",
                                                         "ring")))
    return path


def clip(toyvis_small):
    video = load_ytvis(toyvis_small / "annotations" / "instances_valid.json")["videos"][0]
    return [np.asarray(Image.open(toyvis_small / "valid" / "JPEGImages" / name).convert("RGB"))
            for name in video["file_names"]]


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_video_file_gives_one_overlay_frame_per_frame_and_the_tracks(toyvis_small, tmp_path,
                                                                      checkpoint, capsys):
    frames = clip(toyvis_small)
    video = load_ytvis(toyvis_small / "annotations" / "instances_valid.json")["videos"][0]
    encode_frames([toyvis_small / "valid" / "JPEGImages" / n for n in video["file_names"]],
                  tmp_path / "in.mp4", fps=5)
    source = VideoInput(tmp_path / "in.mp4")
    assert source.fps == 5 and len(list(source)) == len(frames)
    out = tmp_path / "out" / "demo.mp4"
    assert main(["demo", "--input", str(tmp_path / "in.mp4"), "--config", CONFIG,
                 "--checkpoint", str(checkpoint), "--out", str(out), "--score-thr", "0"]) == 0
    assert "demo: %d frames at 5 fps" % len(frames) in capsys.readouterr().out
    written = list(VideoInput(out))
    assert len(written) == len(frames) and written[0].shape == frames[0].shape
    tracks = json.loads(out.with_suffix(".json").read_text())
    assert [f["frame"] for f in tracks["per_frame"]] == list(range(len(frames)))
    assert tracks["fps"] == 5 and tracks["score_thr"] == 0
    h, w = frames[0].shape[:2]
    for entry in tracks["per_frame"]:
        for inst in entry["instances"]:
            assert decode_segmentation(inst["segmentation"], h, w).shape == (h, w)
            assert inst["category"] in tracks["classes"] and isinstance(inst["filled"], bool)
    assert leftovers(out.parent) == []


def test_a_folder_of_odd_sized_frames_gives_a_folder(toyvis_small, tmp_path, checkpoint):
    frames = [f[:-1, :-1] for f in clip(toyvis_small)]  # odd height and width
    (tmp_path / "frames").mkdir()
    for t, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / "frames" / f"f{t:03d}.png")
    out = tmp_path / "overlays"
    assert main(["demo", "--input", str(tmp_path / "frames"), "--config", CONFIG,
                 "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == len(frames)
    assert np.asarray(Image.open(pngs[0])).shape == frames[0].shape
    tracks = json.loads((out / "tracks.json").read_text())
    assert len(tracks["per_frame"]) == len(frames) and tracks["fps"] == 10
    # the same frames to mp4: padded to even sizes, still one frame each
    assert main(["demo", "--input", str(tmp_path / "frames"), "--config", CONFIG,
                 "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o.mp4"),
                 "--fps", "3"]) == 0
    assert len(list(VideoInput(tmp_path / "o.mp4"))) == len(frames)


@pytest.mark.parametrize("case", ["missing", "not_a_video", "empty_folder", "bad_fps",
                                  "cuda_without_gpu"])
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, checkpoint, capsys, case,
                                                    monkeypatch):
    src = {"missing": tmp_path / "nothing.mp4", "not_a_video": tmp_path / "notes.mp4",
           "empty_folder": tmp_path / "empty", "bad_fps": tmp_path / "empty",
           "cuda_without_gpu": tmp_path / "empty"}[case]
    if case == "not_a_video":
        src.write_text("not a video")
    elif case in ("empty_folder", "bad_fps", "cuda_without_gpu"):
        src.mkdir()
        if case != "empty_folder":
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src / "0.png")
    if case == "cuda_without_gpu":  # the same answer on every machine
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "out" / "demo.mp4"
    extra = {"bad_fps": ["--fps", "0"], "cuda_without_gpu": ["--device", "cuda"]}.get(case, [])
    assert main(["demo", "--input", str(src), "--config", CONFIG, "--checkpoint",
                 str(checkpoint), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("objprop demo: error:") and "\n" not in err
    assert not out.parent.exists() or not any(out.parent.iterdir())
