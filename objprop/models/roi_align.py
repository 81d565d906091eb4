"""RoIAlign whose backward pass on the CPU is two matrix products (the toy configs' RoI layer).

The forward pass is torchvision's ``roi_align`` (equal to mmcv's CPU kernel to the bit,
tests/test_speed.py), so inference is unchanged. Its CPU backward
(``roi_align_backward_kernel_impl`` in torchvision/csrc/ops/cpu/roi_align_kernel.cpp, and
mmcv's ``ROIAlignBackward``, the same loop) recomputes every sample's bilinear weights for each
channel of each bin, one scattered add at a time: on the toy model it was the third-heaviest
operator of a training step (``benchmarks/profile_train.py``).

What RoIAlign computes is separable. A sample's weight on a cell is ``w_y(y) * w_x(x)``: the
bilinear weight is a product of a row and a column weight, and each rule of the kernel's
``bilinear_interpolate_gradient`` (a sample above ``-1`` and below the map's size, clamping
to ``0`` and to the last cell) acts on one coordinate. A bin's samples form a grid, so their
sum is ``(Σ_iy w_y) ⊗ (Σ_ix w_x)``. For RoI ``r`` with output gradient ``G_r`` (C, ph, pw) the
feature gradient is therefore ``Σ_r A_y[r]ᵀ G_r A_x[r]``, where ``A_y[r]`` (ph, H) and
``A_x[r]`` (pw, W) hold each bin's summed row and column weights divided by its grid size.
Computed as one batched product over the RoIs and one matrix product over all of them
(:func:`roi_align_grad`), it equals the kernel's gradient up to float32 rounding (the order of
the additions), at a fraction of its time. On a GPU the layer keeps torchvision's backward.
"""
import torch
from mmcv.ops import RoIAlign
from mmcv.utils import Registry
from mmdet.models.builder import ROI_EXTRACTORS
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from torch import nn
from torchvision.ops import roi_align as tv_roi_align

# RoI layers objprop adds beside mmcv.ops (mmdet's SingleRoIExtractor looks layers up in
# mmcv.ops by name, without a registry: RoILayerExtractor reads this one first)
ROI_LAYERS = Registry("roi layer")


def bin_weights(start, bin_size, grid, pooled, size):
    """(R, pooled, size): each bin's summed 1-D sample weights over the cells of one axis,
    divided by its grid size (the kernel's ``count`` is the product of the two axes')."""
    n = start.shape[0]
    g_max = max(int(grid.max()) if n else 0, 1)
    i = torch.arange(g_max, dtype=start.dtype, device=start.device)
    p = torch.arange(pooled, dtype=start.dtype, device=start.device)
    g = grid.to(start.dtype).clamp(min=1)[:, None, None]
    # the kernel's sample position, in its order of operations
    pos = (start[:, None, None] + p[:, None] * bin_size[:, None, None]
           + (i + 0.5) * bin_size[:, None, None] / g)
    valid = ((i < grid[:, None, None]) & (pos >= -1) & (pos <= size)).to(start.dtype)
    pos = pos.clamp(min=0)
    low = pos.long()
    top = low >= size - 1
    low = low.clamp(max=size - 1)
    high = torch.where(top, low, low + 1)
    frac = torch.where(top, torch.zeros_like(pos), pos - low)
    w = start.new_zeros(n, pooled, size)
    w.scatter_add_(2, low.view(n, pooled, g_max), ((1 - frac) * valid).view(n, pooled, g_max))
    w.scatter_add_(2, high.view(n, pooled, g_max), (frac * valid).view(n, pooled, g_max))
    return w / g


def roi_bin_weights(rois, output_size, spatial_scale, sampling_ratio, aligned, height, width):
    """``(A_y, A_x)`` of every RoI: (R, ph, H) and (R, pw, W)."""
    ph, pw = output_size
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (rois[:, k] * spatial_scale - offset for k in range(1, 5))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:  # the kernel forces malformed RoIs to 1x1
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    if sampling_ratio > 0:
        grid_h = grid_w = torch.full_like(roi_h, sampling_ratio, dtype=torch.long)
    else:
        grid_h, grid_w = torch.ceil(roi_h / ph).long(), torch.ceil(roi_w / pw).long()
    return (bin_weights(y1, roi_h / ph, grid_h, ph, height),
            bin_weights(x1, roi_w / pw, grid_w, pw, width))


