"""The variance study (`make variance`): one source of the central comparison's spread varied
at a time from a reference run, and the data seed that lets the data order vary alone."""
import json
from pathlib import Path

import numpy as np
import pytest

from objprop import roles
from objprop.cli import main as objprop
from objprop.studies import variance
from objprop.training import TrainSettings

REPO = Path(__file__).resolve().parent.parent


def test_each_variant_moves_its_own_source_only():
    ref = variance.REFERENCE
    got = variance.variants((1, 2))
    assert got[0] == ref and len({v.name for v in got}) == len(got)
    assert {v.factor for v in got[1:]} == set(variance.FACTORS)
    for v in got[1:]:
        moved = {k for k in ("seed", "data_seed", "threads", "float32")
                 if getattr(v, k) != getattr(ref, k)}
        want = dict(all={"seed", "data_seed"}, init={"seed"}, order={"data_seed"},
                    threads={"threads"}, float32={"float32"})[v.factor]
        assert moved == want, v
    assert [(v.seed, v.data_seed) for v in got if v.factor == "all"] == [(1, 1), (2, 2)]
    assert [v.name for v in variance.variants((3,), ("order",))] == ["reference", "order3"]
    with pytest.raises(Exception, match="unknown factor 'seed'"):
        variance.variants((1,), ("seed",))


def test_float32_options_switch_off_the_training_autocast_only():
    from objprop.config import load_config
    for role in variance.METHODS:
        config = REPO / roles.TOY_CONFIGS[role]
        base, f32 = load_config(config), load_config(
            config, cfg_options=variance.FLOAT32_OPTIONS[role])
        assert base.model.train_feat_dtype == "bfloat16" and f32.model.train_feat_dtype is None
        assert f32.model.test_feat_dtype == base.model.test_feat_dtype == "bfloat16"
    assert load_config(REPO / roles.TOY_CONFIGS[roles.OBJPROP], cfg_options=variance.
                       FLOAT32_OPTIONS[roles.OBJPROP]).model.prop_head.train_conv_dtype is None


def test_factor_rows_take_the_std_of_the_paired_differences():
    ap = {("reference", "objprop"): 50.0, ("reference", "baseline"): 52.0,
          ("init1", "objprop"): 51.0, ("init1", "baseline"): 51.5,
          ("init2", "objprop"): 47.0, ("init2", "baseline"): 50.0,
          ("threads2", "objprop"): 50.5, ("threads2", "baseline"): 52.0}
    rows = [dict(variant=v, role=r, AP=a) for (v, r), a in ap.items()]
    got = {f["factor"]: f for f in variance.factor_rows(
        rows, variance.variants((1, 2), ("init", "threads", "order")))}
    assert set(got) == {"init", "threads"}   # order never ran: no row
    assert got["init"]["diffs"] == [-2.0, -0.5, -3.0]
    assert got["init"]["diff_std"] == pytest.approx(np.std([-2.0, -0.5, -3.0], ddof=1))
    assert got["init"]["objprop_std"] == pytest.approx(np.std([50.0, 51.0, 47.0], ddof=1))
    assert got["threads"]["runs"] == 2 and got["threads"]["diff_std"] == pytest.approx(
        0.5 / np.sqrt(2))   # -2.0 against -1.5


def test_the_data_seed_is_part_of_the_request_only_when_given():
    plain = TrainSettings("configs/masktrack_rcnn_r18_fpn_toy.py", seed=3)
    assert "data_seed" not in plain.request() and plain.order_seed == 3
    split = plain.replace(data_seed=5)
    assert split.request()["data_seed"] == 5 and split.order_seed == 5
    assert split.argv()[-2:] == ["--data-seed", "5"]
    with pytest.raises(Exception, match="--data-seed must be in"):
        plain.replace(data_seed=-1).check()


