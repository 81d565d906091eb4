"""A config ``type`` its registry does not hold is one line before anything is built
(``objprop.registries``): the key, the name and the closest registered names, exit 2, for
every command that loads a config; every shipped config passes the check. And mmcv's
notice about its 2.0 release is silenced in objprop's processes, other warnings not."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from objprop import book, registries
from objprop.cli import main
from objprop.config import load_config
from objprop.errors import ObjPropError
from objprop.training import TrainSettings, train_subprocesses
from tests.model_utils import CONFIGS
from tests.test_bad_inputs import refused

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "configs").glob("*.py"))


@pytest.mark.parametrize("config", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_config_names_only_registered_types(config):
    assert registries.unknown_types(load_config(config)) == []


def test_the_check_reaches_the_parts_of_every_shipped_config():
    """The shipped configs' types are looked up, not skipped: each kind below is met."""
    met = {kind for config in SHIPPED
           for *_, kind in registries.located_types(load_config(config)._cfg_dict.to_dict())}
    assert {"detector", "backbone", "neck", "head", "roi_extractor", "roi_layer", "loss",
            "norm", "assigner", "sampler", "coder", "prior", "tracker", "filler", "dataset",
            "pipeline", "optimizer", "runner", "hook", "lr_policy"} <= met


def problem(config, options):
    with pytest.raises(ObjPropError) as exc:
        registries.check_config_types(load_config(config, cfg_options=options), config)
    return str(exc.value)


@pytest.mark.parametrize("config, key, value, noun, suggestion", [
    ("masktrack", "model.type", "MaskTrackRCNx", "detector", "MaskTrackRCNN"),
    ("masktrack", "model.roi_head.type", "MaskTrackRoIHeed", "head", "MaskTrackRoIHead"),
    ("masktrack", "model.backbone.type", "ResNey", "backbone", "ResNet"),
    ("masktrack", "model.roi_head.track_head.type", "TrackHaed", "head", "TrackHead"),
    ("masktrack", "model.roi_head.bbox_head.loss_cls.type", "CrossEntropyLos", "loss",
     "CrossEntropyLoss"),
    ("masktrack", "model.roi_head.bbox_roi_extractor.type", "RoILayerExtractr",
     "RoI extractor", "RoILayerExtractor"),
    ("masktrack", "model.roi_head.bbox_roi_extractor.roi_layer.type", "MatmulGradRoIAlig",
     "RoI layer", "MatmulGradRoIAlign"),
    ("masktrack", "model.backbone.norm_cfg.type", "BNN", "norm layer", "BN"),
    ("masktrack", "model.train_cfg.rcnn.sampler.type", "RandomSamplr", "box sampler",
     "RandomSampler"),
    ("masktrack", "model.test_cfg.track.type", "GreedyTrackr", "tracker", "GreedyTracker"),
    ("objprop", "model.test_cfg.prop.type", "OnlineFillr", "filler", "OnlineFiller"),
    ("objprop", "model.prop_head.loss_prop_att.type", "AttentionBCELos", "loss",
     "AttentionBCELoss"),
    ("masktrack", "data.train.type", "YouTubeVISDatset", "dataset", "YouTubeVISDataset"),
    ("masktrack", "data.train.pipeline.2.type", "Resise", "pipeline transform", "Resize"),
    ("masktrack", "data.test.pipeline.1.transforms.0.type", "Resise", "pipeline transform",
     "Resize"),
    ("masktrack", "optimizer.type", "AdamWW", "optimizer", "AdamW"),
    ("masktrack", "runner.type", "IterBasedRuner", "runner", "IterBasedRunner"),
    ("masktrack", "log_config.hooks.0.type", "TextLogerHook", "hook", "TextLoggerHook"),
    ("masktrack", "lr_config.policy", "stepp", "lr policy", "Step"),
])
def test_an_unknown_type_names_its_key_and_the_closest_names(config, key, value, noun,
                                                              suggestion):
    shown = re.sub(r"\.(\d+)(?=\.)", r"[\1]", key)  # list positions as the message shows them
    msg = problem(CONFIGS[config], {key: value})
    assert msg.startswith(f"{CONFIGS[config]}: {shown}: {value!r} is not a registered "
                          f"{noun}; did you mean "), msg
    assert suggestion in msg.split("did you mean ")[1].rstrip("?").split(", "), msg
    assert "\n" not in msg


