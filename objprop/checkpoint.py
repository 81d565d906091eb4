"""Initialising from mmdet's COCO Mask R-CNN checkpoint (the paper's starting point).

The file a user downloads (``mask_rcnn_r50_fpn_*_coco*.pth``) has mmdet 2.x's key layout
(``{"state_dict": {...}, "meta": {...}}``, keys such as ``backbone.conv1.weight``,
``roi_head.bbox_head.fc_cls.weight``). Everything whose shape fits is loaded. The
class-dependent layers (box classifier, box regressor, mask logits) are *re-sized*: their
new-size weights keep the model's own initialisation, except the classifier's background row,
which mmdet 2.x keeps last and which means the same for any class set, so it is copied.
Layers the checkpoint lacks (track head, propagation head) keep their initialisation.
"""
from pathlib import Path

from .errors import ObjPropError

CLASS_DEPENDENT = ("roi_head.bbox_head.fc_cls", "roi_head.bbox_head.fc_reg",
                   "roi_head.mask_head.conv_logits")


def load_coco_init(model, path, logger=None):
    """Load a COCO Mask R-CNN checkpoint into ``model``; returns what was done.

    Returns:
        dict with ``loaded`` (keys copied), ``resized`` (class-dependent keys re-sized),
        ``skipped`` (checkpoint keys the model lacks or with other shapes),
        ``missing`` (model keys the checkpoint lacks).
    """
    import torch
    if not Path(path).is_file():
        raise ObjPropError("pretrained checkpoint not found (download mmdet's COCO Mask "
                           "R-CNN checkpoint there, or set load_from=None)", path=path)
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ObjPropError(f"not a readable PyTorch checkpoint ({type(exc).__name__})",
                           path=path)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise ObjPropError("no state_dict in checkpoint", path=path)
    state = {k[len("module."):] if k.startswith("module.") else k: v
             for k, v in state.items()}
    own = model.state_dict()
    new_state, report = {}, dict(loaded=[], resized=[], skipped=[], missing=[])
    for key, value in state.items():
        if key not in own:
            report["skipped"].append(key)
        elif own[key].shape == value.shape:
            new_state[key] = value
            report["loaded"].append(key)
        elif key.startswith(CLASS_DEPENDENT):
            new_state[key] = _resize_class_layer(key, value, own[key])
            report["resized"].append(key)
        else:
            report["skipped"].append(key)
    report["missing"] = sorted(set(own) - set(new_state))
    model.load_state_dict(new_state, strict=False)
    if logger is not None:
        logger.info(f"COCO init from {path}: {len(report['loaded'])} tensors loaded, "
                    f"re-sized {report['resized']}, {len(report['missing'])} left as "
                    f"initialised")
    return report


def _resize_class_layer(key, value, own):
    out = own.clone()
    if key.startswith("roi_head.bbox_head.fc_cls"):
        out[-1] = value[-1]  # background row: last in mmdet 2.x
    return out