def roi_align_grad(grad_out, rois, input_shape, spatial_scale, sampling_ratio, aligned):
    """The gradient of RoIAlign's input, ``Σ_r A_y[r]ᵀ G_r A_x[r]`` per image."""
    n_img, channels, height, width = input_shape
    n, _, ph, pw = grad_out.shape
    a_y, a_x = roi_bin_weights(rois, (ph, pw), spatial_scale, sampling_ratio, aligned,
                               height, width)
    grad = grad_out.new_zeros(n_img, height, channels, width)
    img = rois[:, 0].long()
    for b in range(n_img):
        sel = (img == b).nonzero()[:, 0]
        if len(sel) == 0:
            continue
        # (r, ph, C, pw) @ (r, 1, pw, W): each bin row's gradient spread over the columns
        rows = torch.matmul(grad_out[sel].permute(0, 2, 1, 3), a_x[sel][:, None])
        # one product over every RoI's bin rows: (H, r*ph) @ (r*ph, C*W)
        grad[b] = (a_y[sel].reshape(-1, height).t()
                   @ rows.reshape(-1, channels * width)).view(height, channels, width)
    return grad.permute(0, 2, 1, 3)


class _RoIAlignMatmulGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, rois, output_size, spatial_scale, sampling_ratio, aligned):
        ctx.save_for_backward(rois)
        ctx.args = (tuple(x.shape), spatial_scale, sampling_ratio, aligned)
        return tv_roi_align(x, rois, output_size, spatial_scale, sampling_ratio, aligned)

    @staticmethod
    def backward(ctx, grad_out):
        rois, = ctx.saved_tensors
        shape, scale, ratio, aligned = ctx.args
        return (roi_align_grad(grad_out.contiguous(), rois, shape, scale, ratio, aligned),
                None, None, None, None, None)


@ROI_LAYERS.register_module()
class MatmulGradRoIAlign(RoIAlign):
    """mmcv's ``RoIAlign`` (average pooling) computed by torchvision's kernel, with the
    separable backward on the CPU (module docstring). Same arguments as mmcv's."""

    def __init__(self, output_size, spatial_scale=1.0, sampling_ratio=0, pool_mode="avg",
                 aligned=True):
        if pool_mode != "avg":
            raise ValueError(f"MatmulGradRoIAlign averages; pool_mode {pool_mode!r} is "
                             f"mmcv's RoIAlign's")
        super().__init__(output_size, spatial_scale, sampling_ratio, pool_mode, aligned,
                         use_torchvision=True)

    def forward(self, input, rois):
        if input.device.type == "cpu" and input.requires_grad and input.dtype == torch.float32:
            return _RoIAlignMatmulGrad.apply(input, rois, self.output_size, self.spatial_scale,
                                             self.sampling_ratio, self.aligned)
        return tv_roi_align(input, rois, self.output_size, self.spatial_scale,
                            self.sampling_ratio, self.aligned)


@ROI_EXTRACTORS.register_module()
class RoILayerExtractor(SingleRoIExtractor):
    """mmdet's ``SingleRoIExtractor`` whose ``roi_layer`` may also be one of
    :data:`ROI_LAYERS` (mmdet builds it by name from mmcv.ops alone)."""

    def build_roi_layers(self, layer_cfg, featmap_strides):
        cfg = dict(layer_cfg)
        layer_type = cfg.pop("type")
        if layer_type not in ROI_LAYERS:
            return super().build_roi_layers(layer_cfg, featmap_strides)
        layer_cls = ROI_LAYERS.get(layer_type)
        return nn.ModuleList([layer_cls(spatial_scale=1 / s, **cfg) for s in featmap_strides])
