"""`objprop train`: torchrun on the CPU (gloo), 2x1 = 1x2 equivalence, kill-and-resume,
linear lr scaling, one-line errors, and the book's training chapter.

Runs are tiny (ToyVIS 64x96, a few iterations, batch 1-2) and go through the real CLI in a
subprocess wherever the process boundary is the point (torchrun, kill, exit codes).
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mmdet.models.builder import DETECTORS
from mmdet.models.detectors.base import BaseDetector

from objprop import training
from objprop.training.runners import replace_link
from objprop.book import repo_root

ROOT = repo_root()
# ToyVIS 96x64 frames at their own size instead of up-scaled to 240x160: ~6x cheaper steps
SMALL = "data.train.pipeline.2.img_scale=(96,64)"
TOY = str(ROOT / "configs" / "objprop_r18_fpn_toy.py")
BASELINE = str(ROOT / "configs" / "masktrack_rcnn_r18_fpn_toy.py")


def objprop_train(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "objprop.cli", "train", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))


def load_ckpt(path):
    return torch.load(str(path), map_location="cpu", weights_only=False)


# --------------------------------------------------------------------------- (a) torchrun/gloo

def test_two_cpu_processes_train_the_toy_model_with_gloo(toyvis_small, tmp_path):
    wd = tmp_path / "objprop"
    run = objprop_train("--config", TOY, "--data", toyvis_small, "--gpus", 0, "--procs", 2,
                        "--max-iters", 2, "--samples-per-gpu", 1, "--work-dir", wd,
                        "--cfg-options", SMALL)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "launching 2 processes (gloo)" in out
    assert "lr 0.0003 for batch 2 (the config's base batch; no scaling)" in out
    assert "Iter [2/2]" in out  # mmcv's progress line (loss, ETA)
    summary = json.loads((wd / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["batch"] == 2
    assert summary["iters"] == 2 and summary["complete"]
    assert set(summary["final_losses"]) >= {"loss", "loss_prop_mask", "loss_match"}
    ckpt = load_ckpt(summary["checkpoint"])
    assert Path(summary["checkpoint"]).name == "iter_2.pth" and ckpt["meta"]["iter"] == 2
    assert not any(k.startswith(("module.", "ddp.")) for k in ckpt["state_dict"])
    entries = training.read_json_log(wd)
    assert [e["global_iter"] for e in entries] == [1, 2]


def _free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_nodes_on_loopback_train_as_one_world(toyvis_small, tmp_path):
    """``--nnodes 2``: two `objprop train` commands, one per "node" (here both on loopback,
    sharing the work folder as nodes share storage), meet at the rank-0 node's address
    through torchrun's static rendezvous and train one world of 2 processes."""
    wd, port = tmp_path / "shared", _free_port()
    common = ["--config", TOY, "--data", toyvis_small, "--procs", 1, "--nnodes", 2,
              "--master-addr", "127.0.0.1", "--master-port", port, "--max-iters", 2,
              "--samples-per-gpu", 1, "--work-dir", wd, "--cfg-options", SMALL]
    nodes = [subprocess.Popen([sys.executable, "-m", "objprop.cli", "train",
                               *map(str, common), "--node-rank", str(rank)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
             for rank in (0, 1)]
    outs = [node.communicate(timeout=900)[0] for node in nodes]
    for node, out in zip(nodes, outs):
        assert node.returncode == 0, out[-4000:]
    assert "node 0 of 2 (rendezvous at 127.0.0.1" in outs[0]
    assert "node 1 of 2 (rendezvous at 127.0.0.1" in outs[1]
    assert "lr 0.0003 for batch 2 (the config's base batch; no scaling)" in outs[0]
    summary = json.loads((wd / "train_summary.json").read_text())
    assert (summary["world_size"], summary["nnodes"], summary["batch"]) == (2, 2, 2)
    assert summary["iters"] == 2 and summary["complete"]
    assert load_ckpt(summary["checkpoint"])["meta"]["iter"] == 2


def test_settings_are_listed_once_and_round_trip_through_the_command_line():
    """Every TrainSettings field is a flag of `objprop train`; the argv a relaunch builds
    from the settings parses back into equal settings (mmcv's DictAction value syntax)."""
    from dataclasses import fields
    from objprop.cli import build_parser
    settings = training.TrainSettings(
        TOY, data_root="data/somewhere", procs=2, nnodes=2, node_rank=1,
        master_addr="10.1.2.3", master_port=29600, resume=True, max_iters=7,
        samples_per_gpu=1, seed=3,
        cfg_options=["data.train.ref_frame_range=(1,1)", "lr_config.warmup=None",
                     "optimizer.lr=0.05", "model.neck.in_channels=[8,16]",
                     "load_from=/ckpt/iter_2.pth"])
    assert settings.cfg_options == {
        "data.train.ref_frame_range": (1, 1), "lr_config.warmup": None, "optimizer.lr": 0.05,
        "model.neck.in_channels": [8, 16], "load_from": "/ckpt/iter_2.pth"}
    parsed = build_parser().parse_args(["train", *settings.argv()])
    assert {f.name for f in fields(training.TrainSettings)} <= set(vars(parsed))
    assert training.TrainSettings.from_args(parsed) == settings
    assert settings.world_size == 4
    # torchrun: static rendezvous for several nodes, --standalone for one
    many = training.torchrun_command(settings)
    assert "--standalone" not in many and "--nnodes=2" in many and "--node-rank=1" in many
    assert "--master-addr=10.1.2.3" in many and "--master-port=29600" in many
    assert "--nproc-per-node=2" in many
    worker = build_parser().parse_args(many[many.index("objprop.cli") + 1:])
    assert training.TrainSettings.from_args(worker) == settings.replace(launcher="pytorch")
    one = training.torchrun_command(settings.replace(nnodes=1, node_rank=0))
    assert "--standalone" in one and not any(a.startswith("--nnodes") for a in one)


# --------------------------------------------------------------------------- (b) 2x1 == 1x2

@DETECTORS.register_module(force=True)
class ProbeDetector(BaseDetector):
    """A detector-shaped probe for the equivalence test: a conv and a linear layer regressing
    each image's mean gt box, with a loss that is the *mean over images* of per-image terms
    and no normalisation layer.

    Why not the toy detectors themselves: their step on 1 process x 2 images and on 2
    processes x 1 image is not the same computation, so no tolerance would separate a bug
    from the expected difference. BatchNorm in training mode normalises with the statistics of
    the images in *its* process; the RPN/RoI samplers draw from each process's RNG stream (a
    single process draws image 2's samples after image 1's); and the mask, track and RPN
    losses are averaged over the positives / samples pooled over a process's images, not per
    image. Frozen BN (``norm_eval``) removes only the first. For a model whose loss is a mean
    of per-image terms, DDP's gradient average over 2 processes equals the single process's
    gradient over both images exactly, up to float32 summation order.
    """

    def __init__(self, init_cfg=None, train_cfg=None, test_cfg=None):
        super().__init__(init_cfg)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 4)

    def extract_feat(self, img):
        return self.conv(img).relu().mean((2, 3))

    def forward_train(self, img, img_metas, gt_bboxes, **kwargs):
        pred = self.fc(self.extract_feat(img))
        target = torch.stack([b.mean(0) for b in gt_bboxes]) / 100.0
        return dict(loss_probe=((pred - target) ** 2).sum(1).mean())

    def simple_test(self, img, img_metas, **kwargs):
        raise NotImplementedError

    def aug_test(self, imgs, img_metas, **kwargs):
        raise NotImplementedError


# no flip, a fixed reference frame (δ = 1), no warm-up: both runs see the same two images
# (the sampler's seeded permutation: the single process takes its first two indices, rank r
# of two takes index r) and take a full-size step
PROBE_OPTIONS = ["data.train.pipeline.3.flip_ratio=0.0", "data.train.ref_frame_range=(1,1)",
                 "lr_config.warmup=None", "optimizer.lr=0.05"]


def probe_config(tmp_path):
    path = tmp_path / "probe_toy.py"
    path.write_text(
        f"_base_ = [{BASELINE!r}]\n"
        "model = dict(_delete_=True, type='ProbeDetector')\n"
        # a model of its own: nothing to load from the toy detector's pretrained start
        "load_from = None\n"
        # SGD with momentum (the paper's optimizer; the toy configs use AdamW)
        "optimizer = dict(_delete_=True, type='SGD', lr=0.05, momentum=0.9, "
        "weight_decay=0.0001)\n"
        "custom_imports = dict(imports=['objprop.models', 'objprop.data.dataset', "
        "'tests.test_training'], allow_failed_imports=False)\n")
    return path


def test_two_processes_of_one_image_step_like_one_process_of_two(toyvis_small, tmp_path):
    """One SGD step (momentum, weight decay, clipping on) of 2 gloo processes x 1 image and of
    1 process x 2 images, same seed and samples: weights and momentum buffers agree to
    atol 1e-5 (float32 reductions in a different order), while the step itself moves them by
    more than 1e-3."""
    cfg = probe_config(tmp_path)
    one = training.train(training.TrainSettings(
        str(cfg), data_root=str(toyvis_small), work_dir=str(tmp_path / "one"), max_iters=1,
        samples_per_gpu=2, cfg_options=PROBE_OPTIONS))
    run = objprop_train("--config", cfg, "--data", toyvis_small, "--procs", 2,
                        "--max-iters", 1, "--samples-per-gpu", 1,
                        "--work-dir", tmp_path / "two", "--cfg-options", *PROBE_OPTIONS)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    two = json.loads((tmp_path / "two" / "train_summary.json").read_text())
    assert (one["world_size"], one["batch"]) == (1, 2) and (two["world_size"], two["batch"]) == (2, 2)
    a, b = load_ckpt(one["checkpoint"]), load_ckpt(two["checkpoint"])
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], atol=1e-5, rtol=0)
    bufs_a = [s["momentum_buffer"] for s in a["optimizer"]["state"].values()]
    bufs_b = [s["momentum_buffer"] for s in b["optimizer"]["state"].values()]
    assert len(bufs_a) == len(bufs_b) == 4
    for x, y in zip(bufs_a, bufs_b):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=0)
    # momentum buffer after one step = gradient (+ wd * w): the step is far above tolerance
    assert max(float(x.abs().max()) for x in bufs_a) * 0.05 > 1e-3


