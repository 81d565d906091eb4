"""MaskTrack R-CNN's track head: an embedding per RoI, matched against earlier instances.

Each RoI feature (7×7, from the box RoI extractor) goes through ``num_fcs`` fully connected
layers to an embedding. A detection at frame t is scored against the M instances of the
reference frame by dot products, with a "new instance" column fixed at 0 in front; training
is cross-entropy over these M+1 choices (target 0 = not in the reference frame, i+1 = the
reference instance i), as in Yang et al. (ICCV 2019).

``normalize=True`` (the toy configs) L2-normalises each embedding and multiplies it by
``sqrt(scale)``, so a dot product is ``scale`` × cosine similarity, bounded by ``scale``.
Trained from scratch at batch 2, plain dot products grow without bound and the match loss
explodes (measured: 3 → 244 in the first 50 iterations, gradient norm > 2000, drowning every
other loss under gradient clipping); the paper's setting (COCO-initialised features,
batch 24) keeps the original unnormalised product. The tracker multiplies the stored
embeddings the same way, so training and online matching use the same similarity.

``normalize_at_test=True`` is the ObjProp authors' variant: trained on plain dot products,
their track head L2-normalises both embeddings at test time only (anirudh-chakravarthy/ObjProp
``mmdet/models/track_heads/track_head.py`` lines 99–101, ``test_mode``), so online matching
runs on unit cosine similarities (bounded by 1) while MaskTrack R-CNN's runs on dot products.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.runner import BaseModule
from mmdet.models.builder import HEADS


@HEADS.register_module()
class TrackHead(BaseModule):
    def __init__(self, in_channels=256, roi_feat_size=7, num_fcs=2, fc_out_channels=1024,
                 loss_match_weight=1.0, normalize=False, scale=10.0,
                 normalize_at_test=False, init_cfg=None):
        super().__init__(init_cfg)
        layers = []
        in_dim = in_channels * roi_feat_size * roi_feat_size
        for i in range(num_fcs):
            layers.append(nn.Linear(in_dim if i == 0 else fc_out_channels, fc_out_channels))
            if i < num_fcs - 1:
                layers.append(nn.ReLU(inplace=True))
        self.fcs = nn.Sequential(*layers)
        self.loss_match_weight = loss_match_weight
        self.normalize, self.scale = normalize, scale
        self.normalize_at_test = normalize_at_test

    def forward(self, roi_feats):
        """(N, C, 7, 7) RoI features → (N, D) embeddings."""
        emb = self.fcs(roi_feats.flatten(1))
        if self.normalize_at_test and not self.training:
            return F.normalize(emb, dim=1)
        if self.normalize:
            emb = F.normalize(emb, dim=1) * self.scale ** 0.5
        return emb

    @staticmethod
    def match_scores(emb, ref_emb):
        """(N, D) × (M, D) → (N, 1+M) logits; column 0 is the "new instance" slot (0)."""
        prod = emb @ ref_emb.t()
        return torch.cat([prod.new_zeros(prod.shape[0], 1), prod], dim=1)

    def loss(self, scores, targets):
        """Cross-entropy over the M+1 choices of every image of the batch.

        Args:
            scores: list of (N_i, 1+M_i) logits. targets: list of (N_i,) long in [0, M_i].
        """
        losses, correct, total = [], 0, 0
        for s, t in zip(scores, targets):
            if len(t) == 0:
                continue
            losses.append(F.cross_entropy(s, t, reduction="sum"))
            correct += (s.argmax(1) == t).sum().item()
            total += len(t)
        if not losses:
            zero = sum(p.sum() for p in self.parameters()) * 0.0
            return dict(loss_match=zero, match_acc=zero.detach())
        loss = torch.stack(losses).sum() / max(total, 1)
        acc = loss.new_tensor(100.0 * correct / max(total, 1))
        return dict(loss_match=loss * self.loss_match_weight, match_acc=acc)
