"""The speed levers change how a step is computed, not what: torchvision's RoIAlign equals
mmcv's, channels-last features equal NCHW ones, bf16 features stay close to float32, while
training and at test time, each only where the config asks; the thread settings reach every
training process; the book's trainings run side by side. Speed itself is measured by
benchmarks/bench_train.py and bench_models.py, not here."""
import os
import subprocess
import sys

import pytest
import torch

from objprop import training
from objprop.book import repo_root
from objprop.errors import ObjPropError
from objprop.training.threads import MALLOC_ENV, SPIN_COUNT, parallel_jobs, training_env
from tests.model_utils import pair_batch, toy_model

ROOT = repo_root()
TOY = str(ROOT / "configs" / "objprop_r18_fpn_toy.py")
BASELINE = str(ROOT / "configs" / "masktrack_rcnn_r18_fpn_toy.py")
SMALL = "data.train.pipeline.2.img_scale=(96,64)"


def test_torchvision_roi_align_equals_mmcvs_forward_and_backward():
    from mmcv.ops import RoIAlign
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 16, 40, 72, generator=g, requires_grad=True)
    xy = torch.rand(30, 2, generator=g) * torch.tensor([250., 130.])
    wh = torch.rand(30, 2, generator=g) * 120 + 1
    rois = torch.cat([torch.randint(0, 2, (30, 1), generator=g).float(), xy, xy + wh], 1)
    for size in (7, 14):
        mmcv_op = RoIAlign(size, 0.25, 0, use_torchvision=False)
        tv_op = RoIAlign(size, 0.25, 0, use_torchvision=True)
        a, b = mmcv_op(feats, rois.clone()), tv_op(feats, rois.clone())
        assert torch.equal(a, b)
        ga, = torch.autograd.grad((a * a).sum(), feats)
        gb, = torch.autograd.grad((b * b).sum(), feats)
        assert torch.allclose(ga, gb, atol=1e-6)
    cfg = toy_model("objprop")[1]
    for name in ("bbox_roi_extractor", "mask_roi_extractor"):  # what the toy model uses
        assert cfg.model.roi_head[name].roi_layer.use_torchvision


def test_channels_last_model_computes_the_same_features():
    fp32 = {"model.test_feat_dtype": None}      # the layouts compared in float32
    model, _ = toy_model("masktrack", **fp32)
    assert model.channels_last
    assert model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    plain, _ = toy_model("masktrack", **fp32, **{"model.channels_last": False})
    plain.load_state_dict(model.state_dict())
    assert plain.backbone.conv1.weight.is_contiguous()
    img = pair_batch()["img"]
    for m in (model, plain):
        m.eval()
    with torch.no_grad():
        for a, b in zip(model.extract_feat(img), plain.extract_feat(img)):
            assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_bf16_features_while_training_only_where_asked():
    fp32, _ = toy_model("objprop", **{"model.train_feat_dtype": None,
                                      "model.test_feat_dtype": None})
    bf16, _ = toy_model("objprop", **{"model.test_feat_dtype": None})
    assert toy_model("objprop")[1].model.train_feat_dtype == "bfloat16"  # the toy default
    bf16.load_state_dict(fp32.state_dict())
    img = pair_batch()["img"]
    with torch.no_grad():  # (test time first: a training forward updates BN statistics)
        for a, b in zip(fp32.eval().extract_feat(img), bf16.eval().extract_feat(img)):
            assert torch.equal(a, b)      # test time float32 in both: the same arithmetic
        ref = fp32.train().extract_feat(img)
        mixed = bf16.train().extract_feat(img)
        for a, b in zip(ref, mixed):
            assert b.dtype == torch.float32 and not torch.equal(a, b)  # bf16 was used
            assert (a - b).norm() / a.norm() < 0.05
    with pytest.raises(ValueError, match="train_feat_dtype"):
        toy_model("objprop", **{"model.train_feat_dtype": "int8"})


def test_bf16_features_at_test_time_only_where_asked():
    fp32, _ = toy_model("objprop", **{"model.test_feat_dtype": None,
                                      "model.train_feat_dtype": None})
    bf16, _ = toy_model("objprop", **{"model.test_feat_dtype": "bfloat16",
                                      "model.train_feat_dtype": None})
    bf16.load_state_dict(fp32.state_dict())
    img = pair_batch()["img"]
    with torch.no_grad():
        ref = fp32.eval().extract_feat(img)
        mixed = bf16.eval().extract_feat(img)
        for a, b in zip(ref, mixed):
            assert b.dtype == torch.float32 and not torch.equal(a, b)  # bf16 was used
            assert (a - b).norm() / a.norm() < 0.05
        # its training forward stays float32 (train_feat_dtype=None here)
        for a, b in zip(fp32.train().extract_feat(img), bf16.train().extract_feat(img)):
            assert torch.equal(a, b)
    assert toy_model("objprop")[1].model.test_feat_dtype == "bfloat16"  # the toy default
    with pytest.raises(ValueError, match="test_feat_dtype"):
        toy_model("objprop", **{"model.test_feat_dtype": "int8"})


