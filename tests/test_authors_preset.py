"""The authors' preset: ObjProp as the authors' released code does it (their propagation head,
their intended filling, their reference sampling), and its toy twin from the command line."""
import json
import math

import numpy as np
import pytest
import torch

from objprop.config import load_config
from objprop.inference import build_model
from objprop.models import FrameHook
from objprop.models.prop_head import PropagationHead, spatial_prior
from tests.model_utils import pair_batch, run_video
from tests import test_cli_pipeline as cli  # its objprop() runner and SMALL image size

TOY = "configs/objprop_r18_fpn_authors_toy.py"
FULL = "configs/objprop_r50_fpn_12e_youtubevis2019_authors.py"
H, W = 96, 128
BOXES = torch.tensor([[10., 12., 50., 60.], [70., 20., 115., 80.]])


def authors_toy(seed=0, **cfg_options):
    torch.manual_seed(seed)
    cfg = load_config(TOY, cfg_options=cfg_options or None)
    return build_model(cfg), cfg


# ------------------------------------------------------------------ the configs

def test_presets_load_and_differ_from_their_parents_only_where_the_authors_do():
    for path, parent in ((FULL, "configs/objprop_r50_fpn_12e_youtubevis2019.py"),
                         (TOY, "configs/objprop_r18_fpn_toy.py")):
        cfg, base = load_config(path), load_config(parent)
        head = cfg.model.prop_head
        assert (head.feat_stride, head.feat_proj, head.att_features) == (8, "authors", "proj")
        assert (head.affinity_scale, head.att_scale, head.learn_att_scale) == (1.0, 1.0, False)
        assert head.test_spatial_sigma == 8.0 and head.att_target == "box"
        assert head.class_specific and head.num_classes == base.model.roi_head.bbox_head.num_classes
        assert head.in_channels == base.model.prop_head.in_channels  # sizes stay the parent's
        assert (cfg.model.test_cfg.rcnn.score_thr, cfg.model.test_cfg.rcnn.max_per_img) == \
            (0.001, 100)
        prop = cfg.model.test_cfg.prop
        assert (prop.type, prop.mask_thr, prop.max_fill) == ("AuthorsFiller", 0.3, None)
        assert set(prop) == {"type", "mask_thr", "max_fill", "max_frames"}  # _delete_ worked
        assert cfg.data.train.ref_sampling == "any" and cfg.test_results.min_frames == 2
        assert cfg.model.test_cfg.track == base.model.test_cfg.track
        assert cfg.data.test == base.data.test
    assert load_config(FULL).load_from == \
        "work_dirs/masktrack_rcnn_r50_fpn_12e_youtubevis2019/seed0/latest.pth"
    assert load_config(FULL).model.test_cfg.prop.max_frames is None  # uncapped
    assert load_config(TOY).model.test_cfg.prop.max_frames == 4      # the toy's cost cap
    # trains standalone, from the toy configs' pretrained start (the book passes the
    # baseline's checkpoint of each seed, as the authors started from theirs)
    assert load_config(TOY, resolve_start=False).load_from == \
        "pretrained://mask_rcnn_r18_fpn_toycoco"


def test_existing_configs_keep_their_defaults():
    model = build_model(load_config("configs/objprop_r18_fpn_toy.py"))
    head = model.prop_head
    assert head.att_features == "concat" and head.test_spatial_sigma is None
    assert not head.class_specific and head.mask_pred.out_channels == 1
    assert type(model.filler).__name__ == "OnlineFiller" and model.filler.max_fill == 3


def test_full_preset_builds():
    model = build_model(load_config(FULL))
    assert model.prop_head.mask_pred.out_channels == 40
    assert model.prop_head.convs[0].conv.in_channels == 256  # projected, not 4 x 256


# ------------------------------------------------------------------ the head's options

def test_spatial_prior_rows_round_down_and_apply_at_test_time_only():
    w = spatial_prior((3, 4), (3, 4), 2.0, torch.zeros(1))
    # flat 5 = (row 1, col 1): d^2 = 2; flat 11 = (2, 3): d^2 = 13. With `/` (their line
    # 137 on PyTorch >= 1.5) flat 5 would sit at row 1.25.
    assert w[0, 5].item() == pytest.approx(math.exp(-2 / 4))
    assert w[0, 11].item() == pytest.approx(math.exp(-13 / 4))
    assert torch.allclose(w, w.T)
    torch.manual_seed(0)
    head = PropagationHead(in_channels=8, in_levels=(0,), feat_stride=8, affinity_scale=1.0,
                           test_spatial_sigma=2.0, num_convs=1, conv_channels=4)
    ft, fr = torch.randn(1, 8, 3, 4), torch.randn(1, 8, 3, 4)
    train_aff = head.train().affinity(ft, fr)
    assert torch.allclose(train_aff.sum(-1), torch.ones(1, 12), atol=1e-5)  # no prior
    test_aff = head.eval().affinity(ft, fr)
    assert torch.allclose(test_aff, train_aff * w[None], atol=1e-6)  # not re-normalised
    # a far box propagates less with the prior than without
    box = torch.tensor([[24., 16., 32., 24.]])  # the corner cell (2, 3)
    with torch.no_grad():
        near = head(ft, fr, box)["propagated"][0, 0, 0]
        head.test_spatial_sigma = None
        plain = head(ft, fr, box)["propagated"][0, 0, 0]
    assert near < 0.1 * plain


