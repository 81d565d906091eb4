"""ObjProp's propagation head: inter-frame affinity, propagated attention, attention mask head.

The paper's recipe (Sec. 2.2), and where it is silent the choice made here:

1. **Features.** FPN levels ``in_levels`` of frames t and t-δ are resized (bilinear) to
   ``feat_stride`` (paper: 16) and concatenated along channels: ``F_t``, ``F_{t-δ}``.
   Optional projection before the affinity (paper: none, ``feat_proj=None``; the authors'
   released code: ``'authors'`` = 1×1 conv-BN-ReLU, 3×3 conv-BN-ReLU, 1×1 conv to
   ``proj_channels``). With ``att_features='concat'`` (default) the projected features are
   used for the affinity only and the attention multiplies the concatenated ``F_t`` itself,
   as the paper writes. ``att_features='proj'`` is the authors' code: the projection is part
   of the feature extraction (``extract_feats`` ends in ``self.convs``, authors'
   ``mmdet/models/prop_heads/prop_head.py`` 173–182), so the attention multiplies the
   projected features (``torch.mul(rsz_attn, x_feats...)``, lines 210 and 280) and the mask
   head takes ``proj_channels`` inputs; :meth:`PropagationHead.prop_features` then returns
   the projected features (what the history stores).
2. **Affinity.** ``W = F_t · F_{t-δ}ᵀ`` (HW×HW), rows normalised to sum 1. The paper does not
   say how; ``affinity_norm='softmax'`` (default, as the authors' code) applies a softmax over
   the reference positions of each row with the dot products scaled by ``affinity_scale``
   (``'sqrt'`` = 1/√C as in scaled dot-product attention, or a number; the authors use 1.0).
   ``'relu_l1'`` clamps at 0 and divides by the row sum (no exponent), a literal reading.
   **Spatial prior** (test time only, ``test_spatial_sigma``; default ``None`` = none): the
   authors' ``predict`` multiplies the row-normalised affinity by ``exp(-d² / σ²)``, ``d``
   the distance in feature cells between the two positions, with σ = 8 (authors'
   prop_head.py 125–141, 163 and 190), *without* normalising the rows again (the softmax
   after it is commented out, line 164). Their line 137 computes the row index with ``/``,
   which PyTorch ≥ 1.5 no longer rounds down on integer tensors (every row coordinate
   becomes ``i / W``); here the row is ``i // W``, as was meant. Training never uses it.
3. **Propagation.** The box-level binary map ``b`` of the instance at t-δ (1 inside its box,
   at feature resolution) and its inverse ``1-b`` are propagated: ``a_fg = W b``,
   ``a_bg = W (1-b) = 1 - a_fg`` (rows sum to 1).
4. **Attention.** A softmax over the (object, background) pair. Taken literally it reduces to
   ``sigmoid(a_fg - a_bg) = sigmoid(2 a_fg - 1)`` which only spans 0.27–0.73, so the attention
   can never switch features off. We multiply the pair by a temperature ``att_scale`` before
   the softmax; ``learn_att_scale=True`` (default) learns it, starting from the given value
   (1.0 = the paper's formulation at initialisation). ``learn_att_scale=False, att_scale=1``
   is the literal paper / authors' behaviour.
5. **Mask head.** ``attention ⊙ F_t`` → four 3×3 conv+ReLU → one 2× deconv+ReLU → 1×1 conv →
   sigmoid: a **full-frame** instance mask at ``feat_stride / 2`` (the paper does not say
   full-frame vs RoI; the authors' code predicts full-frame, and a full-frame mask is what
   lets the head recover an instance whose box the detector missed). ``class_specific=True``
   is the authors' head: ``num_classes`` mask channels (``conv_logits``, authors'
   prop_head.py 97–98) and the instance's label picks its channel, at training (the mask
   loss with ``use_mask=True`` takes the label's channel, lines 324–333) and at test
   (``mask_pred[:, label+1]``, line 222; ``+1`` is mmdet 1.x's background channel 0, which
   mmdet 2.x does not have). :meth:`PropagationHead.forward` then needs ``labels``.
6. **Losses** (built with mmdet's ``build_loss`` from the config). ``loss_prop_mask``:
   per-pixel binary cross-entropy between the predicted mask and the instance's
   ground-truth mask at t (resized to the prediction), as Mask R-CNN's mask loss
   (:class:`~objprop.models.losses.LogitsBCELoss`). ``loss_prop_att``: binary cross-entropy between
   the attention map and the ground-truth attention map, which is the instance's
   ground-truth mask at t at feature resolution (``att_target='mask'``; ``'box'`` uses its
   box instead) (:class:`~objprop.models.losses.AttentionBCELoss`, on probabilities).
   Weights: each loss's ``loss_weight``.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmcv.runner import BaseModule
from mmdet.models.builder import HEADS, build_loss

from .precision import autocast_dtype


def resize_concat_levels(feats, in_levels, stride_level_size):
    """Resize the chosen FPN levels to one spatial size and concatenate them on channels."""
    out = []
    for lvl in in_levels:
        f = feats[lvl]
        if f.shape[-2:] != stride_level_size:
            f = F.interpolate(f, size=stride_level_size, mode="bilinear", align_corners=False)
        out.append(f)
    return torch.cat(out, dim=1)


def normalise_affinity(affinity, mode="softmax"):
    """Normalise each row of a (B, HW_t, HW_ref) affinity to sum to one."""
    if mode == "softmax":
        return affinity.softmax(dim=-1)
    if mode == "relu_l1":
        affinity = affinity.clamp(min=0)
        return affinity / affinity.sum(dim=-1, keepdim=True).clamp(min=1e-6)
    raise ValueError(f"unknown affinity_norm {mode!r}")


def propagate_attention(affinity, obj_maps, att_scale=1.0):
    """Propagate box-level object maps with a row-normalised affinity.

    Args:
        affinity: (B, HW_t, HW_ref), rows sum to 1.
        obj_maps: (B, N, HW_ref) binary object maps of N instances at t-δ.
        att_scale: temperature on the (object, background) pair before their softmax.

    Returns:
        (fg, attention): the propagated object map ``W b`` and the attention map
        ``softmax(scale·[W b, W (1-b)])[object]``, both (B, N, HW_t).
    """
    fg = torch.einsum("bij,bnj->bni", affinity, obj_maps)
    bg = torch.einsum("bij,bnj->bni", affinity, 1.0 - obj_maps)
    pair = torch.stack([fg, bg], dim=0) * att_scale
    attention = pair.softmax(dim=0)[0]
    return fg, attention


def box_maps(boxes, size, stride):
    """Binary maps (N, h*w) of boxes (N, 4: x1 y1 x2 y2, image pixels) at ``stride``.

    A cell is inside when its centre is inside the box; every box marks at least the cell
    holding its centre, so a small box never vanishes at coarse strides.
    """
    h, w = size
    ys = (torch.arange(h, device=boxes.device, dtype=boxes.dtype) + 0.5) * stride
    xs = (torch.arange(w, device=boxes.device, dtype=boxes.dtype) + 0.5) * stride
    x1, y1, x2, y2 = [boxes[:, i, None] for i in range(4)]
    iny = (ys[None] >= y1) & (ys[None] <= y2)
    inx = (xs[None] >= x1) & (xs[None] <= x2)
    maps = iny[:, :, None] & inx[:, None, :]
    cy = ((y1 + y2) / 2 / stride).long().clamp(0, h - 1).squeeze(1)
    cx = ((x1 + x2) / 2 / stride).long().clamp(0, w - 1).squeeze(1)
    maps[torch.arange(len(boxes), device=boxes.device), cy, cx] = True
    return maps.flatten(1).to(boxes.dtype)


def spatial_prior(size_t, size_ref, sigma, like):
    """(HW_t, HW_ref) weights ``exp(-d² / σ²)``, ``d`` the distance in feature cells.

    The authors' ``get_spatial_weight`` (prop_head.py 125–141); the row of flat index ``i``
    is ``i // W`` (their line 137 writes ``/``, which rounded down only in PyTorch < 1.5).
    """
    def cells(size):
        h, w = size
        idx = torch.arange(h * w, device=like.device)
        return torch.stack([idx // w, idx % w], dim=-1).to(like.dtype)
    d = (cells(size_t)[:, None] - cells(size_ref)[None]).pow(2).sum(-1)
    return (-d / sigma ** 2).exp()


def masks_to_image(prob, meta, stride):
    """The head's masks (N, h', w') at ``stride`` of the padded input → (N, H, W) at the
    original frame size: upsampled, the padding cropped, resized to ``ori_shape``."""
    H, W = meta["ori_shape"][:2]
    ih, iw = meta["img_shape"][:2]
    prob = F.interpolate(prob[:, None], scale_factor=stride, mode="bilinear",
                         align_corners=False)[..., :ih, :iw]
    return F.interpolate(prob, size=(H, W), mode="bilinear", align_corners=False)[:, 0]


@HEADS.register_module()
class PropagationHead(BaseModule):
    """Attention-guided mask propagation from frame t-δ to frame t (see module docstring)."""

    def __init__(self,
                 in_channels=256,
                 in_levels=(0, 1, 2, 3),
                 feat_stride=16,
                 level_strides=(4, 8, 16, 32, 64),
                 feat_proj=None,
                 proj_channels=256,
                 affinity_norm="softmax",
                 affinity_scale="sqrt",
                 att_scale=1.0,
                 learn_att_scale=True,
                 att_target="mask",
                 att_features="concat",
                 test_spatial_sigma=None,
                 class_specific=False,
                 num_classes=None,
                 num_convs=4,
                 conv_channels=256,
                 max_instances=8,
                 train_conv_dtype=None,
                 test_conv_dtype=None,
                 loss_prop_mask=dict(type="LogitsBCELoss", loss_weight=1.0),
                 loss_prop_att=dict(type="AttentionBCELoss", loss_weight=1.0),
                 init_cfg=None):
        super().__init__(init_cfg)
        self.in_levels = tuple(in_levels)
        self.feat_stride = feat_stride
        self.level_strides = tuple(level_strides)
        self.affinity_norm = affinity_norm
        self.att_target = att_target
        self.max_instances = max_instances
        # mixed precision of the mask head's convolutions while training ('bfloat16'; None:
        # float32), as the detector's train_feat_dtype for the backbone; the affinity, the
        # attention and the losses stay float32
        # (``test_conv_dtype``: the same at test time)
        self.train_conv_dtype = autocast_dtype("train_conv_dtype", train_conv_dtype)
        self.test_conv_dtype = autocast_dtype("test_conv_dtype", test_conv_dtype)
        self.loss_prop_mask = build_loss(loss_prop_mask)
        self.loss_prop_att = build_loss(loss_prop_att)
        cat_channels = in_channels * len(self.in_levels)
        if feat_proj is None:
            self.proj = None
            aff_channels = cat_channels
        elif feat_proj == "authors":
            bn = dict(type="BN")
            self.proj = nn.Sequential(
                ConvModule(cat_channels, proj_channels, 1, norm_cfg=bn),
                ConvModule(proj_channels, proj_channels, 3, padding=1, norm_cfg=bn),
                nn.Conv2d(proj_channels, proj_channels, 1))
            aff_channels = proj_channels
        else:
            raise ValueError(f"unknown feat_proj {feat_proj!r}")
        if att_features not in ("concat", "proj"):
            raise ValueError(f"unknown att_features {att_features!r}")
        if att_features == "proj" and self.proj is None:
            raise ValueError("att_features='proj' needs a projection (feat_proj='authors')")
        # 'proj': the projection belongs to the features (authors' prop_head.py 173-182)
        self.att_features = att_features
        att_channels = proj_channels if att_features == "proj" else cat_channels
        self.test_spatial_sigma = (None if test_spatial_sigma is None
                                   else float(test_spatial_sigma))
        if class_specific and not num_classes:
            raise ValueError("class_specific=True needs num_classes")
        self.class_specific = bool(class_specific)
        self.num_classes = num_classes
        self.affinity_scale = (1.0 / math.sqrt(aff_channels) if affinity_scale == "sqrt"
                               else float(affinity_scale))
        log_scale = torch.tensor(math.log(att_scale), dtype=torch.float32)
        if learn_att_scale:
            self.log_att_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_att_scale", log_scale)
        convs = []
        for i in range(num_convs):
            convs.append(ConvModule(att_channels if i == 0 else conv_channels, conv_channels,
                                    3, padding=1))
        self.convs = nn.Sequential(*convs)
        self.deconv = nn.ConvTranspose2d(conv_channels, conv_channels, 2, stride=2)
        self.mask_pred = nn.Conv2d(conv_channels, num_classes if self.class_specific else 1, 1)

    # -- features and affinity -------------------------------------------------------------
    def prop_features(self, feats):
        """``F`` of one frame batch: chosen levels resized to ``feat_stride`` and concatenated
        (and projected, when ``att_features='proj'``)."""
        ref_lvl = self.level_strides.index(self.feat_stride) if \
            self.feat_stride in self.level_strides else None
        if ref_lvl is not None and ref_lvl < len(feats):
            size = feats[ref_lvl].shape[-2:]
        else:  # derive from the finest level
            f0 = feats[0]
            s0 = self.level_strides[0]
            size = (math.ceil(f0.shape[-2] * s0 / self.feat_stride),
                    math.ceil(f0.shape[-1] * s0 / self.feat_stride))
        feat = resize_concat_levels(feats, self.in_levels, tuple(size))
        if self.att_features == "proj":
            feat = self.proj(feat)
        return feat

    def affinity(self, feat_t, feat_ref):
        """Row-normalised affinity (B, HW_t, HW_ref) between two frames' ``F``; in eval mode
        multiplied by the spatial prior when ``test_spatial_sigma`` is set (rows then sum
        to at most 1)."""
        if self.proj is not None and self.att_features == "concat":
            feat_t, feat_ref = self.proj(feat_t), self.proj(feat_ref)
        a = torch.einsum("bci,bcj->bij", feat_t.flatten(2), feat_ref.flatten(2))
        a = normalise_affinity(a * self.affinity_scale, self.affinity_norm)
        if self.test_spatial_sigma is not None and not self.training:
            key = (tuple(feat_t.shape[-2:]), tuple(feat_ref.shape[-2:]), a.device, a.dtype)
            if getattr(self, "_prior_key", None) != key:  # one video = one size: compute once
                self._prior = spatial_prior(key[0], key[1], self.test_spatial_sigma, a)
                self._prior_key = key
            a = a * self._prior[None]
        return a

    @property
    def att_scale(self):
        return self.log_att_scale.exp()

    # -- forward ------------------------------------------------------------------------------
    def forward(self, feat_t, feat_ref, ref_boxes, affinity=None, labels=None):
        """Predict masks at t of instances given by their boxes at t-δ.

        Args:
            feat_t, feat_ref: (1, C, h, w) ``F`` of one frame pair.
            ref_boxes: (N, 4) boxes at t-δ in (padded) image pixels.
            affinity: optional precomputed (1, hw, hw) affinity, reused across instances.
            labels: (N,) class indices; required when ``class_specific`` (they pick each
                instance's mask channel), ignored otherwise.

        Returns:
            dict with ``mask_prob`` (N, 2h, 2w) in [0, 1], ``attention`` (N, h, w),
            ``propagated`` (N, h, w) (``W b``) and ``affinity``.
        """
        h, w = feat_t.shape[-2:]
        if affinity is None:
            affinity = self.affinity(feat_t, feat_ref)
        b = box_maps(ref_boxes, (h, w), self.feat_stride)[None]  # (1, N, hw)
        fg, att = propagate_attention(affinity, b, self.att_scale)
        att = att[0].view(-1, 1, h, w)
        x = feat_t * att  # (N, C, h, w): broadcast over instances
        dtype = self.train_conv_dtype if self.training else self.test_conv_dtype
        with torch.autocast(x.device.type, dtype=dtype or torch.bfloat16,
                            enabled=dtype is not None):
            x = self.convs(x)
            x = F.relu(self.deconv(x))
            logits = self.mask_pred(x).float()
        if self.class_specific:
            if labels is None:
                raise ValueError("a class-specific propagation head needs the labels")
            labels = torch.as_tensor(labels, device=logits.device).long().view(-1)
            logits = logits[torch.arange(len(logits), device=logits.device), labels]
        else:
            logits = logits[:, 0]
        return dict(mask_logits=logits, mask_prob=logits.sigmoid(), attention=att[:, 0],
                    propagated=fg[0].view(-1, h, w), affinity=affinity)

    def loss(self, out, gt_masks_t, gt_boxes_t=None):
        """``loss_prop_mask`` and ``loss_prop_att`` for one frame pair.

        Args:
            out: :meth:`forward`'s output for N instances.
            gt_masks_t: (N, H, W) float ground-truth masks at t (padded image size).
            gt_boxes_t: (N, 4) boxes at t, needed when ``att_target='box'``.
        """
        logits = out["mask_logits"]
        mask_t = F.interpolate(gt_masks_t[:, None], size=logits.shape[-2:], mode="bilinear",
                               align_corners=False)[:, 0]
        h, w = out["attention"].shape[-2:]
        if self.att_target == "box":
            att_t = box_maps(gt_boxes_t, (h, w), self.feat_stride).view(-1, h, w)
        else:
            # soft target: the fraction of each feature cell covered by the mask
            att_t = F.adaptive_avg_pool2d(gt_masks_t[:, None], (h, w))[:, 0]
        return dict(loss_prop_mask=self.loss_prop_mask(logits, (mask_t > 0.5).to(logits.dtype)),
                    loss_prop_att=self.loss_prop_att(out["attention"], att_t))
