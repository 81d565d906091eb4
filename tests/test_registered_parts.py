"""Trackers, fillers and the propagation losses are registered parts built from config
dicts; ObjProp's losses reach it without a side channel between the two forward_trains."""
import pytest
import torch
import torch.nn.functional as F

from objprop.config import load_config
from objprop.inference import build_model
from objprop.models import (AuthorsFiller, GreedyTracker, MaskTrackTracker, OnlineFiller,
                            build_filler)
from objprop.models.prop_head import PropagationHead
from tests.model_utils import pair_batch, toy_model


def test_configs_pick_tracker_and_filler_by_type():
    base = build_model(load_config("configs/objprop_r18_fpn_toy.py"))
    assert type(base.tracker) is MaskTrackTracker and type(base.filler) is OnlineFiller
    authors = build_model(load_config("configs/objprop_r18_fpn_authors_toy.py"))
    assert type(authors.filler) is AuthorsFiller
    assert (authors.filler.mask_thr, authors.filler.max_fill, authors.filler.max_frames) == \
        (0.3, None, 4)
    greedy = build_model(load_config("configs/masktrack_rcnn_r18_fpn_toy.py", cfg_options={
        "model.test_cfg.track.type": "GreedyTracker"}))
    assert type(greedy.tracker) is GreedyTracker and not hasattr(greedy, "filler")


def test_a_filler_refuses_options_it_does_not_have():
    assert isinstance(build_filler(None), OnlineFiller)
    with pytest.raises(TypeError, match="max_frames"):
        build_filler(dict(type="OnlineFiller", max_frames=4))
    with pytest.raises(ValueError, match="history_mode"):
        build_filler(dict(history_mode="all"))
    with pytest.raises(KeyError, match="Magic"):
        build_filler(dict(type="MagicFiller"))


def old_prop_losses(out, gt_masks_t, mask_weight=1.0, att_weight=1.0):
    """The propagation losses as written before build_loss (objprop at ff2d3ec,
    prop_head.py ``PropagationHead.loss``, att_target='mask')."""
    logits = out["mask_logits"]
    mask_t = F.interpolate(gt_masks_t[:, None], size=logits.shape[-2:], mode="bilinear",
                           align_corners=False)[:, 0]
    h, w = out["attention"].shape[-2:]
    att_t = F.adaptive_avg_pool2d(gt_masks_t[:, None], (h, w))[:, 0]
    loss_mask = F.binary_cross_entropy_with_logits(logits, (mask_t > 0.5).to(logits.dtype))
    att = out["attention"].clamp(1e-6, 1 - 1e-6)
    loss_att = F.binary_cross_entropy(att, att_t)
    return dict(loss_prop_mask=loss_mask * mask_weight, loss_prop_att=loss_att * att_weight)


@pytest.mark.parametrize("weights", [(1.0, 1.0), (5.0, 0.5)])
def test_built_losses_equal_the_former_formulas_bit_for_bit(weights):
    torch.manual_seed(0)
    head = PropagationHead(in_channels=8, in_levels=(0,), feat_stride=4, level_strides=(4,),
                           conv_channels=8,
                           loss_prop_mask=dict(type="LogitsBCELoss", loss_weight=weights[0]),
                           loss_prop_att=dict(type="AttentionBCELoss", loss_weight=weights[1]))
    f_t, f_ref = torch.randn(1, 8, 12, 16), torch.randn(1, 8, 12, 16)
    boxes = torch.tensor([[4., 4., 30., 28.], [20., 10., 60., 44.]])
    gt = torch.zeros(2, 48, 64)
    gt[0, 6:30, 8:32] = 1
    gt[1, 12:40, 24:60] = 1
    f_t.requires_grad_(True)
    out = head(f_t, f_ref, boxes)
    got, want = head.loss(out, gt), old_prop_losses(out, gt, *weights)
    for k in want:
        assert torch.equal(got[k], want[k]), k
        # and the gradients, to the last bit: the trained weights stay the same
        g_got, = torch.autograd.grad(got[k], f_t, retain_graph=True)
        g_want, = torch.autograd.grad(want[k], f_t, retain_graph=True)
        assert torch.equal(g_got, g_want), k


def test_objprop_losses_come_without_a_side_channel():
    model, _ = toy_model("objprop")
    losses = model(return_loss=True, **pair_batch())
    assert {"loss_prop_mask", "loss_prop_att"} <= set(losses)
    assert not [k for k in vars(model) if k.startswith("_train")]
    baseline, _ = toy_model("masktrack")
    assert baseline.extra_losses(*[None] * 9) == {}