# --------------------------------------------------------------------------- (c) kill + resume

@contextlib.contextmanager
def cores_kept_busy():
    """Another CPU-heavy process on every core (numpy matrix products, one process a core)
    for the duration, as a second training or `make test` beside a run."""
    code = "import numpy as np\na = np.random.rand(300, 300)\nwhile True:\n    a @ a"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env)
             for _ in range(os.cpu_count() or 1)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


@pytest.fixture(scope="module")
def uninterrupted_run(toyvis_small, tmp_path_factory):
    """The kill-and-resume test's reference: the same 6 iterations, never killed, with the
    cores to itself; its summary."""
    return training.train(training.TrainSettings(
        BASELINE, data_root=str(toyvis_small), work_dir=str(tmp_path_factory.mktemp("whole")),
        max_iters=6, samples_per_gpu=1, threads=os.cpu_count() or 1,
        cfg_options=["checkpoint_config.interval=2", SMALL]))


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
def test_killed_run_resumes_to_the_same_iteration(toyvis_small, tmp_path, busy,
                                                  uninterrupted_run):
    # a fixed thread count: exactness needs it (a run on every core gives way to other
    # processes, and the thread count orders float32 reductions). busy: other processes keep
    # every core busy while the run is killed and resumed (the uninterrupted run has the
    # cores to itself), and the resume leaves --threads out: the checkpoint's count is kept
    threads, whole = os.cpu_count() or 1, uninterrupted_run
    common = ["--config", BASELINE, "--data", toyvis_small, "--max-iters", 6,
              "--samples-per-gpu", 1]
    opts = ["--cfg-options", "checkpoint_config.interval=2", SMALL]
    wd = tmp_path / "killed"
    with (cores_kept_busy() if busy else contextlib.nullcontext()):
        with open(tmp_path / "killed.log", "w") as logf:
            proc = subprocess.Popen([sys.executable, "-m", "objprop.cli", "train",
                                     *map(str, common), "--threads", str(threads),
                                     "--work-dir", str(wd), *opts],
                                    cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT)
            deadline = time.time() + 600
            while not (wd / "iter_2.pth").exists() and proc.poll() is None \
                    and time.time() < deadline:
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()[-3000:]
        assert not (wd / "iter_6.pth").exists() and not (wd / "train_summary.json").exists()
        killed = load_ckpt(training.latest_checkpoint(wd))["meta"]
        killed_at = killed["iter"]
        assert killed_at in (2, 4) and killed["threads"] == threads

        run = objprop_train(*common, *([] if busy else ["--threads", threads]),
                            "--work-dir", wd, "--resume", *opts)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert f"resumed from epoch: 1, iter {killed_at}" in out
    assert (f"resume: {threads} thread(s), as the checkpoint records" in out) == busy
    assert "CoreShareHook" not in out          # the count stayed fixed, its checkpoints say so
    # (d) end to end: 1 process x 1 image against the toy config's base batch of 2
    assert "lr 0.0003 → 0.00015 for batch 1 (linear scaling from batch 2)" in out
    resumed = json.loads((wd / "train_summary.json").read_text())
    assert resumed["resumed_from"] == killed_at and resumed["iters_run"] == 6 - killed_at
    assert resumed["threads"] == threads
    assert load_ckpt(resumed["checkpoint"])["meta"]["threads"] == threads

    for summary in (resumed, whole):
        assert summary["iters"] == 6 and summary["complete"]
        assert Path(summary["checkpoint"]).name == "iter_6.pth"
        assert load_ckpt(summary["checkpoint"])["meta"]["iter"] == 6
    log_a, log_b = training.read_json_log(wd), training.read_json_log(whole["work_dir"])
    assert [e["global_iter"] for e in log_b] == list(range(1, 7))
    # the resumed run logs every iteration after the checkpoint; the killed one may have died
    # between saving iteration `killed_at` and logging it (the checkpoint hook runs first)
    iters_a = [e["global_iter"] for e in log_a]
    assert iters_a[-(6 - killed_at):] == list(range(killed_at + 1, 7))
    assert set(range(1, killed_at)) <= set(iters_a)
    assert log_a[-1]["lr"] == log_b[-1]["lr"]  # same point of the schedule
    # exact resume: the same batches, random draws and thread count, hence the same losses
    # and weights (same machine, same process layout) as the uninterrupted run, to the bit
    by_iter = {e["global_iter"]: e for e in log_b}
    for a in log_a:
        assert a["loss"] == by_iter[a["global_iter"]]["loss"], a["global_iter"]
    wa, wb = load_ckpt(resumed["checkpoint"]), load_ckpt(whole["checkpoint"])
    assert wa["state_dict"].keys() == wb["state_dict"].keys()
    for k in wa["state_dict"]:
        assert torch.equal(wa["state_dict"][k], wb["state_dict"][k]), k
    names = {p.name for p in wd.glob("iter_*.pth")}
    assert names == {p.name for p in Path(whole["work_dir"]).glob("iter_*.pth")} == \
        {"iter_2.pth", "iter_4.pth", "iter_6.pth"}