def test_training_processes_get_a_short_openmp_spin_and_their_thread_count():
    env = training_env(threads=1, env={})
    assert env["GOMP_SPINCOUNT"] == str(SPIN_COUNT) and env["OMP_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS" not in training_env(env={})
    kept = training_env(env={"GOMP_SPINCOUNT": "300000", "MALLOC_TOP_PAD_": "0"})
    assert kept["GOMP_SPINCOUNT"] == "300000" and kept["MALLOC_TOP_PAD_"] == "0"  # given wins
    assert all(env[k] == v for k, v in MALLOC_ENV.items())   # freed memory stays in the heap
    # a CPU training never sees a GPU (DataParallel would take it); a GPU training does
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    assert "CUDA_VISIBLE_DEVICES" not in training_env(env={}, gpus=1)
    assert parallel_jobs(gpus=0, cpus=2) == 2 and parallel_jobs(gpus=1, cpus=16) == 1
    # `objprop` sets the spin before anything imports torch (libgomp reads it once, at load)
    code = ("import os, sys\nfrom objprop.cli import main\n"
            "assert 'torch' not in sys.modules\n"
            "main(['train', '--config', 'configs/none.py', '--cfg-options', 'a=1'])\n"
            "print(os.environ.get('GOMP_SPINCOUNT'), 'torch' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=env)
    assert run.stdout.split() == [str(SPIN_COUNT), "True"], run.stdout + run.stderr


def test_threads_are_a_flag_but_not_part_of_the_experiment():
    from objprop.cli import build_parser
    s = training.TrainSettings(TOY, threads=1, seed=2)
    assert "--threads" in s.argv()
    assert training.TrainSettings.from_args(build_parser().parse_args(["train", *s.argv()])) == s
    assert s.request() == s.replace(threads=None).request()   # a finished run is reused
    with pytest.raises(Exception, match="--threads"):
        training.TrainSettings(TOY, threads=0).check()


def test_trainings_run_side_by_side_with_one_thread_each(toyvis_small, tmp_path):
    runs = {(name, seed): training.TrainSettings(
        cfg, data_root=str(toyvis_small), work_dir=str(tmp_path / f"{name}{seed}"),
        max_iters=2, seed=seed, cfg_options=[SMALL])
        for name, cfg, seed in (("MaskTrack R-CNN", BASELINE, 0), ("ObjProp", TOY, 1))}
    lines = []
    out = training.train_subprocesses(runs, jobs=2, log=lines.append)
    assert list(out) == list(runs)
    for (name, seed), summary in out.items():
        assert summary["iters"] == 2 and summary["seed"] == seed and not summary["skipped"]
        assert summary["threads"] == 1
        assert any(line.startswith(f"[{name} {seed}] ") for line in lines)
    # the two ran at the same time: each started before the other ended
    starts = [next(i for i, ln in enumerate(lines) if ln.startswith(f"[{n} {s}]"))
              for n, s in runs]
    ends = [max(i for i, ln in enumerate(lines) if ln.startswith(f"[{n} {s}]")) for n, s in runs]
    assert max(starts) < min(ends)
    # a failing run is reported, in one line, once the others have ended (here: reused)
    again = {k: v.replace(resume=True) for k, v in runs.items()}
    again["broken"] = training.TrainSettings(TOY, data_root=str(tmp_path / "none"),
                                             work_dir=str(tmp_path / "b"), max_iters=2)
    with pytest.raises(ObjPropError, match="training failed"):
        training.train_subprocesses(again, jobs=2, log=lambda *_: None)


@pytest.mark.parametrize("when", ["train", "test"])
def test_the_mask_head_s_convolutions_in_bf16_only_when_asked(when):
    from objprop.models.prop_head import PropagationHead
    key = f"{when}_conv_dtype"
    torch.manual_seed(0)
    heads = [PropagationHead(in_channels=8, in_levels=(0,), feat_stride=4, level_strides=(4,),
                             conv_channels=8, **{key: d}) for d in (None, "bfloat16")]
    heads[1].load_state_dict(heads[0].state_dict())
    f_t, f_ref = torch.randn(1, 8, 12, 16), torch.randn(1, 8, 12, 16)
    boxes = torch.tensor([[4., 4., 30., 28.]])
    with torch.no_grad():
        out = {mode: [h.train(mode == "train")(f_t, f_ref, boxes)["mask_logits"]
                      for h in heads] for mode in ("test", "train")}
    other = "test" if when == "train" else "train"
    assert torch.equal(*out[other]) and out[when][1].dtype == torch.float32
    assert not torch.equal(*out[when])
    assert torch.allclose(*out[when], atol=0.05, rtol=0.05)
    with pytest.raises(ValueError, match=key):
        PropagationHead(**{key: "int8"})


def test_test_precision_options_reach_the_backbone_and_the_propagation_head():
    from objprop.config import load_config
    from objprop.inference import build_model, test_precision_options
    for config, with_head in ((BASELINE, False), (TOY, True)):
        cfg = load_config(config)
        for precision, dtype in (("float32", None), ("bfloat16", torch.bfloat16)):
            options = test_precision_options(cfg, precision)
            assert ("model.prop_head.test_conv_dtype" in options) == with_head
            model = build_model(load_config(config, cfg_options=options))
            assert model.test_feat_dtype == dtype
            if with_head:
                assert model.prop_head.test_conv_dtype == dtype
    with pytest.raises(ValueError, match="precision"):
        test_precision_options(load_config(TOY), "int8")