def test_scoped_names_resolve_as_mmcv_resolves_them():
    config = CONFIGS["masktrack"]
    # mmdet's MODELS is a child of mmcv's: 'mmdet.' is its own scope
    registries.check_config_types(load_config(config, cfg_options={
        "model.backbone.type": "mmdet.ResNet"}), config)
    assert "'mmcv.ResNet' is not a registered backbone" in problem(
        config, {"model.backbone.type": "mmcv.ResNet"})
    assert "'nowhere.ResNet' is not a registered backbone" in problem(
        config, {"model.backbone.type": "nowhere.ResNet"})


def test_keys_of_unknown_registry_are_skipped():
    """No false alarm where the builder is not a known registry (albumentations' names in
    Albu's ``transforms``, nms functions, keys this module has no rule for)."""
    config = CONFIGS["masktrack"]
    cfg = load_config(config, cfg_options={
        "data.train.pipeline.2": dict(type="Albu", transforms=[dict(type="Blur")]),
        "model.test_cfg.rcnn.nms.type": "not_an_nms",
        "model.roi_head.track_head.whatever": dict(type="Anything"),
        "model.backbone.type": "ResNey"})   # and the check is on: this one is reported
    assert [k for k, *_ in registries.unknown_types(cfg)] == ["model.backbone.type"]


# ------------------------------------------------------------------ each command, one line

def bad_config(tmp_path, line, base=CONFIGS["masktrack"]):
    """A config that inherits a toy config and changes one type."""
    path = tmp_path / "bad.py"
    path.write_text(f"_base_ = [{str(ROOT / base)!r}]\n{line}\n")
    return path


