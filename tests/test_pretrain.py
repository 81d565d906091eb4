"""ToyCOCO (the still-image pretraining set) and `objprop pretrain`: disjoint from ToyVIS,
valid COCO, reused per request; a smoke pretraining that writes its record and checkpoint,
reuses the cache, and whose checkpoint loads into the toy configs with the class-dependent
layers re-sized."""
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from objprop.cli import main as objprop
from objprop.data import toycoco, toyvis
from objprop.data.ytvis import mask_to_bbox
from objprop.errors import ObjPropError
from tests.conftest import SMALL
from tests.test_toyvis import tree_hash

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "configs" / "mask_rcnn_r18_fpn_toycoco.py"
TINY = dict(seed=0, train_images=8, valid_images=3, height=SMALL["height"],
            width=SMALL["width"])


def pixels(path):
    with Image.open(path) as im:
        return hashlib.sha256(np.asarray(im.convert("RGB")).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def toycoco_medium(tmp_path_factory):
    """ToyVIS's small frame size, enough images for statistics."""
    root = tmp_path_factory.mktemp("toycoco_medium")
    toycoco.make_toycoco(root, progress=False, **dict(TINY, train_images=60, valid_images=8))
    return root


@pytest.fixture(scope="module")
def toycoco_tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("toycoco_tiny")
    toycoco.make_toycoco(root, progress=False, **TINY)
    return root


def test_images_are_disjoint_from_every_toyvis_frame(toycoco_medium, toyvis_small):
    frames = {pixels(p) for p in toyvis_small.rglob("*.jpg")}
    images = [pixels(p) for p in toycoco_medium.rglob("*.jpg")]
    assert len(frames) > 40 and len(images) == 68
    assert not frames & set(images)
    assert len(set(images)) == len(images)   # no image repeats within ToyCOCO either
    # the same generator call seeded as ToyVIS seeds its videos would draw other numbers
    assert np.random.default_rng([toycoco.RNG_DOMAIN, 0, 0, 0]).random() != \
        np.random.default_rng([0, 0, 0]).random()


def test_categories_extend_toyvis_and_instances_per_image(toycoco_medium):
    gt = json.loads((toycoco_medium / "annotations" / "instances_train.json").read_text())
    cats = {c["id"]: c["name"] for c in gt["categories"]}
    assert {c["id"]: c["name"] for c in toyvis.CATEGORIES}.items() <= cats.items()
    assert 10 <= len(cats) <= 12 and len(set(cats.values())) == len(cats)
    per_image = np.bincount([a["image_id"] for a in gt["annotations"]],
                            minlength=len(gt["images"]) + 1)[1:]
    assert per_image.max() <= 6 and 2 <= per_image.mean() <= 6
    used = {a["category_id"] for a in gt["annotations"]}
    assert used == set(cats)   # 60 images draw every category, new ones included
    assert {a["category_id"] for a in gt["annotations"]} - {1, 2, 3, 4, 5}
    summary = toycoco.summarize(gt)
    assert summary["images"] == 60 and summary["instances"] == len(gt["annotations"])
    assert sum(summary["per_class"].values()) == summary["instances"]


def test_valid_coco_that_pycocotools_reads(toycoco_medium):
    from pycocotools.coco import COCO
    for split, n in (("train", 60), ("valid", 8)):
        coco = COCO(str(toycoco_medium / "annotations" / f"instances_{split}.json"))
        assert len(coco.getImgIds()) == n and coco.getCatIds() == list(range(1, 13))
        for img in coco.loadImgs(coco.getImgIds()):
            with Image.open(toycoco_medium / split / "JPEGImages" / img["file_name"]) as im:
                assert im.size == (img["width"], img["height"]) == (TINY["width"],
                                                                   TINY["height"])
        for ann in coco.loadAnns(coco.getAnnIds()):
            mask = coco.annToMask(ann).astype(bool)
            assert ann["iscrowd"] == 0 and int(mask.sum()) == ann["area"] >= \
                toyvis.min_visible_pixels(TINY["height"], TINY["width"])
            assert mask_to_bbox(mask) == ann["bbox"]


def test_a_folder_is_reused_for_the_same_request(toycoco_tiny, toyvis_small, tmp_path):
    out = tmp_path / "toycoco"
    shutil.copytree(toycoco_tiny, out)
    before = tree_hash(out)
    assert toycoco.ensure_toycoco(out, progress=False, **TINY) == (None, False)
    assert tree_hash(out) == before
    summary, written = toycoco.ensure_toycoco(out, progress=False,
                                              **dict(TINY, valid_images=4))
    assert written and summary["splits"]["valid"]["images"] == 4
    # the same seed draws the same images: the train split keeps its bytes
    assert tree_hash(out / "train") == tree_hash(toycoco_tiny / "train")
    assert toycoco.request_of(out)["images"] == dict(train=8, valid=4)
    # a folder holding something else is never overwritten; a garbled one is one line
    foreign = tmp_path / "toyvis"
    shutil.copytree(toyvis_small, foreign)
    with pytest.raises(ObjPropError, match="not a ToyCOCO folder"):
        toycoco.ensure_toycoco(foreign, progress=False, **TINY)
    assert tree_hash(foreign) == tree_hash(toyvis_small)
    (out / toycoco.REQUEST_FILE).write_text("{not json")
    with pytest.raises(ObjPropError, match="not a ToyCOCO folder"):
        toycoco.ensure_toycoco(out, progress=False, **TINY)


def test_bad_input_is_one_line_exit_2(toyvis_small, toycoco_tiny, tmp_path, capsys):
    cases = [
        ["--config", str(tmp_path / "missing.py"), "--data", str(tmp_path / "d1")],
        ["--data", str(toyvis_small)],
    ]
    bad = tmp_path / "bad.py"
    bad.write_text("model = dict(\n")
    cases.append(["--config", str(bad), "--data", str(tmp_path / "d2")])
    garbled = tmp_path / "garbled"   # the command's image size: its request matches
    toycoco.make_toycoco(garbled, progress=False, train_images=8, valid_images=3)
    (garbled / "annotations" / "instances_train.json").write_text("[1, 2")
    cases.append(["--data", str(garbled), "--train-images", "8", "--valid-images", "3",
                  "--cache-dir", str(tmp_path / "cache")])
    for args in cases:
        if "--train-images" not in args:
            args += ["--train-images", "8", "--valid-images", "3"]
        assert objprop(["pretrain", "--quiet", "--out", str(tmp_path / "r.json"), *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("objprop pretrain: error:"), err
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "cache").exists()


@pytest.fixture(scope="module")
def smoke(toycoco_tiny, tmp_path_factory):
    """A pretraining of 2 iterations on the tiny ToyCOCO: its record and cache folder."""
    from objprop.pretrain import pretrain
    tmp = tmp_path_factory.mktemp("pretrain")
    data = tmp / "toycoco"
    shutil.copytree(toycoco_tiny, data)
    record = pretrain(config=str(CONFIG), data=data, max_iters=2, cache_dir=tmp / "cache",
                      out=tmp / "pretrain.json", threads=1, log=lambda _: None,
                      progress=False, train_images=TINY["train_images"],
                      valid_images=TINY["valid_images"],
                      cfg_options={"log_config.interval": 1})
    return tmp, data, record


def test_smoke_pretraining_writes_its_record_and_checkpoint(smoke):
    tmp, _, record = smoke
    written = json.loads((tmp / "pretrain.json").read_text())
    assert written == json.loads(json.dumps(record))
    assert record["reused"] is False and record["iters"] == 2
    for kind in ("bbox", "segm"):
        assert set(record["ap"][kind]) == {"mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m",
                                           "mAP_l"}
        assert 0 <= record["ap"][kind]["mAP"] <= 100
    assert record["valid_images"] == TINY["valid_images"]
    assert [e["iter"] for e in record["loss_curve"]] == [1, 2]
    assert all(np.isfinite(e["loss"]) and e["loss"] > 0 for e in record["loss_curve"])
    ckpt = Path(record["checkpoint"])
    assert ckpt.is_file() and ckpt.parent == tmp / "cache" / record["key"]
    assert (ckpt.parent / "pretrain.json").is_file()
    assert not (tmp / "cache" / f"{record['key']}.work").exists()   # logs kept, not the run
    items = record["key_items"]
    assert items["data"]["version"] == toycoco.GENERATOR_VERSION and items["seed"] == 0
    assert {"torch", "mmcv", "mmdet"} <= set(items["versions"])


def test_a_second_call_reuses_the_cache_without_training(smoke, monkeypatch):
    from objprop import pretrain as pretrain_module
    from objprop.training import loop
    tmp, data, record = smoke

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(loop, "train", no_training)
    lines = []
    again = pretrain_module.pretrain(
        config=str(CONFIG), data=data, max_iters=2, cache_dir=tmp / "cache",
        out=tmp / "again.json", log=lines.append, progress=False,
        train_images=TINY["train_images"], valid_images=TINY["valid_images"],
        cfg_options={"log_config.interval": 1})
    assert again["reused"] is True and again["checkpoint"] == record["checkpoint"]
    assert again["ap"] == record["ap"] and again["key"] == record["key"]
    assert sum("reused from the cache" in line for line in lines) == 1
    # another training seed is another key: not reused
    key, _ = pretrain_module.cache_key(str(CONFIG), toycoco.request_of(data), seed=1,
                                       max_iters=2, cfg_options={"log_config.interval": 1})
    assert key != record["key"]


@pytest.mark.parametrize("config", ["masktrack_rcnn_r18_fpn_toy.py", "objprop_r18_fpn_toy.py"])
def test_the_pretrained_checkpoint_loads_into_the_toy_configs(smoke, config):
    import torch
    from mmdet.models import build_detector
    import objprop.models  # noqa: F401
    from objprop.checkpoint import CLASS_DEPENDENT, load_coco_init, read_checkpoint
    from objprop.config import load_config
    _, _, record = smoke
    cfg = load_config(REPO / "configs" / config)
    model = build_detector(cfg.model)
    model.init_weights()
    report = load_coco_init(model, record["checkpoint"])
    _, state = read_checkpoint(record["checkpoint"])
    assert sorted(report["resized"]) == sorted(k for k in state if k.startswith(CLASS_DEPENDENT))
    assert len(report["resized"]) == 6 and not report["skipped"]
    assert state["roi_head.bbox_head.fc_cls.weight"].shape[0] == 13   # 12 classes + background
    own = model.state_dict()
    assert own["roi_head.bbox_head.fc_cls.weight"].shape[0] == 6      # 5 classes + background
    assert torch.equal(own["roi_head.bbox_head.fc_cls.weight"][-1],
                       state["roi_head.bbox_head.fc_cls.weight"][-1])  # the background row
    backbone = [k for k in state if k.startswith(("backbone.", "neck.", "rpn_head."))]
    assert len(backbone) > 100
    assert all(torch.equal(own[k], state[k]) for k in backbone)
    # the track head (and ObjProp's propagation head) keep their own initialisation
    assert any(k.startswith("roi_head.track_head.") for k in report["missing"])


# ------------------------------------------------- the toy configs start from the cache

def test_the_toy_configs_resolve_their_start_to_the_cached_checkpoint(toy_pretrained_start,
                                                                      tmp_path, monkeypatch):
    from objprop.checkpoint import resolve_pretrained
    from objprop.config import load_config
    toy = REPO / "configs" / "masktrack_rcnn_r18_fpn_toy.py"
    url = "pretrained://mask_rcnn_r18_fpn_toycoco"
    assert load_config(toy, resolve_start=False).load_from == url
    # the session's smoke pretraining made the entry and pointed the name at it
    assert load_config(toy).load_from == toy_pretrained_start["checkpoint"]
    assert toy_pretrained_start["load_from"] == url
    for name in ("objprop_r18_fpn_toy.py", "masktrack_rcnn_r18_fpn_toy.py"):
        assert load_config(REPO / "configs" / name).load_from == \
            toy_pretrained_start["checkpoint"]
    # from scratch stays one option away; a path is left alone
    assert load_config(toy, cfg_options={"load_from": None}).load_from is None
    assert resolve_pretrained("checkpoints/x.pth") == "checkpoints/x.pth"
    # an empty cache, a garbled pointer, a pointer at a removed entry: unresolved
    monkeypatch.setenv("OBJPROP_PRETRAINED_CACHE", str(tmp_path / "empty"))
    assert load_config(toy).load_from == url
    pointer = tmp_path / "empty" / "mask_rcnn_r18_fpn_toycoco.json"
    pointer.parent.mkdir()
    for text in ("{not json", json.dumps({"key": "0123456789abcdef"}), "[1]"):
        pointer.write_text(text)
        assert load_config(toy).load_from == url


def test_a_training_without_its_start_is_one_line_exit_2(toyvis_small, tmp_path, monkeypatch,
                                                        capsys):
    monkeypatch.setenv("OBJPROP_PRETRAINED_CACHE", str(tmp_path / "empty"))
    work = tmp_path / "work"
    args = ["train", "--config", str(REPO / "configs" / "masktrack_rcnn_r18_fpn_toy.py"),
            "--data", str(toyvis_small), "--work-dir", str(work), "--max-iters", "1"]
    assert objprop(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "make pretrain" in err[0] and "load_from=None" in err[0], err
    assert "pretrained://mask_rcnn_r18_fpn_toycoco" in err[0]
    assert not work.exists()


def test_a_toy_training_starts_from_the_pretrained_weights(toy_pretrained_start, toyvis_small):
    """Through the training loop's own model building (which the chapter's first-batch
    losses share): the pretrained tensors loaded, the class-dependent ones re-sized; from
    scratch with load_from=None."""
    import torch
    from objprop.checkpoint import CLASS_DEPENDENT, read_checkpoint
    from objprop.training.loop import build_train_model
    from objprop.training.settings import prepare_config
    _, state = read_checkpoint(toy_pretrained_start["checkpoint"])
    config = REPO / "configs" / "objprop_r18_fpn_toy.py"
    cfg, _ = prepare_config(config, toyvis_small)
    classes = tuple(c["name"] for c in toyvis.CATEGORIES)
    own = build_train_model(cfg, classes).state_dict()
    shared = [k for k in state if not k.startswith(CLASS_DEPENDENT)]
    assert len(shared) > 100 and all(torch.equal(own[k], state[k]) for k in shared)
    assert own["roi_head.bbox_head.fc_cls.weight"].shape[0] == len(classes) + 1
    scratch_cfg, _ = prepare_config(config, toyvis_small, {"load_from": None})
    scratch = build_train_model(scratch_cfg, classes).state_dict()
    assert not torch.equal(scratch["backbone.conv1.weight"], state["backbone.conv1.weight"])


def test_ensure_start_makes_the_named_start_or_nothing(toy_pretrained_start, tmp_path):
    from objprop.present.pretrained import ap_table
    from objprop.pretrain import ensure_start
    toy = REPO / "configs" / "masktrack_rcnn_r18_fpn_toy.py"
    paper = REPO / "configs" / "masktrack_rcnn_r50_fpn_12e_youtubevis2019.py"
    lines = []
    assert ensure_start(paper, log=lines.append) is None
    assert ensure_start(toy, ["load_from=None"], log=lines.append) is None
    assert not lines
    # a fresh cache: made, and said so; then reused
    kwargs = dict(data=tmp_path / "toycoco", max_iters=1, train_images=4, valid_images=2,
                  cache_dir=tmp_path / "cache", out=tmp_path / "pretrain.json", threads=1,
                  progress=False)
    made = ensure_start(toy, log=lines.append, **kwargs)
    assert made["reused"] is False and Path(made["checkpoint"]).is_file()
    assert sum("not in this machine's cache yet" in line for line in lines) == 1
    lines.clear()
    again = ensure_start(toy, log=lines.append, **kwargs)
    assert again["reused"] is True and again["checkpoint"] == made["checkpoint"]
    assert not any("not in this machine's cache yet" in line for line in lines)
    table = ap_table(again)
    assert table.splitlines()[0].startswith("|  | AP | AP_50")
    assert len(table.splitlines()) == 4
