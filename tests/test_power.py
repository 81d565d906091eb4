"""Seeds or videos (`make power`): the central pair scored on a grown tuning split, cut into
blocks; the spread over seeds at each block size and what the target costs at each."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from objprop import roles
from objprop.cli import main as objprop
from objprop.errors import ObjPropError
from objprop.evaluation import ytvis_evaluate
from objprop.present import power as show_power
from objprop.studies import power, verdict
from objprop.studies.store import subset_gt
from tests.test_evaluation import box, gt_as_results, make_gt

A, B = power.METHODS


def test_the_grown_split_starts_with_the_book_s_tuning_videos(toyvis_small, tmp_path):
    root, n_book = power.grown_split(toyvis_small, 4, tmp_path / "grown")
    book = json.loads((toyvis_small / "annotations" / "instances_tune.json").read_text())
    grown = json.loads((Path(root) / "annotations" / "instances_tune.json").read_text())
    assert n_book == len(book["videos"]) == 2 and len(grown["videos"]) == 4
    assert grown["videos"][:2] == book["videos"]
    assert grown["videos"][2]["file_names"] != book["videos"][0]["file_names"]
    with pytest.raises(ObjPropError, match="at least twice"):
        power.grown_split(toyvis_small, 3, tmp_path / "small")
    # a tune split the generator did not draw (edited, another version): one line says so
    import shutil
    other = tmp_path / "other"
    shutil.copytree(toyvis_small, other)
    ann = other / "annotations" / "instances_tune.json"
    gt = json.loads(ann.read_text())
    gt["annotations"][0]["category_id"] = 1 + gt["annotations"][0]["category_id"] % 5
    ann.write_text(json.dumps(gt))
    with pytest.raises(ObjPropError, match="are not"):
        power.grown_split(other, 4, tmp_path / "grown")


def test_block_aps_score_each_block_as_ytvis_evaluate_scores_it_alone():
    gt = make_gt([(2, 40, 60)] * 4,
                 [dict(video=v, cat=1 + v % 2, masks=[box(2 + v, 3, 10, 12), box(4, 5, 9, 9)])
                  for v in (1, 2, 3, 4)])
    results = gt_as_results(gt)
    results[2]["segmentations"] = gt_as_results(gt)[0]["segmentations"]  # video 3 wrong
    got = power.block_aps(gt, results, 2)
    want = [100 * ytvis_evaluate(subset_gt_of(gt, ids), [r for r in results
                                                         if r["video_id"] in ids])["AP"]
            for ids in ([1, 2], [3, 4])]
    assert got == pytest.approx(want) and got[0] == pytest.approx(100) and got[1] < 100
    assert power.block_aps(gt, results, 3) == pytest.approx(
        [100 * ytvis_evaluate(subset_gt_of(gt, [1, 2, 3]),
                              [r for r in results if r["video_id"] <= 3])["AP"]])


def subset_gt_of(gt, ids):
    return dict(gt, videos=[v for v in gt["videos"] if v["id"] in ids],
                annotations=[a for a in gt["annotations"] if a["video_id"] in ids])


def test_size_rows_pool_the_blocks_variances_over_seeds():
    seeds, rng = [0, 1, 2, 3], np.random.default_rng(0)
    aps = {}
    for s in seeds:
        for n, k in ((2, 4), (4, 2)):
            aps[A, s, n] = list(50 + rng.normal(size=k))
            aps[B, s, n] = list(49 + rng.normal(size=k))
    rows = power.size_rows(aps, seeds, [2, 4])
    assert [(r["videos"], r["blocks"]) for r in rows] == [(2, 4), (4, 2)]
    d = np.array([np.subtract(aps[A, s, 2], aps[B, s, 2]) for s in seeds])
    assert rows[0]["diff_sd"] == pytest.approx(math.sqrt(d.var(axis=0, ddof=1).mean()))
    assert rows[0]["block_sds"] == pytest.approx(d.std(axis=0, ddof=1), abs=1e-3)
    assert rows[0]["mean_diff"] == pytest.approx(d.mean())


def _power(cost=True):
    return dict(videos=120, seeds=[0, 1, 2, 3, 4, 5], whole=dict(mean=0.4, low=-0.3, high=1.1),
                sizes=[dict(videos=15, blocks=8, diff_sd=2.4), dict(videos=30, blocks=4,
                                                                  diff_sd=1.8),
                       dict(videos=120, blocks=1, diff_sd=1.5)],
                cost=dict(train_pair_core_s=600.0, inference_core_s_per_video=4.0, cores=2)
                if cost else None)


def test_the_plan_prices_each_size_s_seeds_with_the_book_s_times():
    rows = show_power.plan_rows(_power(), 3)
    for r in rows:
        need = verdict.seeds_needed(verdict.TARGET_DETECTABLE, r["diff_sd"])
        assert r["needed"] == need
        assert r["detectable"] == pytest.approx(verdict.detectable_effect(r["diff_sd"], 3))
        assert r["minutes"] == pytest.approx(need * (600 + r["videos"] * 4) / 2 / 60)
    best = show_power.cheapest(_power(), 3)
    assert best["minutes"] == min(r["minutes"] for r in rows)
    text = show_power.power_sentence(_power(), 3)
    assert "from 2.40 to 1.50" in text and f"{best['needed']} seeds on {best['videos']}" in text
    assert "[-0.30, +1.10]" in text
    assert all(r["minutes"] is None for r in show_power.plan_rows(_power(cost=False), 3))
    assert "cheapest" not in show_power.power_sentence(_power(cost=False), 3)
    assert "| 120 | 1 | 1.50 |" in show_power.plan_table(_power(), 3)


def test_book_costs_read_the_book_s_training_and_inference_times(tmp_path):
    assert power.book_costs(tmp_path) is None
    runs = [dict(role=r, seed=s, seconds=300.0 + s, threads=1) for r in (A, B) for s in (0, 1)]
    runs.append(dict(role=roles.AUTHORS, seed=0, seconds=999.0, threads=1))
    (tmp_path / "train.json").write_text(json.dumps(dict(runs=runs)))
    methods = [dict(role=r, seed=s, inference_seconds=60.0, video_ids=list(range(30)))
               for r in (A, B, roles.OBJPROP_NO_FILL) for s in (0, 1)]
    (tmp_path / "evaluation.json").write_text(json.dumps(dict(methods=methods)))
    cost = power.book_costs(tmp_path)
    assert cost["train_pair_core_s"] == pytest.approx((300 + 300 + 301 + 301) / 2)
    assert cost["inference_core_s_per_video"] == pytest.approx(3 * 60 / 30)
    assert sorted(cost["passes"]) == sorted([A, B, roles.OBJPROP_NO_FILL])


def test_power_command_trains_scores_and_cuts_blocks(toyvis_small, tmp_path):
    results, work = tmp_path / "results", tmp_path / "work"
    rc = objprop(["book", "power", "--data", str(toyvis_small), "--seeds", "0", "1", "2",
                  "--videos", "4", "--results", str(results), "--work-dir", str(work),
                  "--split-root", str(tmp_path / "grown"), "--max-iters", "2"])
    assert rc in (0, None)
    out = json.loads((results / "power.json").read_text())
    assert [(r["videos"], r["blocks"]) for r in out["sizes"]] == [(2, 2), (4, 1)]
    assert {(r["role"], r["seed"]) for r in out["runs"]} == {(m, s) for m in power.METHODS
                                                             for s in (0, 1, 2)}
    # the book's own run folders (the training chapter reuses them, and they it)
    assert (work / "objprop_r18_fpn_toy" / "seed2" / "train_summary.json").is_file()
    whole = [next(r for r in out["runs"] if (r["role"], r["seed"]) == (A, s))["blocks"]["4"][0]
             - next(r for r in out["runs"] if (r["role"], r["seed"]) == (B, s))["blocks"]["4"][0]
             for s in (0, 1, 2)]
    assert out["whole"]["diffs"] == pytest.approx(whole) and out["cost"] is None
    assert objprop(["book", "power", "--data", str(toyvis_small), "--seeds", "0", "1",
                    "--results", str(results)]) == 2
