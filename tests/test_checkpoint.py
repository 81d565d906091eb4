"""Loading a COCO Mask R-CNN checkpoint (mmdet key layout) into the 5-class toy models."""
import copy

import pytest
import torch

from objprop.errors import ObjPropError
from tests.model_utils import toy_model


@pytest.fixture(scope="module")
def coco_checkpoint(tmp_path_factory):
    """A Mask R-CNN with 80 COCO classes saved as mmdet saves it (state_dict + meta)."""
    from mmdet.models import build_detector
    from objprop.config import load_config
    cfg = load_config("configs/masktrack_rcnn_r18_fpn_toy.py")
    m = copy.deepcopy(cfg.model)
    m.type, m.roi_head.type = "MaskRCNN", "StandardRoIHead"
    m.roi_head.pop("track_head")
    m.test_cfg.pop("track")
    for key in ("channels_last", "train_feat_dtype", "test_feat_dtype"):  # MaskTrack R-CNN's
        m.pop(key, None)                                                  # own arguments
    m.roi_head.bbox_head.num_classes = m.roi_head.mask_head.num_classes = 80
    torch.manual_seed(123)
    coco = build_detector(m)
    path = tmp_path_factory.mktemp("ckpt") / "mask_rcnn_coco.pth"
    torch.save({"state_dict": coco.state_dict(), "meta": {"CLASSES": ["c"] * 80}}, path)
    return path, coco.state_dict()


@pytest.mark.parametrize("kind", ["masktrack", "objprop"])
def test_coco_init_loads_shared_layers_and_resizes_class_layers(coco_checkpoint, kind):
    from objprop.checkpoint import load_coco_init
    path, coco = coco_checkpoint
    model, _ = toy_model(kind, seed=7)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = load_coco_init(model, path)
    state = model.state_dict()
    assert torch.equal(state["backbone.conv1.weight"], coco["backbone.conv1.weight"])
    assert torch.equal(state["neck.fpn_convs.0.conv.weight"],
                       coco["neck.fpn_convs.0.conv.weight"])
    assert sorted(report["resized"]) == sorted(
        f"roi_head.{k}" for k in ["bbox_head.fc_cls.weight", "bbox_head.fc_cls.bias",
                                  "bbox_head.fc_reg.weight", "bbox_head.fc_reg.bias",
                                  "mask_head.conv_logits.weight",
                                  "mask_head.conv_logits.bias"])
    w = state["roi_head.bbox_head.fc_cls.weight"]
    assert w.shape[0] == 6                     # 5 toy classes + background
    assert torch.equal(w[-1], coco["roi_head.bbox_head.fc_cls.weight"][-1])
    assert torch.equal(w[:-1], before["roi_head.bbox_head.fc_cls.weight"][:-1])
    track = [k for k in state if k.startswith("roi_head.track_head")]
    assert track and all(k in report["missing"] for k in track)
    assert all(torch.equal(state[k], before[k]) for k in track)


def test_coco_init_errors_are_one_line(tmp_path):
    from objprop.checkpoint import load_coco_init
    model, _ = toy_model("masktrack")
    with pytest.raises(ObjPropError, match="not found"):
        load_coco_init(model, tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(ObjPropError, match="bad.pth: not a readable"):
        load_coco_init(model, bad)
