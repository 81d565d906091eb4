"""The propagation head's maths: affinity, propagated attention, box transport."""
import math

import pytest
import torch

from objprop.models.prop_head import (PropagationHead, box_maps, normalise_affinity,
                                      propagate_attention)


def onehot_features(h, w, shift=(0, 0)):
    """(1, h*w, h, w): cell (y, x) holds the one-hot code of cell (y - dy, x - dx).

    Frame t's content is frame t-δ's content moved by ``shift``, so an identity-like
    feature map should carry every ref cell to its shifted place.
    """
    dy, dx = shift
    f = torch.zeros(1, h * w, h, w)
    for y in range(h):
        for x in range(w):
            sy, sx = min(max(y - dy, 0), h - 1), min(max(x - dx, 0), w - 1)
            f[0, sy * w + sx, y, x] = 1.0
    return f


@pytest.mark.parametrize("mode", ["softmax", "relu_l1"])
def test_affinity_rows_sum_to_one(mode):
    torch.manual_seed(0)
    head = PropagationHead(in_channels=8, in_levels=(0,), affinity_norm=mode,
                           num_convs=1, conv_channels=4)
    a = head.affinity(torch.randn(2, 8, 5, 7), torch.randn(2, 8, 5, 7))
    assert a.shape == (2, 35, 35)
    assert torch.allclose(a.sum(-1), torch.ones(2, 35), atol=1e-5)
    assert (a >= 0).all()


def test_all_ones_object_map_propagates_to_ones():
    torch.manual_seed(0)
    aff = normalise_affinity(torch.randn(1, 12, 12))
    fg, att = propagate_attention(aff, torch.ones(1, 3, 12), att_scale=1.0)
    assert torch.allclose(fg, torch.ones_like(fg), atol=1e-6)
    # the literal pair softmax can only reach sigmoid(1) = 0.73 ...
    assert torch.allclose(att, torch.full_like(att, 1 / (1 + math.exp(-1))), atol=1e-5)
    # ... a temperature lets the attention say "everywhere" (~1)
    _, att = propagate_attention(aff, torch.ones(1, 3, 12), att_scale=12.0)
    assert (att > 0.9999).all()


def test_empty_object_map_gives_low_attention():
    aff = normalise_affinity(torch.randn(1, 6, 6))
    fg, att = propagate_attention(aff, torch.zeros(1, 1, 6), att_scale=12.0)
    assert torch.allclose(fg, torch.zeros_like(fg))
    assert (att < 1e-4).all()


def test_shifted_frame_moves_the_box():
    h, w, stride, shift = 8, 10, 16, (2, 3)
    head = PropagationHead(in_channels=h * w, in_levels=(0,), feat_stride=stride,
                           affinity_scale=40.0, att_scale=20.0, learn_att_scale=False,
                           num_convs=1, conv_channels=4)
    f_ref = onehot_features(h, w)
    f_t = onehot_features(h, w, shift)
    box = torch.tensor([[1 * stride, 2 * stride, 4 * stride - 1, 4 * stride - 1]],
                       dtype=torch.float32)  # cells x 1..3, y 2..3
    out = head(f_t, f_ref, box)
    got = (out["attention"][0] > 0.5)
    want = box_maps(box + torch.tensor([shift[1], shift[0]] * 2) * stride, (h, w),
                    stride).view(h, w).bool()
    assert want.sum() == 6
    assert torch.equal(got, want)


def test_box_maps_mark_inside_cells_and_tiny_boxes():
    boxes = torch.tensor([[0., 0., 31., 15.], [40., 40., 41., 41.]])
    maps = box_maps(boxes, (4, 4), 16).view(2, 4, 4)
    assert maps[0].sum() == 2 and maps[0][0, :2].all()
    assert maps[1].sum() == 1 and maps[1][2, 2] == 1


def test_learned_att_scale_is_a_parameter():
    head = PropagationHead(in_channels=4, in_levels=(0,), num_convs=1, conv_channels=4)
    assert any(n == "log_att_scale" for n, _ in head.named_parameters())
    fixed = PropagationHead(in_channels=4, in_levels=(0,), num_convs=1, conv_channels=4,
                            learn_att_scale=False)
    assert all(n != "log_att_scale" for n, _ in fixed.named_parameters())


def test_mask_output_is_full_frame_at_half_stride():
    head = PropagationHead(in_channels=4, in_levels=(0, 1), level_strides=(8, 16),
                           feat_stride=16, num_convs=4, conv_channels=8)
    feats = [torch.randn(1, 4, 10, 12), torch.randn(1, 4, 5, 6)]
    ft = head.prop_features(feats)
    assert ft.shape == (1, 8, 5, 6)
    out = head(ft, ft, torch.tensor([[0., 0., 40., 40.], [10., 10., 90., 70.]]))
    assert out["mask_prob"].shape == (2, 10, 12)
    losses = head.loss(out, torch.ones(2, 80, 96))
    assert set(losses) == {"loss_prop_mask", "loss_prop_att"}
    assert all(torch.isfinite(v) for v in losses.values())
