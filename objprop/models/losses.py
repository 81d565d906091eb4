"""Losses of the propagation head that mmdet does not have, in mmdet's LOSSES registry."""
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.builder import LOSSES


@LOSSES.register_module()
class LogitsBCELoss(nn.Module):
    """Binary cross-entropy of logits against a target in [0, 1], averaged over every
    element: torch's fused ``binary_cross_entropy_with_logits``. mmdet's
    ``CrossEntropyLoss(use_sigmoid=True)`` gives the same loss, but reduces after an
    element-wise weight, so its gradient differs in the last bit and a training drifts
    from one made with this loss (the propagation head's before it was built from config)."""

    def __init__(self, loss_weight=1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, logits, target):
        return self.loss_weight * F.binary_cross_entropy_with_logits(logits, target)


@LOSSES.register_module()
class AttentionBCELoss(nn.Module):
    """Binary cross-entropy between an attention map given as *probabilities* (not logits:
    the pair softmax of :func:`~objprop.models.prop_head.propagate_attention`) and a soft
    target in [0, 1], averaged over every element. The map is clamped to
    [``eps``, 1 - ``eps``] so that a saturated attention keeps a finite loss."""

    def __init__(self, eps=1e-6, loss_weight=1.0):
        super().__init__()
        self.eps = eps
        self.loss_weight = loss_weight

    def forward(self, attention, target):
        att = attention.clamp(self.eps, 1 - self.eps)
        return self.loss_weight * F.binary_cross_entropy(att, target)