def test_a_resumed_run_keeps_the_thread_count_its_checkpoint_records():
    from objprop.training.threads import fixed_threads
    assert fixed_threads(None) == (None, None)          # every core, shared (CoreShareHook)
    assert fixed_threads(3) == (3, None)
    assert fixed_threads(3, recorded=None) == (3, None)  # the checkpoint's count was shared
    assert fixed_threads(2, recorded=2) == (2, None)
    for requested in (None, 1):                          # left out, or another count
        threads, note = fixed_threads(requested, recorded=2)
        assert threads == 2 and note.startswith("resume: 2 thread(s), as the checkpoint")
        assert ("not --threads 1" in note) == bool(requested)


def test_latest_checkpoint_ignores_partial_files(tmp_path):
    (tmp_path / "iter_2.pth").write_bytes(b"2")
    (tmp_path / ".iter_4.pth.x1y2.pth").write_bytes(b"")  # a write cut short by a kill
    assert training.latest_checkpoint(tmp_path) == str(tmp_path / "iter_2.pth")
    (tmp_path / "iter_4.pth").write_bytes(b"4")
    replace_link(tmp_path / "iter_2.pth", tmp_path / "latest.pth")
    assert training.latest_checkpoint(tmp_path) == str(tmp_path / "iter_2.pth")
    assert training.latest_checkpoint(tmp_path / "nothing") is None