@pytest.fixture
def no_processes(monkeypatch):
    """Any subprocess started (training, torchrun) fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a subprocess was started: {args}")
    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(subprocess, "call", refuse)


@pytest.mark.parametrize("procs", [1, 2])  # 2: the torchrun launch is never reached
def test_train_refuses_an_unknown_type_before_training(procs, no_processes, monkeypatch,
                                                       toyvis_small, tmp_path, capsys):
    import objprop.training.loop as loop
    monkeypatch.setattr(loop, "train", lambda *a, **k: pytest.fail("training started"))
    work = tmp_path / "work"
    refused(capsys, ["train", "--config", CONFIGS["masktrack"], "--data", toyvis_small,
                     "--work-dir", work, "--max-iters", 1, "--procs", procs,
                     "--cfg-options", "model.type=NoSuchModel"],
            f"{CONFIGS['masktrack']}: model.type: 'NoSuchModel' is not a registered "
            "detector; did you mean ")
    assert not work.exists()


def test_test_refuses_an_unknown_type(toyvis_small, tmp_path, capsys):
    out = tmp_path / "results.json"
    refused(capsys, ["test", "--config", CONFIGS["masktrack"], "--checkpoint", "none.pth",
                     "--data", toyvis_small, "--out", out, "--cfg-options",
                     "model.roi_head.type=Nope"],
            "model.roi_head.type: 'Nope' is not a registered head; did you mean ")
    config = bad_config(tmp_path, "model = dict(test_cfg=dict(track=dict(type='Greedy')))")
    refused(capsys, ["test", "--config", config, "--checkpoint", "none.pth", "--data",
                     toyvis_small, "--out", out],
            f"{config}: model.test_cfg.track.type: 'Greedy' is not a registered tracker; "
            "did you mean GreedyTracker")
    assert not out.exists()


def test_demo_refuses_an_unknown_type(tmp_path, capsys):
    (tmp_path / "frames").mkdir()
    Image.new("RGB", (96, 64)).save(tmp_path / "frames" / "f000.png")
    config = bad_config(tmp_path, "model = dict(backbone=dict(type='ResNett'))")
    out = tmp_path / "out"
    refused(capsys, ["demo", "--input", tmp_path / "frames", "--config", config,
                     "--checkpoint", "none.pth", "--out", out],
            f"{config}: model.backbone.type: 'ResNett' is not a registered backbone; did you "
            "mean ResNet")
    assert not out.exists()


def test_oracle_refuses_an_unknown_type_before_its_rows_start(monkeypatch, toyvis_small,
                                                              tmp_path, capsys):
    from objprop.studies import oracle
    monkeypatch.setattr(oracle, "oracle_row", lambda *a, **k: pytest.fail("a row ran"))
    checkpoint = tmp_path / "k.pth"
    checkpoint.write_bytes(b"")
    out = tmp_path / "oracle"
    refused(capsys, ["oracle", "--config", CONFIGS["masktrack"], "--checkpoint", checkpoint,
                     "--data", toyvis_small, "--out", out, "--cfg-options",
                     "data.test.pipeline.0.type=LoadImageFromFil"],
            "data.test.pipeline[0].type: 'LoadImageFromFil' is not a registered pipeline "
            "transform; did you mean LoadImageFromFile")
    assert not out.exists()


def test_book_refuses_an_unknown_type_before_its_first_chapter(monkeypatch, tmp_path, capsys):
    config = bad_config(tmp_path, "model = dict(test_cfg=dict(prop=dict(type='Filler')))",
                        base=CONFIGS["objprop"])
    monkeypatch.setitem(book.TOY_CONFIGS, "config", str(config))
    monkeypatch.setattr(book, "execute_chapter", lambda *a, **k: pytest.fail("a chapter ran"))
    out = tmp_path / "executed"
    refused(capsys, ["book", "run", "--smoke", "--out-dir", out],
            f"{config}: model.test_cfg.prop.type: 'Filler' is not a registered filler; did "
            "you mean ")


def test_the_book_trainings_are_checked_before_any_starts(no_processes, tmp_path):
    """train_subprocesses (the train chapter, budget, ablation, variants) checks every run,
    its options included, before the first subprocess."""
    good = TrainSettings(CONFIGS["masktrack"], work_dir=str(tmp_path / "a"))
    bad = TrainSettings(CONFIGS["objprop"], work_dir=str(tmp_path / "b"),
                        cfg_options=["model.prop_head.type=PropagationHaed"])
    with pytest.raises(ObjPropError, match="model.prop_head.type: 'PropagationHaed' is not a "
                                           "registered head; did you mean PropagationHead"):
        train_subprocesses({"good": good, "bad": bad}, log=lambda line: None)
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------ mmcv's 2.0 notice

NOTICE = "On January 1, 2023, MMCV will release v2.0.0"


def python(code=None, args=()):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    cmd = [sys.executable, *(["-c", code] if code else args)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_mmcv_notice_is_silenced_and_other_warnings_still_show():
    # the notice is real in this mmcv (else the checks below prove nothing)
    assert NOTICE in python("import mmcv").stderr
    run = python("import objprop, mmcv, warnings\n"
                 "warnings.warn('a warning of our own', UserWarning)")
    assert run.returncode == 0, run.stderr
    assert NOTICE not in run.stderr
    assert "UserWarning: a warning of our own" in run.stderr


def test_the_cli_prints_no_mmcv_notice():
    run = python(args=["-m", "objprop.cli", "doctor"])
    assert "mmcv" in run.stdout.lower(), run.stdout  # it did import mmcv
    assert NOTICE not in run.stderr


@pytest.mark.parametrize("chapter", book.CHAPTERS)
def test_every_chapter_imports_objprop_before_mmcv(chapter):
    """The book's kernels get objprop's filter the same way: by importing objprop before
    anything imports mmcv (torch, numpy, ... do not)."""
    lines = (ROOT / "book" / f"{chapter}.md").read_text().splitlines()
    first = next(line for line in lines
                 if re.match(r"\s*(from|import)\s+(objprop|mmcv|mmdet)\b", line))
    assert re.match(r"\s*(from|import)\s+objprop\b", first), (chapter, first)