def test_class_specific_head_picks_the_labels_channel():
    head = PropagationHead(in_channels=4, in_levels=(0,), feat_stride=8, num_convs=1,
                           conv_channels=4, class_specific=True, num_classes=3)
    assert head.mask_pred.out_channels == 3
    torch.nn.init.zeros_(head.mask_pred.weight)
    with torch.no_grad():
        head.mask_pred.bias.copy_(torch.tensor([-10., 0., 10.]))
    f = torch.randn(1, 4, 6, 8)
    boxes = torch.tensor([[0., 0., 16., 16.]] * 3)
    out = head(f, f, boxes, labels=torch.tensor([2, 0, 1]))
    assert out["mask_prob"].shape == (3, 12, 16)
    assert (out["mask_prob"][0] > 0.99).all() and (out["mask_prob"][1] < 0.01).all()
    assert torch.allclose(out["mask_prob"][2], torch.full((12, 16), 0.5))
    # the loss sees the picked channel: all-foreground target, low loss for label 2 only
    gt = torch.ones(3, 48, 64)
    low = head.loss(head(f, f, boxes[:1], labels=[2]), gt[:1])["loss_prop_mask"]
    high = head.loss(head(f, f, boxes[:1], labels=[0]), gt[:1])["loss_prop_mask"]
    assert low < 1e-3 < 5 < high
    with pytest.raises(ValueError, match="labels"):
        head(f, f, boxes)


@pytest.mark.parametrize("att_features", ["concat", "proj"])
def test_attention_multiplies_the_projected_features_when_asked(att_features):
    torch.manual_seed(0)
    head = PropagationHead(in_channels=8, in_levels=(0, 1), level_strides=(8, 16),
                           feat_stride=8, feat_proj="authors", proj_channels=6,
                           att_features=att_features, num_convs=1, conv_channels=4).eval()
    feats = [torch.randn(1, 8, 6, 8), torch.randn(1, 8, 3, 4)]
    seen = []
    head.convs.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    with torch.no_grad():
        f = head.prop_features(feats)
        out = head(f, f, torch.tensor([[0., 0., 30., 20.]]))
        concat = torch.cat([feats[0], torch.nn.functional.interpolate(
            feats[1], size=(6, 8), mode="bilinear", align_corners=False)], 1)
        projected = head.proj(concat)
    want = (projected if att_features == "proj" else concat) * out["attention"][:, None]
    assert f.shape[1] == (6 if att_features == "proj" else 16)
    assert torch.allclose(seen[0], want, atol=1e-5)


def test_projected_attention_needs_a_projection():
    with pytest.raises(ValueError, match="feat_proj"):
        PropagationHead(in_channels=4, in_levels=(0,), att_features="proj")


# ------------------------------------------------------------------ training and test

def test_toy_preset_trains_one_step():
    model, _ = authors_toy()
    model.train()
    losses = model.forward_train(**pair_batch())
    loss, _ = model._parse_losses(losses)
    assert torch.isfinite(loss)
    assert {"loss_prop_mask", "loss_prop_att"} <= set(losses)
    loss.backward()
    head = model.prop_head
    assert head.mask_pred.out_channels == 5
    # the projection learns from the mask loss through the features it hands the mask head
    assert head.proj[0].conv.weight.grad.abs().sum() > 0
    assert head.mask_pred.weight.grad[:2].abs().sum() > 0  # the labels' channels (0, 1)
    assert head.mask_pred.weight.grad[2:].abs().sum() == 0


def test_reference_frame_any_other_annotated_frame(toyvis_small):
    cfg = load_config(TOY, data_root=toyvis_small)
    from mmdet.datasets import build_dataset
    import objprop.data.dataset  # noqa: F401
    ds = build_dataset(cfg.data.train)
    assert ds.ref_sampling == "any"
    has = ds.frame_has_gt[0]
    np.random.seed(0)
    got = {ds.sample_ref_frame(0, 2) for _ in range(300)}
    assert got == {f for f in range(len(has)) if f != 2 and has[f]}
    assert any(f > 2 for f in got)  # later frames too, though earlier ones qualify
    got0 = {ds.sample_ref_frame(0, 0) for _ in range(300)}
    assert max(got0) > ds.ref_frame_range[1] == 3  # beyond the toy's delta range
    ds.ref_sampling = "range"
    assert {ds.sample_ref_frame(0, 2) for _ in range(100)} <= {0, 1}  # t - delta only


