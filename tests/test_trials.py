"""Fidelity trials (`make trials`): each source choice trained from the pretrained start beside
the book's own run of its method (the same request, so the book reuses it), paired by seed on
the tuning split, and read as *trains* or *worse* by its interval."""
import json
from pathlib import Path

import pytest

from objprop import roles
from objprop.cli import main as objprop
from objprop.studies import trials

REPO = Path(__file__).resolve().parent.parent


def test_every_trial_names_a_loadable_config_and_existing_keys():
    from objprop.config import load_config
    from objprop.training.settings import check_cfg_options
    for t in trials.TRIALS:
        cfg = load_config(REPO / t.trained_config())
        check_cfg_options(load_config(REPO / roles.TOY_CONFIGS[t.role]), t.options,
                          t.trained_config())
        assert t.role in (roles.BASELINE, roles.OBJPROP)
    sgd = load_config(REPO / "configs" / "masktrack_rcnn_r18_fpn_toy_sgd.py")
    paper = load_config(REPO / "configs" / "masktrack_rcnn_r50_fpn_12e_youtubevis2019.py")
    assert dict(sgd.optimizer) == dict(paper.optimizer) and sgd.base_batch_size == \
        paper.base_batch_size and sgd.optimizer_config.grad_clip is None
    toy = load_config(REPO / roles.TOY_CONFIGS[roles.BASELINE])
    # only the optimiser differs from the book's baseline
    for key in ("model", "data", "lr_config", "runner", "load_from"):
        assert sgd[key] == toy[key], key


def test_summary_pairs_by_seed_and_reads_the_interval():
    rows = [dict(name="baseline", seed=s, AP=a) for s, a in ((0, 50.0), (1, 52.0), (2, 51.0))]
    rows += [dict(name="sgd", seed=s, AP=a) for s, a in ((0, 40.0), (1, 43.0), (2, 41.0))]
    rows += [dict(name="dot_logits", seed=s, AP=a) for s, a in ((0, 51.0), (1, 51.0))]
    got = {t["name"]: t for t in trials.summarize(rows)}
    assert got["sgd"]["diff"] == pytest.approx(-29 / 3) and got["sgd"]["reading"] == "worse"
    assert got["sgd"]["seeds"] == [0, 1, 2] and got["sgd"]["control_AP"] == 51.0
    assert got["sgd"]["learns"]
    # paired on the seeds both ran: 0 and 1 (+1, -1)
    assert got["dot_logits"]["seeds"] == [0, 1] and got["dot_logits"]["diff"] == 0
    assert got["dot_logits"]["reading"] == "inconclusive" and got["dot_logits"]["low"] < 0
    assert got["stride16"]["diff"] is None and got["stride16"]["reading"] is None
    assert not got["stride16"]["learns"]   # never ran
    # better: the whole interval above zero; a seed at zero mAP does not learn
    rows += [dict(name="objprop", seed=s, AP=a) for s, a in ((0, 45.0), (1, 47.0), (2, 46.0))]
    rows += [dict(name="stride16", seed=s, AP=a) for s, a in ((0, 48.0), (1, 50.0), (2, 49.5))]
    got = {t["name"]: t for t in trials.summarize(rows)}
    assert got["stride16"]["reading"] == "better" and got["stride16"]["learns"]
    zero = [dict(r, AP=0.0) if r["name"] == "sgd" and r["seed"] == 2 else r for r in rows]
    assert not {t["name"]: t for t in trials.summarize(zero)}["sgd"]["learns"]


def test_trials_command_trains_beside_the_books_run_and_writes_its_json(
        toyvis_small, toy_pretrained_start, tmp_path):
    from objprop.training import TrainSettings, run_dir
    results, work, tdir = tmp_path / "results", tmp_path / "work", tmp_path / "trials"
    rc = objprop(["book", "trials", "--data", str(toyvis_small), "--seeds", "0",
                  "--trials", "dot_logits", "--results", str(results), "--work-dir", str(work),
                  "--trials-dir", str(tdir), "--max-iters", "2", "--max-videos", "1"])
    assert rc in (0, None)
    out = json.loads((results / "recipe_trials.json").read_text())
    assert out["split"] == "tune" and {(r["name"], r["seed"]) for r in out["rows"]} == \
        {("dot_logits", 0), ("baseline", 0)}
    (t,) = out["trials"]
    ap = {r["name"]: r["AP"] for r in out["rows"]}
    assert t["diff"] == pytest.approx(ap["dot_logits"] - ap["baseline"]) and t["low"] is None
    # both runs start from the pretrained start; the trial differs by its option only
    control = json.loads((Path(run_dir(work, roles.TOY_CONFIGS[roles.BASELINE], 0))
                          / "train_summary.json").read_text())
    trial = json.loads((Path(run_dir(tdir / "dot_logits", roles.TOY_CONFIGS[roles.BASELINE],
                                     0)) / "train_summary.json").read_text())
    start = f"load_from={toy_pretrained_start['checkpoint']}"
    assert trials.start_options(roles.TOY_CONFIGS[roles.BASELINE]) == [start]
    assert control["request"]["cfg_options"] == {"load_from": toy_pretrained_start["checkpoint"]}
    assert trial["request"]["cfg_options"] == dict(control["request"]["cfg_options"], **{
        "model.roi_head.track_head.normalize": False})
    # the control is the training chapter's run of that seed: the same request
    chapter = TrainSettings(roles.TOY_CONFIGS[roles.BASELINE], data_root=str(toyvis_small),
                            work_dir=run_dir(work, roles.TOY_CONFIGS[roles.BASELINE], 0),
                            gpus=0, procs=1, resume=True, max_iters=2, epochs=None,
                            samples_per_gpu=None, seed=0, cfg_options=[start])
    assert chapter.request() == control["request"]


def test_an_unknown_trial_is_one_line_exit_2(toyvis_small, tmp_path, capsys):
    rc = objprop(["book", "trials", "--data", str(toyvis_small), "--trials", "adam",
                  "--results", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "unknown trial" in err[0] and "sgd" in err[0]
    assert not (tmp_path / "r").exists()


def test_the_trials_table_and_the_pretraining_sentence_read_their_json():
    from objprop.present.pretrained import pretrain_sentence, trials_sentence, trials_table
    rows = [dict(name=n, seed=s, AP=a) for n, s, a in (
        ("baseline", 0, 50.0), ("baseline", 1, 52.0), ("sgd", 0, 40.0), ("sgd", 1, 41.0))]
    out = dict(seeds=[0, 1], split="tune", trials=trials.summarize(rows))
    lines = trials_table(out).splitlines()
    assert len(lines) == 2 + len(trials.TRIALS) and "learns" in lines[0]
    sgd = next(line for line in lines if "SGD" in line)
    assert "| 40.5 | 51.0 | yes | -10.5 [" in sgd and sgd.endswith("| worse |")
    assert "one seed: no interval" not in sgd and "| no | – |" in lines[-1]
    assert "seeds 0, 1" in trials_sentence(out) and "tune split" in trials_sentence(out)
    record = dict(load_from="pretrained://mask_rcnn_r18_fpn_toycoco", config="c.py", iters=1600,
                  train_seconds=540.0, s_per_iter=0.33, valid_images=200, reused=True,
                  ap=dict(bbox=dict(mAP=56.65), segm=dict(mAP=None)))
    said = pretrain_sentence(record)
    assert "1600 iterations" in said and "9.0 min at 0.33 s/iteration" in said
    assert "box 56.6, mask –" in said and "200 held-out images" in said and "reused" in said