# --------------------------------------------------------------------------- (d) lr scaling

def test_linear_lr_scaling_message():
    from mmcv import Config
    cfg = Config(dict(optimizer=dict(lr=0.005), base_batch_size=24))
    assert training.linear_lr_scaling(cfg, 6) == \
        "lr 0.005 → 0.00125 for batch 6 (linear scaling from batch 24)"
    assert cfg.optimizer.lr == pytest.approx(0.00125)
    cfg = Config(dict(optimizer=dict(lr=0.005), base_batch_size=24))
    assert "no scaling" in training.linear_lr_scaling(cfg, 24) and cfg.optimizer.lr == 0.005


def test_max_iters_compresses_toy_schedule_and_stops_paper_schedule():
    from objprop.config import load_config
    toy, full = load_config(TOY), load_config(TOY)
    n = full.runner.max_iters
    scaled = lambda k: max(1, round(k * 60 / n))  # noqa: E731  (the schedule, in proportion)
    training.adjust_schedule(toy, max_iters=60)
    assert toy.runner.max_iters == 60
    assert list(toy.lr_config.step) == [scaled(k) for k in full.lr_config.step] == [45, 55]
    assert toy.lr_config.warmup_iters == scaled(full.lr_config.warmup_iters) < 60 / 4
    assert toy.checkpoint_config.interval == scaled(full.checkpoint_config.interval) < 60
    assert toy.log_config.interval == full.log_config.interval  # never rescaled
    kept = load_config(TOY)
    training.adjust_schedule(kept, max_iters=60, explicit=["checkpoint_config.interval"])
    assert kept.checkpoint_config.interval == full.checkpoint_config.interval
    paper = load_config(str(ROOT / "configs" / "objprop_r50_fpn_12e_youtubevis2019.py"))
    training.adjust_schedule(paper, max_iters=1000, iters_per_epoch=100)
    assert paper.runner == dict(type="IterBasedRunner", max_iters=1000)
    assert list(paper.lr_config.step) == [800, 1000] and paper.lr_config.by_epoch is False
    assert paper.lr_config.warmup_iters == 500 and paper.checkpoint_config.interval == 100


