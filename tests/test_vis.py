"""objprop.vis: stable track colours, overlays, filled instances marked, figure grids."""
import itertools

import matplotlib
import numpy as np
import pytest
from PIL import Image

matplotlib.use("Agg")

from objprop.data.ytvis import load_ytvis  # noqa: E402
from objprop.vis import (FILLED_OUTLINE, draw_instances, draw_video_results,  # noqa: E402
                         frame_grid, read_frame, save_overlay_frame, track_colour)

H, W = 60, 90


def square(x0, y0, size=14):
    m = np.zeros((H, W), bool)
    m[y0:y0 + size, x0:x0 + size] = True
    return m


def test_track_colours_are_stable_and_distinct():
    assert track_colour(7) == track_colour(7)
    colours = [np.array(track_colour(i), float) for i in range(20)]
    gaps = [np.abs(a - b).sum() for a, b in itertools.combinations(colours, 2)]
    assert min(gaps) > 40
    consecutive = [np.abs(colours[i] - colours[i + 1]).sum() for i in range(19)]
    assert min(consecutive) > 120


def test_overlay_tints_masks_only_and_leaves_input_alone():
    frame = np.full((H, W, 3), 100, np.uint8)
    m = square(10, 20)
    out = draw_instances(frame, [m], track_ids=[3])
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (frame == 100).all()
    inner = out[23:31, 13:21].reshape(-1, 3).astype(int)
    expected = 0.55 * 100 + 0.45 * np.array(track_colour(3))
    assert np.abs(inner - expected).max() <= 1
    far = np.ones((H, W), bool)
    far[5:45, 0:40] = False  # mask, box and caption live up there
    assert (out[far] == 100).all()


def test_same_track_same_colour_across_frames_and_captions_drawn():
    frame = np.zeros((H, W, 3), np.uint8)
    a = draw_instances(frame, [square(5, 30), square(50, 30)], track_ids=[4, 9],
                       labels=[0, 1], class_names=["disc", "star"], scores=[0.9, 0.5])
    b = draw_instances(frame, [square(60, 35), square(20, 35)], track_ids=[9, 4])
    assert tuple(a[40, 10]) == tuple(b[45, 25])  # track 4 in both frames
    assert tuple(a[40, 55]) == tuple(b[45, 65])  # track 9
    assert tuple(a[40, 10]) != tuple(a[40, 55])
    plain = draw_instances(frame, [square(5, 30), square(50, 30)], track_ids=[4, 9])
    assert (a != plain).any()  # the captions


def test_filled_instances_get_a_white_dashed_outline():
    frame = np.zeros((H, W, 3), np.uint8)
    m = square(30, 20, 20)
    filled = draw_instances(frame, [m], track_ids=[1], filled=[True])
    normal = draw_instances(frame, [m], track_ids=[1], filled=[False])
    edge = m & ~np.pad(m, 1)[2:, 1:-1]  # the bottom row, away from the caption
    white = (filled[edge] == FILLED_OUTLINE).all(axis=1)
    assert 0.3 < white.mean() < 0.8  # dashed
    assert not (normal[edge] == FILLED_OUTLINE).all(axis=1).any()


def test_frame_grid_layout():
    import matplotlib.pyplot as plt
    rows = [[np.zeros((H, W, 3), np.uint8)] * 3, [np.ones((H, W, 3), np.uint8)] * 2]
    fig = frame_grid(rows, row_titles=["MaskTrack", "ObjProp"], col_titles=["t=0", "t=1",
                                                                            "t=2"])
    axes = fig.get_axes()
    assert len(axes) == 6
    assert [ax.get_title() for ax in axes[:3]] == ["t=0", "t=1", "t=2"]
    assert axes[0].get_ylabel() == "MaskTrack" and axes[3].get_ylabel() == "ObjProp"
    assert not axes[5].axison  # the missing cell stays blank
    plt.close(fig)


def test_draw_video_results_on_toyvis_ground_truth(toyvis_small):
    gt = load_ytvis(toyvis_small / "annotations" / "instances_valid.json")
    v = gt["videos"][0]
    frames = [read_frame(toyvis_small / "valid" / "JPEGImages" / n) for n in v["file_names"]]
    anns = [a for a in gt["annotations"] if a["video_id"] == v["id"]]
    drawn = draw_video_results(frames, anns, categories=gt["categories"])
    assert len(drawn) == len(frames)
    for f, (before, after) in enumerate(zip(frames, drawn)):
        present = any(a["segmentations"][f] is not None for a in anns)
        assert (before != after).any() == present


def test_save_overlay_frame_writes_png(tmp_path, toyvis_small):
    class FakeDataset:
        vid_infos = load_ytvis(toyvis_small / "annotations" / "instances_valid.json")["videos"]
        img_prefix = str(toyvis_small / "valid" / "JPEGImages")
        CLASSES = ("disc", "square", "triangle", "star", "ring")

    h, w = FakeDataset.vid_infos[0]["height"], FakeDataset.vid_infos[0]["width"]
    mask = np.zeros((1, h, w), bool)
    mask[0, 10:30, 20:40] = True
    out = dict(track_ids=[2], labels=np.array([1]), scores=np.array([0.8]),
               bboxes=np.array([[20., 10., 40., 30.]]), masks=mask, filled=np.array([True]))
    path = save_overlay_frame(FakeDataset, 0, 3, out, tmp_path / "show")
    assert path == tmp_path / "show" / "valid_0000" / "00003.png"
    with Image.open(path) as im:
        assert im.size == (w, h)
    assert [p.name for p in path.parent.iterdir()] == ["00003.png"]


@pytest.mark.parametrize("n", [0, 2])
def test_boxes_without_masks(n):
    frame = np.zeros((H, W, 3), np.uint8)
    boxes = np.array([[5, 5, 30, 30], [40, 10, 80, 50]], float)[:n]
    out = draw_instances(frame, None, boxes=boxes, track_ids=list(range(n)))
    assert (out != 0).any() == (n > 0)
