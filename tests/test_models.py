"""MaskTrack R-CNN and ObjProp built from the toy configs: losses, gradients, tracking."""
import pytest
import torch

from objprop.models.detectors import match_ids
from objprop.models.track_head import TrackHead
from tests.model_utils import pair_batch, toy_model


def test_match_ids_points_into_reference_instances():
    assert match_ids(torch.tensor([1, 2, 9]), torch.tensor([2, 1, 3])).tolist() == [2, 1, 0]


@pytest.mark.parametrize("kind", ["masktrack", "objprop"])
def test_one_training_step_has_finite_losses(kind):
    model, _ = toy_model(kind)
    losses = model(return_loss=True, **pair_batch())
    names = set(losses)
    assert {"loss_rpn_cls", "loss_cls", "loss_mask", "loss_match"} <= names
    assert ({"loss_prop_mask", "loss_prop_att"} <= names) == (kind == "objprop")
    loss, log = model._parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()


def test_gradients_reach_propagation_head_and_backbone():
    model, _ = toy_model("objprop")
    losses = model(return_loss=True, **pair_batch())
    # only the propagation losses: their gradient must flow back into the backbone
    (losses["loss_prop_mask"] + losses["loss_prop_att"]).backward()
    head = model.prop_head
    for name, p in list(head.named_parameters()):
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    stem = model.backbone.conv1.weight
    assert stem.grad is not None and stem.grad.abs().sum() > 0


def test_track_head_loss_falls_on_a_tiny_set():
    torch.manual_seed(0)
    head = TrackHead(in_channels=4, roi_feat_size=3, fc_out_channels=32)
    ref = torch.randn(3, 4, 3, 3)                         # three reference instances
    feats = ref[[0, 1, 2, 1]] + 0.3 * torch.randn(4, 4, 3, 3)
    new = torch.randn(2, 4, 3, 3)                         # two that are not in the ref
    x = torch.cat([feats, new])
    target = torch.tensor([1, 2, 3, 2, 0, 0])
    opt = torch.optim.SGD(head.parameters(), lr=0.05, momentum=0.9)
    first = None
    for _ in range(60):
        scores = head.match_scores(head(x), head(ref))
        loss = head.loss([scores], [target])["loss_match"]
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first
    assert (head.match_scores(head(x), head(ref)).argmax(1) == target).all()


def test_normalized_track_head_bounds_match_logits_and_still_learns():
    """The toy configs' cosine similarity: |logit| <= scale however large the features."""
    torch.manual_seed(0)
    head = TrackHead(in_channels=4, roi_feat_size=3, fc_out_channels=32, normalize=True,
                     scale=10.0)
    ref = torch.randn(3, 4, 3, 3)
    x = torch.cat([ref[[0, 1, 2]] + 0.3 * torch.randn(3, 4, 3, 3), torch.randn(1, 4, 3, 3)])
    big = head.match_scores(head(1000 * x), head(1000 * ref))
    assert big[:, 1:].abs().max() <= 10.0 + 1e-4
    target = torch.tensor([1, 2, 3, 0])
    opt = torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9)
    for _ in range(80):
        loss = head.loss([head.match_scores(head(x), head(ref))], [target])["loss_match"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (head.match_scores(head(x), head(ref)).argmax(1) == target).all()


def test_track_head_normalises_at_test_time_only_when_asked():
    import torch
    from objprop.models.track_head import TrackHead
    torch.manual_seed(0)
    head = TrackHead(in_channels=4, roi_feat_size=2, num_fcs=2, fc_out_channels=8,
                     normalize_at_test=True)
    x = torch.randn(3, 4, 2, 2) * 10
    train_emb = head.train()(x)
    test_emb = head.eval()(x)
    assert not torch.allclose(train_emb.norm(dim=1), torch.ones(3))   # dot products
    assert torch.allclose(test_emb.norm(dim=1), torch.ones(3))        # unit cosine
    assert torch.allclose(test_emb, torch.nn.functional.normalize(train_emb, dim=1))
