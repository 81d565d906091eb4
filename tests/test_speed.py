"""The speed levers change how a step is computed, not what: the toy RoIAlign equals mmcv's,
channels-last features equal NCHW ones, bf16 features stay close to float32, while
training and at test time, each only where the config asks; the thread settings reach every
training process; the book's trainings run side by side; a training on every core gives way
to other processes. Speed itself is measured by benchmarks/bench_train.py,
bench_roi_align.py and bench_models.py, not here."""
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


def _rois(g, n, batch, width, height, max_side):
    xy = torch.rand(n, 2, generator=g) * torch.tensor([width, height]) - 20  # some cross edges
    wh = torch.rand(n, 2, generator=g) * max_side
    wh[:3] = 0                                                # empty RoIs: an empty grid
    return torch.cat([torch.randint(0, batch, (n, 1), generator=g).float(), xy, xy + wh], 1)


def test_toy_roi_align_equals_mmcvs_forward_and_backward():
    """The toy RoI layer (torchvision's forward, the matrix-product backward) against mmcv's
    CPU kernel: the same outputs to the bit, the same gradient up to float32 rounding, for
    the adaptive and a fixed sampling grid, aligned or not, RoIs inside, across the edge of,
    and off the feature map. mmcv's kernel reads its input's memory as NCHW, so it gets the
    features in that layout; the toy model's are channels-last."""
    from mmcv.ops import RoIAlign
    from objprop.models.roi_align import MatmulGradRoIAlign
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 16, 40, 72, generator=g, requires_grad=True)
    feats_cl = feats.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    rois = _rois(g, 60, 2, 300, 170, 160)
    rois[-1, 1:] = torch.tensor([400., 300., 460., 350.])    # wholly off the map
    for size, ratio, aligned in ((7, 0, True), (14, 0, True), (7, 2, True), (7, 0, False)):
        mmcv_op = RoIAlign(size, 0.25, ratio, aligned=aligned)
        ours = MatmulGradRoIAlign(size, 0.25, ratio, aligned=aligned)
        a, b = mmcv_op(feats, rois.clone()), ours(feats_cl, rois.clone())
        assert torch.equal(a, b)
        w = torch.randn(a.shape, generator=g)
        ga, = torch.autograd.grad((a * w).sum(), feats)
        gb, = torch.autograd.grad((b * w).sum(), feats_cl)
        assert ga.abs().max() > 0.1 and torch.allclose(ga, gb, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="pool_mode"):
        MatmulGradRoIAlign(7, 0.25, 0, pool_mode="max")
    model, cfg = toy_model("objprop")
    for name in ("bbox_roi_extractor", "mask_roi_extractor"):  # what the toy model uses
        assert cfg.model.roi_head[name].roi_layer.type == "MatmulGradRoIAlign"
        assert isinstance(getattr(model.roi_head, name).roi_layers[0], MatmulGradRoIAlign)


def test_channels_last_is_refused_beside_mmcvs_roi_align_kernel():
    mmcv_kernel = {f"model.roi_head.mask_roi_extractor.{k}": v
                   for k, v in (("type", "SingleRoIExtractor"), ("roi_layer.type", "RoIAlign"))}
    with pytest.raises(ValueError, match="mask_roi_extractor: MatmulGradRoIAlign"):
        toy_model("masktrack", **mmcv_kernel)
    model, _ = toy_model("masktrack", **mmcv_kernel, **{"model.channels_last": False})
    assert not model.channels_last


def test_roi_layer_extractor_builds_mmcvs_layers_too():
    from mmcv.ops import RoIAlign
    from mmdet.models.builder import build_roi_extractor
    ext = build_roi_extractor(dict(type="RoILayerExtractor", out_channels=8,
                                   featmap_strides=[4, 8],
                                   roi_layer=dict(type="RoIAlign", output_size=7)))
    assert [type(m) for m in ext.roi_layers] == [RoIAlign, RoIAlign]
    assert ext.roi_layers[1].spatial_scale == 1 / 8


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


@pytest.mark.parametrize("phase", ["test", "train"])
def test_precision_options_reach_the_backbone_and_the_propagation_head(phase):
    from objprop import inference
    from objprop.config import load_config
    options_for = getattr(inference, f"{phase}_precision_options")
    for config, with_head in ((BASELINE, False), (TOY, True)):
        cfg = load_config(config)
        assert cfg.model[f"{phase}_feat_dtype"] == "bfloat16"   # the toy default
        for precision, dtype in (("float32", None), ("bfloat16", torch.bfloat16)):
            options = options_for(cfg, precision)
            assert (f"model.prop_head.{phase}_conv_dtype" in options) == with_head
            model = inference.build_model(load_config(config, cfg_options=options))
            assert getattr(model, f"{phase}_feat_dtype") == dtype
            if with_head:
                assert getattr(model.prop_head, f"{phase}_conv_dtype") == dtype
    with pytest.raises(ValueError, match="precision"):
        options_for(load_config(TOY), "int8")


def test_a_training_gives_way_to_other_processes_and_takes_the_cores_back(monkeypatch):
    from objprop.training import threads as th
    assert th.threads_beside(0.1, 2, 2) == 2 and th.threads_beside(1.0, 2, 2) == 1
    assert th.threads_beside(3.0, 2, 2) == 1 and th.threads_beside(0.0, 4, 2) == 2
    clock = {"wall": 0.0, "busy": 0.0, "own": 0.0}
    monkeypatch.setattr(th, "_machine_busy_seconds", lambda: clock["busy"])
    monkeypatch.setattr(th.CoreShare, "_sample",
                        lambda self: (clock["wall"], th._machine_busy_seconds(), clock["own"]))
    before = torch.get_num_threads()
    try:
        share = th.CoreShare(most=2, cores=2)
        assert share.update() is None                    # nothing measured yet

        def tick(own, others):                           # 10 s: this process's and others' cores
            clock["wall"] += 10
            clock["own"] += 10 * own
            clock["busy"] += 10 * (own + others)
            return share.update()
        assert tick(2.0, 0.0) == 2 and torch.get_num_threads() == 2   # alone: every core
        assert tick(1.0, 1.0) == 1 and torch.get_num_threads() == 1   # a second process
        assert tick(1.0, 0.2) == 2 and torch.get_num_threads() == 2   # it ended
    finally:
        torch.set_num_threads(before)


def test_only_trainings_on_every_core_share_them(toyvis_small, tmp_path):
    before = torch.get_num_threads()
    # a fixed count turns the sharing off for its own run only: the next run shares again
    for threads, expected in ((1, False), (None, True)):
        summary = training.train(training.TrainSettings(
            BASELINE, data_root=str(toyvis_small), work_dir=str(tmp_path / f"t{threads}"),
            max_iters=1, threads=threads, cfg_options=[SMALL]))
        assert summary["complete"]
        log = (tmp_path / f"t{threads}").glob("*.log")
        assert any("CoreShareHook" in p.read_text() for p in log) == expected
        assert torch.get_num_threads() == before     # the process's count is left as it was