def test_variance_command_trains_scores_and_decomposes(toyvis_small, tmp_path):
    results, work = tmp_path / "results", tmp_path / "work"
    rc = objprop(["book", "variance", "--data", str(toyvis_small), "--levels", "1",
                  "--factors", "order", "--results", str(results), "--work-dir", str(work),
                  "--max-iters", "2", "--max-videos", "2"])
    assert rc in (0, None)
    out = json.loads((results / "variance.json").read_text())
    assert out["split"] == "tune" and {(r["variant"], r["role"]) for r in out["rows"]} == \
        {(v, m) for v in ("reference", "order1") for m in variance.METHODS}
    (order,) = out["factors"]
    ap = {(r["variant"], r["role"]): r["AP"] for r in out["rows"]}
    assert order["factor"] == "order" and order["diffs"] == pytest.approx(
        [ap[v, roles.OBJPROP] - ap[v, roles.BASELINE] for v in ("reference", "order1")])
    assert [v["videos"] for v in out["videos"]] == [15, 30]   # tune's and valid's sizes
    summaries = {v: json.loads((work / v / "masktrack_rcnn_r18_fpn_toy" /
                                "train_summary.json").read_text()) for v in ("reference", "order1")}
    assert [summaries[v]["seed"] for v in summaries] == [0, 0]
    assert [summaries[v]["data_seed"] for v in summaries] == [0, 1]
    # the same initialisation, other batches: the first iteration's losses differ
    first = {v: json.loads(Path(s["json_logs"][0]).read_text().splitlines()[1])
             for v, s in summaries.items()}
    assert first["reference"]["loss"] != first["order1"]["loss"]


def _study():
    return dict(split="tune", factors=[
        dict(factor="all", runs=3, diffs=[-2.0, 0.0, 1.0], diff_std=1.53, objprop_std=1.0,
             baseline_std=1.2),
        dict(factor="init", runs=3, diffs=[-2.0, -1.0, -1.5], diff_std=0.5, objprop_std=0.8,
             baseline_std=0.4),
        dict(factor="order", runs=3, diffs=[-2.0, 0.5, 0.0], diff_std=1.32, objprop_std=1.1,
             baseline_std=0.9)],
        videos=[dict(factor="videos", videos=15, diff_std=2.4, objprop_std=4.0, baseline_std=4.1),
                dict(factor="videos", videos=30, diff_std=1.7, objprop_std=2.9,
                     baseline_std=3.0)])


def test_the_largest_source_leaves_the_seed_out_and_counts_the_split_at_its_largest_size():
    from objprop.present import variance as show
    out = _study()
    assert show.largest(out)["diff_std"] == 1.7          # videos at 30, not at 15
    out["videos"][1]["diff_std"] = 1.0
    assert show.largest(out)["factor"] == "order"        # "all" is both seeds, not one source
    table = show.factor_table(out).splitlines()
    assert table[0].startswith("| source varied alone | runs or videos | std of the paired")
    assert "| 3 runs | 1.53 | 1.00 | 1.20 |" in table[2] and "| 30 videos | 1.00 |" in table[-1]
    text = show.variance_sentence(out)
    assert "all 1.53, init 0.50, order 1.32, videos (15) 2.40, videos (30) 1.00" in text
    assert text.endswith("the largest single source: order.")


def test_the_seed_plan_reaches_the_target_where_the_power_function_says():
    from objprop.present import variance as show
    from objprop.studies import verdict
    plan = show.seed_plan(1.0, seeds=range(3, 6))
    assert [p["seeds"] for p in plan] == [3, 4, 5]
    assert plan[0]["detectable"] > plan[1]["detectable"] > plan[2]["detectable"]
    n = verdict.seeds_needed(verdict.TARGET_DETECTABLE, 1.0)
    assert verdict.detectable_effect(1.0, n) <= verdict.TARGET_DETECTABLE < \
        verdict.detectable_effect(1.0, n - 1)
    text = show.plan_sentence(1.0, minutes_per_seed=2.0, label="a spread")
    assert f"{n} seeds detect 2.0 mAP" in text and f"about {2 * n:.0f} min" in text


def test_minutes_per_seed_leave_out_a_pretraining_the_book_made(tmp_path):
    from objprop.present import variance as show
    assert show.minutes_per_seed(tmp_path) is None
    (tmp_path / "book_timings.json").write_text(json.dumps(
        dict(chapters=dict(train=1980.0, claims=5.0), total_s=1985.0, seeds=[0, 1, 2])))
    assert show.minutes_per_seed(tmp_path) == pytest.approx(11.0)
    (tmp_path / "pretrain.json").write_text(json.dumps(dict(seconds=540.0, reused=False)))
    assert show.minutes_per_seed(tmp_path) == pytest.approx(8.0)
    (tmp_path / "pretrain.json").write_text(json.dumps(dict(seconds=540.0, reused=True)))
    assert show.minutes_per_seed(tmp_path) == pytest.approx(11.0)
