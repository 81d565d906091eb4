"""Online inference: tracking across frames, and ObjProp's empty-instance filling."""
import numpy as np
import pytest
import torch

from objprop.models import FrameHook
from tests.model_utils import run_video, toy_model

H, W = 96, 128
BOXES = torch.tensor([[10., 12., 50., 60.], [70., 20., 115., 80.]])


class ScriptedDetections(FrameHook):
    """Replaces the detector's output with two fixed instances, hiding some per frame."""

    def __init__(self, hidden=()):
        self.hidden = set(hidden)  # (frame, instance index) pairs the detector "misses"

    def detections(self, meta, bboxes, scores, labels):
        keep = [k for k in range(len(BOXES)) if (meta["frame_id"], k) not in self.hidden]
        return (BOXES[keep] + meta["frame_id"], torch.tensor([0.9, 0.8])[keep],
                torch.tensor([0, 1])[keep])


@pytest.mark.parametrize("kind", ["masktrack", "objprop"])
def test_tracks_keep_their_ids_across_frames(kind):
    model, _ = toy_model(kind)
    outs = run_video(model.eval(), ScriptedDetections())
    assert [o["track_ids"] for o in outs] == [[0, 1]] * 4
    assert all(o["masks"].shape == (2, H, W) for o in outs)
    assert not any(o["filled"].any() for o in outs)


def make_prop_head_confident(model):
    """An untrained head predicts ~0.5 everywhere; a large output bias makes its mask the
    whole frame, so the test sees the filling mechanism itself, not training quality."""
    torch.nn.init.constant_(model.prop_head.mask_pred.bias, 20.0)


def test_objprop_fills_a_missed_instance_and_baseline_does_not():
    hidden = {(2, 0)}  # frame 2 misses instance 0
    base, _ = toy_model("masktrack")
    base_out = run_video(base.eval(), ScriptedDetections(hidden))
    assert base_out[2]["track_ids"] == [1]

    model, _ = toy_model("objprop")
    make_prop_head_confident(model)
    outs = run_video(model.eval(), ScriptedDetections(hidden))
    frame2 = outs[2]
    assert sorted(frame2["track_ids"]) == [0, 1]
    k = frame2["track_ids"].index(0)
    assert frame2["filled"][k] and not frame2["filled"][1 - k]
    assert frame2["labels"][k] == 0
    assert frame2["scores"][k] == pytest.approx(0.9)   # the mean of its stored scores
    assert frame2["masks"][k].sum() > 0
    # frame 3 detects it again under the same id: the fill did not break the track
    assert sorted(outs[3]["track_ids"]) == [0, 1] and not outs[3]["filled"].any()


def test_filling_stops_after_max_fill_frames():
    model, _ = toy_model("objprop")
    make_prop_head_confident(model)
    model.filler.max_fill = 2
    hidden = {(f, 0) for f in range(1, 6)}
    outs = run_video(model.eval(), ScriptedDetections(hidden), n_frames=6)
    has_0 = [0 in o["track_ids"] for o in outs]
    assert has_0 == [True, True, True, False, False, False]


def test_filling_off_matches_the_baseline_behaviour():
    model, _ = toy_model("objprop")
    make_prop_head_confident(model)
    model.filler.max_fill = 0
    outs = run_video(model.eval(), ScriptedDetections({(2, 0)}))
    assert outs[2]["track_ids"] == [1]


class TwoDetectionsOfOneInstance(FrameHook):
    """Frame 0: one instance; later frames: it twice, a worse copy first in input order."""

    def detections(self, meta, bboxes, scores, labels):
        if meta["frame_id"] == 0:
            return BOXES[:1], torch.tensor([0.9]), torch.tensor([0])
        return (torch.stack([BOXES[0] + 1, BOXES[0]]), torch.tensor([0.3, 0.9]),
                torch.tensor([0, 0]))


def test_a_detection_that_loses_its_track_leaves_the_frame_output():
    model, _ = toy_model("masktrack")
    model.roi_head.track_head.normalize = True  # equal embeddings for equal boxes' features
    outs = run_video(model.eval(), TwoDetectionsOfOneInstance(), n_frames=3)
    for o in outs:
        assert len(set(o["track_ids"])) == len(o["track_ids"])  # one mask per id and frame
        assert len(o["masks"]) == len(o["scores"]) == len(o["track_ids"])
    # MaskTrack R-CNN's rule: the better copy keeps track 0, the other is dropped
    assert all(o["track_ids"] == [0] for o in outs)
    assert all(o["scores"].tolist() == pytest.approx([0.9]) for o in outs)


class WeakAt(ScriptedDetections):
    """Both instances every frame; instance 0 scores ``score`` from frame ``frame`` on."""

    def __init__(self, frame, score):
        super().__init__()
        self.frame, self.score = frame, score

    def detections(self, meta, bboxes, scores, labels):
        boxes, s, lab = super().detections(meta, bboxes, scores, labels)
        if meta["frame_id"] >= self.frame:
            s = s.clone()
            s[0] = self.score
        return boxes, s, lab


def test_min_track_score_keeps_filling_off_low_score_tracks():
    hidden = {(2, 0)}
    model, _ = toy_model("objprop")
    make_prop_head_confident(model)
    model.filler.min_track_score = 0.95  # instance 0 scores 0.9: not filled
    outs = run_video(model.eval(), ScriptedDetections(hidden))
    assert outs[2]["track_ids"] == [1]
    model.filler.min_track_score = 0.85
    outs = run_video(model.eval(), ScriptedDetections(hidden))
    assert sorted(outs[2]["track_ids"]) == [0, 1] and outs[2]["filled"].sum() == 1


def test_a_weak_detection_takes_the_propagated_mask_only_when_asked():
    model, _ = toy_model("objprop")
    make_prop_head_confident(model)  # the propagated mask is the whole frame
    plain = run_video(model.eval(), WeakAt(2, 0.2))
    k = plain[2]["track_ids"].index(0)
    assert not plain[2]["filled"].any() and plain[2]["masks"][k].sum() < H * W
    model.filler.replace_score_thr = 0.5
    outs = run_video(model.eval(), WeakAt(2, 0.2))
    k = outs[2]["track_ids"].index(0)
    assert outs[2]["filled"][k] and outs[2]["masks"][k].all()
    j = 1 - k  # the confident detection keeps its own mask
    assert not outs[2]["filled"][j]
    np.testing.assert_array_equal(outs[2]["masks"][j], plain[2]["masks"][1 - plain[2]["track_ids"].index(0)])
    # frame 0 has no previous frame: nothing to propagate from, the detection stays
    assert not run_video(model.eval(), WeakAt(0, 0.2))[0]["filled"].any()