class Script(FrameHook):
    """Two instances a frame with forced track ids 0 and 1; instance 0 is missed in
    ``hidden`` frames; per-frame score / label of instance 0 from tables."""

    def __init__(self, hidden=(), scores0=None, labels0=None, full_masks=False):
        self.hidden, self.full_masks = set(hidden), full_masks
        self.scores0, self.labels0 = scores0 or {}, labels0 or {}

    def keep(self, meta):
        return [0, 1] if meta["frame_id"] not in self.hidden else [1]

    def detections(self, meta, bboxes, scores, labels):
        f, k = meta["frame_id"], self.keep(meta)
        return (BOXES[k] + f, torch.tensor([self.scores0.get(f, 0.9), 0.8])[k],
                torch.tensor([self.labels0.get(f, 0), 1])[k])

    def masks(self, meta, bboxes, labels, masks):
        return np.ones_like(masks) if self.full_masks else masks

    def track_ids(self, meta, bboxes, labels, masks):
        return self.keep(meta)


class TableHead(torch.nn.Module):
    """Stand-in propagation head: a uniform mask whose probability is ``table[f]`` for the
    reference frame f (or ``table(f, t)`` when a function, t the current frame); records
    (f, ref boxes, labels) of every call."""

    def __init__(self, real, tracker, table):
        super().__init__()
        self.real, self.tracker, self.table, self.calls = real, tracker, table, []
        self.feat_stride = real.feat_stride

    def prop_features(self, x):
        return self.real.prop_features(x)

    def affinity(self, feat_t, feat_ref):
        return None

    def forward(self, feat_t, feat_ref, ref_boxes, affinity=None, labels=None):
        f = next(fr for fr, ft in self.tracker.frames if ft is feat_ref)
        t = self.tracker.frames[-1][0] + 1  # frames are consecutive in these tests
        self.calls.append((f, ref_boxes.clone(), list(labels)))
        p = torch.tensor(self.table(f, t) if callable(self.table) else self.table.get(f, 0.01))
        h, w = feat_t.shape[-2:]
        logits = torch.full((len(ref_boxes), 2 * h, 2 * w), float(torch.logit(p)))
        return dict(mask_logits=logits, mask_prob=logits.sigmoid())


def test_online_simple_test_runs_with_the_real_head():
    model, _ = authors_toy()
    torch.nn.init.constant_(model.prop_head.mask_pred.bias, 20.0)  # confident: fills show
    outs = run_video(model.eval(), Script(hidden={2, 3}), n_frames=4)
    assert [o["track_ids"] for o in outs[:2]] == [[0, 1], [0, 1]]
    for o in outs[2:]:
        assert o["track_ids"] == [1, 0] and list(o["filled"]) == [False, True]
        assert o["masks"].shape == (2, H, W) and o["masks"][1].any()


def fill_of(out, tid=0):
    k = out["track_ids"].index(tid) if tid in out["track_ids"] else None
    return None if k is None or not out["filled"][k] else k


@pytest.mark.parametrize("table, filled", [({0: 0.5, 1: 0.2}, True),     # mean .35 >= .3
                                           ({0: 0.1, 1: 0.45}, False)])  # mean .275 < .3
def test_authors_fill_thresholds_the_mean_over_the_history_at_0_3(table, filled):
    model, _ = authors_toy()
    model.prop_head = TableHead(model.prop_head, model.tracker, table)
    outs = run_video(model.eval(), Script(hidden={2}), n_frames=3)
    assert (fill_of(outs[2]) is not None) == filled
    assert sorted(c[0] for c in model.prop_head.calls) == [0, 1]  # both history frames


