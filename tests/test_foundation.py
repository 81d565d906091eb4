"""The environment make setup builds: imports, mmcv's compiled ops, a Mask R-CNN step."""
import copy
import subprocess
import sys

import torch
import torchvision


def test_package_and_registries_import():
    import objprop.models  # noqa: F401
    from mmdet.models.builder import DETECTORS, HEADS
    assert {"MaskTrackRCNN", "ObjProp"} <= set(DETECTORS.module_dict)
    assert {"TrackHead", "PropagationHead", "MaskTrackRoIHead"} <= set(HEADS.module_dict)


def test_mmcv_roi_align_matches_torchvision():
    from mmcv.ops import RoIAlign
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 8, 32, 40, generator=g)
    xy = torch.rand(20, 2, generator=g) * 100
    wh = torch.rand(20, 2, generator=g) * 60 + 2
    rois = torch.cat([torch.randint(0, 2, (20, 1), generator=g).float(), xy, xy + wh], 1)
    ours = RoIAlign((7, 7), spatial_scale=0.25, sampling_ratio=2, aligned=True)(feats, rois)
    ref = torchvision.ops.roi_align(feats, rois, (7, 7), spatial_scale=0.25,
                                    sampling_ratio=2, aligned=True)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_mmcv_nms_matches_torchvision():
    from mmcv.ops import nms
    g = torch.Generator().manual_seed(1)
    xy = torch.rand(300, 2, generator=g) * 200
    boxes = torch.cat([xy, xy + torch.rand(300, 2, generator=g) * 50 + 1], 1)
    scores = torch.rand(300, generator=g)
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    ref = torchvision.ops.nms(boxes, scores, 0.5)
    assert keep.tolist() == ref.tolist()
    assert torch.allclose(dets[:, 4], scores[ref])


def test_plain_mask_rcnn_from_mmdet_config_trains_one_step():
    """mmdet's own MaskRCNN, built from the toy config with the track head taken out."""
    from mmdet.models import build_detector
    from objprop.config import load_config
    from tests.model_utils import pair_batch
    cfg = load_config("configs/masktrack_rcnn_r18_fpn_toy.py")
    m = copy.deepcopy(cfg.model)
    m.type = "MaskRCNN"
    m.roi_head.type = "StandardRoIHead"
    m.roi_head.pop("track_head")
    m.test_cfg.pop("track")
    for key in ("channels_last", "train_feat_dtype", "test_feat_dtype"):  # MaskTrack R-CNN's
        m.pop(key, None)                                                  # own arguments
    torch.manual_seed(0)
    model = build_detector(m).train()
    batch = pair_batch()
    losses = model(return_loss=True, img=batch["img"], img_metas=batch["img_metas"],
                   gt_bboxes=batch["gt_bboxes"], gt_labels=batch["gt_labels"],
                   gt_masks=batch["gt_masks"])
    loss, _ = model._parse_losses(losses)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_doctor_reports_compiled_ops_and_refuses_gpu_runs_without_cuda_ops():
    from objprop.doctor import environment_report
    report = environment_report()
    assert report["mmcv_ops"], report
    cli = [sys.executable, "-m", "objprop.cli", "doctor"]
    ok = subprocess.run(cli, capture_output=True, text=True)
    assert ok.returncode == 0 and "mmcv ops" in ok.stdout
    if not (report["gpus"] and report["mmcv_ops_cuda"]):
        bad = subprocess.run(cli + ["--gpus", "4"], capture_output=True, text=True)
        assert bad.returncode == 2
        assert "Traceback" not in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1


def test_environment_yml_names_the_design_packages_at_the_constraints_pins():
    """environment.yml (conda) and constraints.txt (make setup) describe one environment:
    every design-card package is named in both, at the same version."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (root / "constraints.txt").read_text(),
                           re.M))
    env = dict(re.findall(r"^\s*- ([A-Za-z0-9_.-]+)==(\S+)", (root / "environment.yml")
                          .read_text(), re.M))
    design = ["torch", "torchvision", "mmdet", "jupyterlab", "jupytext", "matplotlib",
              "pycocotools", "papermill", "nbval"]
    for name in design:
        assert env.get(name) == pins.get(name) is not None, name
    for name, version in env.items():  # nothing pinned differently
        assert pins.get(name) == version, name
    assert "mmcv-full" in (root / "environment.yml").read_text() and "mmcv-full" in pins