def test_the_paper_config_trains_as_the_paper_states():
    """The training chapter glues the paper config's schedule into a sentence ending "as the
    paper's Sec. 2.2 states": objprop.paper's transcription of Sec. 2.2 holds it to that."""
    from objprop import paper
    from objprop.config import load_config
    from objprop.training import schedule_summary
    s = schedule_summary(load_config("configs/objprop_r50_fpn_12e_youtubevis2019.py"))
    t = paper.TRAINING
    assert (s["optimizer"], s["lr"], s["batch"]) == (t["optimizer"], t["lr"], t["batch"])
    assert (s["gpus"], s["samples_per_gpu"]) == (t["gpus"], t["images_per_gpu"])
    assert s["length"] == f"{t['epochs']} epochs"
    assert s["lr_steps"] == " and ".join(map(str, t["lr_steps"]))


# --------------------------------------------------------------------------- (e) bad input

@pytest.mark.parametrize("args, needle", [
    (["--config", "configs/no_such_config.py"], "configs/no_such_config.py"),
    (["--config", TOY, "--data", "no/such/folder"], "no/such/folder"),
    (["--config", TOY, "--cfg-options", "model.backbone.depht=18"], "depht"),
    (["--config", TOY, "--gpus", 0, "--procs", 2, "--epochs", 1, "--max-iters", 2],
     "not both"),
    (["--config", TOY, "--nnodes", 2, "--node-rank", 2], "--node-rank"),
    (["--config", TOY, "--nnodes", 2, "--master-port", 70000], "--master-port"),
    (["--config", TOY, "--cfg-options", "optimizer.lr"], "KEY=VALUE"),
    (["--config", TOY, "--seed", -1], "--seed"),
    (["--config", TOY, "--work-dir", TOY], "--work-dir is a file"),
    (["--config", TOY, "--threads", 0], "--threads"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, toyvis_small):
    if "--data" not in args:
        args = [*args, "--data", toyvis_small]
    run = objprop_train(*args, timeout=300)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    # import-time warnings of torch / mmcv may precede it; the error itself is one line
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("objprop train: error:")]
    assert len(errors) == 1 and needle in errors[0], run.stderr
    assert run.stderr.strip().splitlines()[-1] == errors[0]


@pytest.mark.parametrize("damage", [b"PK\x03\x04 cut short by a full disk",  # header check
                                    b"\x80\x02 a legacy pickle, then noise"])  # torch.load
def test_resume_from_a_damaged_checkpoint_is_one_line(toyvis_small, tmp_path, damage):
    wd = tmp_path / "damaged"
    wd.mkdir()
    (wd / "iter_2.pth").write_bytes(damage)
    run = objprop_train("--config", BASELINE, "--data", toyvis_small, "--max-iters", 4,
                        "--work-dir", wd, "--resume", timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("objprop train: error:") and "iter_2.pth" in last
    assert "not a readable PyTorch checkpoint" in last
    assert not (wd / "train_summary.json").exists()


# --------------------------------------------------------------------------- (f) the chapter

def test_book_chapter_trains_each_method_per_seed_and_skips_finished_runs(
        toyvis_small, toy_pretrained_start, tmp_path):
    from objprop.book import execute_chapter
    from objprop.studies.store import find_checkpoint
    from tests.conftest import PRETRAIN_SMOKE
    # the session's pretraining, named as the chapter names it: reused, not trained again
    start = dict(toycoco_root=toy_pretrained_start["data"],
                 pretrain_iters=PRETRAIN_SMOKE["max_iters"],
                 toycoco_train_images=PRETRAIN_SMOKE["train_images"],
                 toycoco_valid_images=PRETRAIN_SMOKE["valid_images"])
    params = dict(data_root=str(toyvis_small), work_dir=str(tmp_path / "work"),
                  results_dir=str(tmp_path / "results"), max_iters=2, cfg_options=[SMALL],
                  seeds=[0, 1], authors_seeds=1, **start)
    nb = execute_chapter("train", params, tmp_path / "nb", log=lambda *a: None)
    # only the executed chapter: anything else there would be built as a page of the book
    assert sorted(p.name for p in nb.parent.iterdir()) == ["train.ipynb"]
    runs = json.loads((tmp_path / "results" / "train.json").read_text())["runs"]
    assert [(Path(r["config"]).name, r["seed"]) for r in runs] == [
        (Path(BASELINE).name, 0), (Path(TOY).name, 0), ("objprop_r18_fpn_authors_toy.py", 0),
        ("masktrack_rcnn_r18_fpn_toy_continued.py", 0), (Path(BASELINE).name, 1),
        (Path(TOY).name, 1)]
    # each method and seed trains in its own folder: no seed resumes another's run
    assert len({r["work_dir"] for r in runs}) == 6
    assert runs[5]["work_dir"] == training.run_dir(tmp_path / "work", TOY, 1)
    # the authors' ObjProp starts from this seed's MaskTrack R-CNN checkpoint, as they did,
    # and so does its equal-budget control; the record says so
    authors = json.loads((Path(runs[2]["work_dir"]) / training.SUMMARY_NAME).read_text())
    assert authors["request"]["cfg_options"]["load_from"] == runs[0]["checkpoint"]
    assert runs[2]["load_from"] == runs[3]["load_from"] == runs[0]["checkpoint"]
    # the methods that do not start from the baseline start from the pretrained detector
    assert runs[0]["load_from"] == runs[1]["load_from"] == toy_pretrained_start["checkpoint"]
    pretrained = json.loads((tmp_path / "results" / "pretrain.json").read_text())
    assert pretrained["reused"] and pretrained["checkpoint"] == toy_pretrained_start["checkpoint"]
    # the effective configuration of each run: the schedule as this run compressed it
    effective = training.effective_config(runs[1])
    assert "max_iters=2" in effective and "prop_head" in effective
    for r in runs:
        assert r["iters"] == 2 and not r["skipped"] and Path(r["checkpoint"]).is_file()
        assert r["s_per_iter"] > 0 and "loss" in r["final_losses"]
    # two training seeds give two different models
    w0, w1 = (load_ckpt(runs[i]["checkpoint"])["state_dict"] for i in (1, 5))
    assert w0.keys() == w1.keys()
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)
    assert find_checkpoint(TOY, tmp_path / "results", seed=1) == runs[5]["checkpoint"]
    assert find_checkpoint(TOY, tmp_path / "results") == runs[1]["checkpoint"]
    said = []   # asked again as the chapter asked (its start named, as it names it)
    again = training.train_subprocess(training.TrainSettings(
        TOY, data_root=str(toyvis_small), work_dir=runs[5]["work_dir"], max_iters=2, seed=1,
        resume=True, cfg_options=[SMALL, f"load_from={toy_pretrained_start['checkpoint']}"]),
        log=said.append)
    assert again["skipped"] and "not re-training" in said[0]


def test_reuse_is_keyed_by_config_content_and_data_version(toyvis_small, tmp_path):
    """A finished run is reused only for the same config content (bases and options merged)
    and the same training data version, not merely the same file names."""
    import shutil
    base = training.content_fingerprint(TOY, toyvis_small)
    assert base == training.content_fingerprint(TOY, toyvis_small)
    assert base["config_sha"] and base["data_version"]["info"]["version"]
    other = training.content_fingerprint(TOY, toyvis_small, ["optimizer.lr=0.001"])
    assert other["config_sha"] != base["config_sha"]
    # the same config file edited in place (a copy here, its base resolved the same way)
    edited = tmp_path / "configs" / Path(TOY).name
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    edited.write_text(edited.read_text() + "\nlog_config = dict(interval=7, hooks=[])\n")
    assert training.content_fingerprint(edited, toyvis_small)["config_sha"] != \
        base["config_sha"]
    # regenerated data with another generator version
    data = tmp_path / "data"
    shutil.copytree(toyvis_small, data)
    ann = data / "annotations" / "instances_train.json"
    gt = json.loads(ann.read_text())
    gt["info"]["version"] = "0.9"
    ann.write_text(json.dumps(gt))
    assert training.content_fingerprint(TOY, data)["data_version"] != \
        training.content_fingerprint(TOY, toyvis_small)["data_version"]


def test_one_batch_losses_are_the_first_iteration_s_terms(toyvis_small):
    """The training chapter's one batch: every term of the model's losses (ObjProp's
    propagation terms only in ObjProp), the total their sum, the same numbers twice."""
    from objprop.training import loss_terms_table, one_batch_losses
    obj = one_batch_losses("configs/objprop_r18_fpn_toy.py", toyvis_small, seed=0)
    base = one_batch_losses("configs/masktrack_rcnn_r18_fpn_toy.py", toyvis_small, seed=0)
    assert {"loss_prop_mask", "loss_prop_att", "loss_match"} <= set(obj)
    assert "loss_match" in base and not any(k.startswith("loss_prop") for k in base)
    assert obj["loss"] == pytest.approx(sum(v for k, v in obj.items() if k.startswith("loss_")),
                                        rel=1e-5)
    assert obj["pairs"] == 2
    assert one_batch_losses("configs/objprop_r18_fpn_toy.py", toyvis_small, seed=0) == obj
    table = loss_terms_table({"MaskTrack R-CNN": base, "ObjProp": obj})
    assert "| loss_prop_att | – |" in table and table.strip().splitlines()[-1].startswith("| loss |")