def test_authors_fill_score_label_box_and_history():
    model, _ = authors_toy()
    model.prop_head = TableHead(model.prop_head, model.tracker, {0: 0.9, 1: 0.9, 2: 0.9})
    hook = Script(hidden={2, 3}, scores0={0: 0.9, 1: 0.6}, labels0={0: 0, 1: 3})
    outs = run_video(model.eval(), hook, n_frames=4)
    k = fill_of(outs[2])
    assert k is not None and outs[2]["masks"][k].all()         # uniform 0.9: whole frame
    assert outs[2]["labels"][k] == 3                           # the latest label
    assert outs[2]["scores"][k] == pytest.approx(0.75)         # mean(0.9, 0.6)
    assert list(outs[2]["bboxes"][k]) == [0, 0, W - 1, H - 1]  # the mask's extent
    # the label of each history frame picks the channel there
    assert [c[2] for c in model.prop_head.calls[:2]] == [[0], [3]]
    # frame 3 propagates frame 2's fill too (back in the history), from its box
    k3 = fill_of(outs[3])
    from_fill = [c for c in model.prop_head.calls if c[0] == 2]
    assert k3 is not None and len(from_fill) == 1
    assert from_fill[0][1].tolist() == [[0, 0, W - 1, H - 1]]
    assert outs[3]["scores"][k3] == pytest.approx((0.9 + 0.6 + 0.75) / 3)  # fills count


def test_authors_fill_suppresses_nothing_unlike_the_online_fill():
    hook = Script(hidden={2}, full_masks=True)  # detected instance 1 covers the frame
    model, _ = authors_toy()
    model.prop_head = TableHead(model.prop_head, model.tracker, {0: 0.9, 1: 0.9})
    assert fill_of(run_video(model.eval(), hook, n_frames=3)[2]) is not None
    online, _ = authors_toy(**{"model.test_cfg.prop": dict(
        _delete_=True, type="OnlineFiller", max_fill=None, mask_thr=0.3)})
    torch.nn.init.constant_(online.prop_head.mask_pred.bias, 20.0)
    assert online.filler.suppress_iou == 0.5
    assert fill_of(run_video(online.eval(), hook, n_frames=3)[2]) is None  # IoU 1 > 0.5


def test_authors_fill_cap_limits_the_history_frames_used():
    calls = {}
    for cap in (None, 2):
        model, _ = authors_toy(**{"model.test_cfg.prop.max_frames": cap})
        model.prop_head = TableHead(model.prop_head, model.tracker, {})
        model.prop_head.table = {f: 0.9 for f in range(6)}
        run_video(model.eval(), Script(hidden=set(range(1, 6))), n_frames=6)
        calls[cap] = [c[0] for c in model.prop_head.calls]
    # uncapped: frame 5 propagates from frames 0..4; capped: from 3 and 4 only
    assert calls[None][-5:] == list(range(5)) and len(calls[None]) == 1 + 2 + 3 + 4 + 5
    assert calls[2][-2:] == [3, 4] and len(calls[2]) == 1 + 2 * 4


def test_authors_fill_cap_forgets_tracks_absent_from_the_capped_frames():
    """Track 0 is seen at frame 0 only; its fills at frames 1 and 2 come out empty (0.1),
    the one at frame 3 would not (0.9): uncapped it is filled at 3, with a cap of 2 frames
    (frames 1 and 2, which do not hold it) it is not."""
    filled = {}
    for cap in (None, 2):
        model, _ = authors_toy(**{"model.test_cfg.prop.max_frames": cap})
        model.prop_head = TableHead(model.prop_head, model.tracker,
                                    lambda f, t: 0.9 if t == 3 else 0.1)
        outs = run_video(model.eval(), Script(hidden={1, 2, 3}), n_frames=4)
        filled[cap] = [fill_of(o) is not None for o in outs]
    assert filled == {None: [False, False, False, True], 2: [False] * 4}


def test_release_as_shipped_fills_nothing():
    """max_fill=0: the authors' code as released (two_stage.py 441-444 skip propagation)."""
    model, _ = authors_toy(**{"model.test_cfg.prop.max_fill": 0})
    model.prop_head = TableHead(model.prop_head, model.tracker, {0: 0.9})
    outs = run_video(model.eval(), Script(hidden={1, 2}), n_frames=3)
    assert not any(o["filled"].any() for o in outs) and model.prop_head.calls == []


# ------------------------------------------------------------------ the command line

def test_authors_toy_trains_and_tests_from_the_cli(toyvis_small, tmp_path):
    wd = tmp_path / "authors"
    cli.objprop("train", "--config", TOY, "--data", toyvis_small, "--max-iters", 2,
                "--work-dir", wd, "--cfg-options", cli.SMALL)
    summary = json.loads((wd / "train_summary.json").read_text())
    results = tmp_path / "results.json"
    out = cli.objprop("test", "--config", TOY, "--checkpoint", summary["checkpoint"],
                      "--data", toyvis_small, "--split", "valid", "--out", results)
    assert "frames filled by propagation" in out
    tracks = json.loads(results.read_text())
    assert any(any(t["filled"]) for t in tracks)  # the authors' filling ran
    # min_frames=2: no one-frame track in the results
    assert all(sum(s is not None for s in t["segmentations"]) >= 2 for t in tracks)
