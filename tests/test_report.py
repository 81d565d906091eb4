"""objprop.report: the README's results block and the fidelity rows come from results/*.json."""
import json

import pytest

from objprop import report
from objprop.errors import ObjPropError
from objprop.evaluation import STAT_NAMES


def stats(ap):
    return {k: ap for k in STAT_NAMES}


def write_results(d, base_ap=(0.4, 0.42, 0.38), authors_ap=0.3, objprop_ap=(0.45, 0.46, 0.44)):
    """evaluation.json and train.json as the chapters write them: one scored run per method
    and training seed (the authors' preset: seed 0 only)."""
    d.mkdir(parents=True, exist_ok=True)
    methods = [dict(method=name, seed=seed, stats=stats(ap), video_ids=[1, 2], filled_frames=0)
               for name, aps in (("MaskTrack R-CNN", base_ap), ("ObjProp", objprop_ap))
               for seed, ap in enumerate(aps)]
    fidelity = [dict(method=name, seed=0, stats=stats(ap), what=what, filled_frames=n)
                for name, ap, what, n in (
                    ("MaskTrack R-CNN", base_ap[0], "original", 0),
                    ("MaskTrack R-CNN, authors' test settings", 0.35, "thresholds", 0),
                    ("ObjProp (authors' code, as released)", authors_ap, "release", 0),
                    ("ObjProp (authors' code, filling as intended)", 0.32, "fills", 7))]
    (d / "evaluation.json").write_text(json.dumps(dict(
        split="valid", data_root="data/toyvis", methods=methods, fidelity=fidelity)))
    (d / "book_timings.json").write_text(json.dumps(dict(
        chapters=dict(train=1800.0, evaluation=600.0, data=6.0), total_s=2406.0, seeds=[0, 1, 2])))
    (d / "train.json").write_text(json.dumps(dict(runs=[
        dict(method="MaskTrack R-CNN", iters=600, batch=2, seed=s, s_per_iter=0.5 + s / 10,
             threads=1 + (s == 2)) for s in range(len(base_ap))])))


def test_readme_block_is_rewritten_from_the_results_files(tmp_path):
    results = tmp_path / "results"
    write_results(results)
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\nbefore\n{report.README_BEGIN}\nold 99.9\n"
                      f"{report.README_END}\nafter\n")
    report.update_readme(readme, results)
    text = readme.read_text()
    assert text.startswith("# title\nbefore\n") and text.endswith("\nafter\n")
    assert "old 99.9" not in text
    # mean ± sample std over the three seeds, with how many
    assert "| MaskTrack R-CNN | 40.0 ± 2.0 |" in text and "| ObjProp | 45.0 ± 1.0 |" in text
    assert "3 seeds |" in text and "training seeds 0, 1, 2" in text
    assert ("600 iterations, batch 2, seeds 0, 1, 2; s/iteration by seed 0.50 (1 thread), "
            "0.60 (1 thread), 0.70 (2 threads)") in text
    assert "ran its chapters in 40 min (training seeds 0, 1, 2; longest: train 30.0 min, " \
        "evaluation 10.0 min, data 0.1 min)" in text
    assert "Its 3 training runs took 0 min when they trained" in text
    # paired per seed: +5, +4, +6
    assert "+5.0 ± 1.0 mAP (per seed +5.0, +4.0, +6.0)" in text
    # the authors' release against the baseline at the same settings: 30.0 - 35.0, one seed
    assert "the same settings: -5.0 mAP (one seed)" in text
    # a second run with other numbers replaces the block, it does not add one
    write_results(results, base_ap=(0.2, 0.2, 0.2))
    report.update_readme(readme, results)
    text = readme.read_text()
    assert text.count(report.README_BEGIN) == 1 and "| MaskTrack R-CNN | 20.0 ± 0.0 |" in text


def test_gain_is_judged_against_the_spread_of_both_methods():
    def runs(base, obj):
        return [dict(method=name, seed=s, stats=stats(ap), filled_frames=0)
                for name, aps in (("MaskTrack R-CNN", base), ("ObjProp", obj))
                for s, ap in enumerate(aps)]
    clear = report.paired_difference(runs((0.40, 0.41, 0.39), (0.46, 0.47, 0.45)),
                                     "ObjProp", "MaskTrack R-CNN")
    assert clear["per_seed"] == pytest.approx([6, 6, 6]) and clear["exceeds_spread"]
    assert clear["spread"] == pytest.approx(2.0)
    noisy = runs((0.40, 0.45, 0.35), (0.47, 0.40, 0.44))
    d = report.paired_difference(noisy, "ObjProp", "MaskTrack R-CNN")
    assert d["mean"] == pytest.approx(11 / 3) and not d["exceeds_spread"]
    assert "not distinguishable from seed-to-seed variation" in report.gain_sentence(noisy)
    one = report.paired_difference(runs((0.4,), (0.5,)), "ObjProp", "MaskTrack R-CNN")
    assert one["std"] is None and one["exceeds_spread"] is None
    # seeds are paired by value, not position: a method missing a seed drops that pair
    partial = runs((0.40, 0.41, 0.39), (0.46,))
    assert report.paired_difference(partial, "ObjProp", "MaskTrack R-CNN")["seeds"] == [0]
    # an undefined number (None) leaves its seed out, and no seed at all gives None
    undefined = lambda run, key: None if run["seed"] == 1 else 1.0  # noqa: E731
    three = runs((0.40, 0.41, 0.39), (0.46, 0.47, 0.45))
    assert report.paired_difference(three, "ObjProp", "MaskTrack R-CNN",
                                    value=undefined)["seeds"] == [0, 2]
    assert report.paired_difference(three, "ObjProp", "MaskTrack R-CNN",
                                    value=lambda run, key: None) is None


def test_summary_rows_keep_every_seed():
    measured = [dict(method="A", seed=s, stats=stats(ap)) for s, ap in ((3, 0.1), (7, 0.3))]
    (row,) = report.summary_rows(measured, ["AP"], report.percent)
    assert row["seed_list"] == [3, 7] and row["per_seed"]["AP"] == pytest.approx([10, 30])
    assert row["AP"] == pytest.approx(20) and row["AP_std"] == pytest.approx(200 ** 0.5)
    assert "| A | 20.0 ± 14.1 |" in report.markdown_table([row], [("mAP", "AP")], extra=())


def test_readme_without_markers_is_refused_and_left_alone(tmp_path):
    write_results(tmp_path / "results")
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(ObjPropError, match="README.md: no results markers"):
        report.update_readme(readme, tmp_path / "results")
    assert readme.read_text() == "no markers\n"


def test_fidelity_runs_isolate_tracker_thresholds_and_filling():
    runs = report.fidelity_runs("base.py", "objprop.py", "authors.py")
    by = {r.method: (r.config, r.fill, r.options) for r in runs}
    assert by["MaskTrack R-CNN, greedy tracker"] == (
        "base.py", True, {"model.test_cfg.track.type": "GreedyTracker"})
    assert by["MaskTrack R-CNN, authors' test settings"][2]["model.test_cfg.rcnn.score_thr"] \
        == 0.001
    assert by["ObjProp (authors' code, as released)"] == ("authors.py", False, {})
    assert by["ObjProp (authors' code, filling as intended)"][:2] == ("authors.py", True)
    # the baseline's test-time variants run on the first seeds only; trained methods on all
    seeds = {r.method: r.seeds for r in runs}
    assert seeds["MaskTrack R-CNN, greedy tracker"] == report.TEST_VARIANT_SEEDS
    assert seeds["MaskTrack R-CNN"] is None and seeds["ObjProp (paper text)"] is None


def test_bootstrap_of_the_split_holds_the_models_fixed():
    """Perfect results score 100 on every draw; a model right on half the videos varies with
    the draw, less on larger splits; two identical runs differ by exactly 0 on every draw."""
    from tests.test_evaluation import box, gt_as_results, make_gt
    gt = make_gt([(2, 40, 60)] * 8, [dict(video=v, masks=[box(2, 2, 10, 10), box(3, 3, 10, 10)])
                                     for v in range(1, 9)])
    perfect = gt_as_results(gt)
    half = [r for r in perfect if r["video_id"] <= 4]
    rows = report.bootstrap_ap(gt, {"perfect": perfect, "half": half}, sizes=[8, 32], draws=30)
    assert [r["videos"] for r in rows] == [8, 32]
    assert all(r["perfect"] == 100 and r["perfect_std"] == 0 for r in rows)
    assert 0 < rows[1]["half_std"] < rows[0]["half_std"]
    assert rows[0]["difference"] == pytest.approx(100 - rows[0]["half"])
    same = report.bootstrap_ap(gt, {"a": half, "b": half}, sizes=[8], draws=10)[0]
    assert same["difference"] == 0 and same["difference_std"] == 0
    # the same seed draws the same splits
    assert report.bootstrap_ap(gt, {"half": half}, [8], draws=5, seed=3) == \
        report.bootstrap_ap(gt, {"half": half}, [8], draws=5, seed=3)
    text = report.split_size_sentence(rows, ("perfect", "half"), target=1.0)
    assert "32 videos: ±" in text and "The rule" not in text  # no seeds' spread: no rule
    spread = rows[0]["difference_std"]
    wide = report.split_size_sentence(rows, ("perfect", "half"), dict(std=2.1 * spread))
    narrow = report.split_size_sentence(rows, ("perfect", "half"), dict(std=1.9 * spread))
    assert "holds at its 8 videos" in wide and "does not hold at its 8 videos" in narrow


def test_score_runs_scores_every_seed_or_the_first_ones_and_reuses_a_run(tmp_path, monkeypatch):
    """A run with ``seeds=1`` is scored on the first trained seed only; the same (config, seed,
    fill, options) under another name is scored once."""
    (tmp_path / "train.json").write_text(json.dumps(dict(runs=[
        dict(config=f"configs/{c}.py", seed=s, checkpoint=f"{c}_{s}.pth")
        for s in (0, 1, 2) for c in ("base", "prop")])))
    calls = []

    def fake_score(name, config, checkpoint, *args, seed=None, **kwargs):
        calls.append((name, checkpoint))
        return dict(method=name, seed=seed, checkpoint=checkpoint)

    monkeypatch.setattr(report, "score_method", fake_score)
    cache = {}
    runs = [report.Run("A", "configs/base.py", True, {}, "all seeds"),
            report.Run("A, variant", "configs/base.py", True, {"x": 1}, "first seed", 1)]
    out = report.score_runs(runs, "data", out_dir=tmp_path, cache=cache)
    assert [(r["method"], r["seed"]) for r in out] == [("A", 0), ("A", 1), ("A", 2),
                                                      ("A, variant", 0)]
    again = report.score_runs([("B", "configs/base.py", True, {}, "same as A")], "data",
                              out_dir=tmp_path, cache=cache)
    assert [r["method"] for r in again] == ["B"] * 3 and len(calls) == 4


def test_results_file_names_are_safe():
    """Display names become file names of letters, digits, '_', '-' and '.' only (a comma
    and a quote once reached results/)."""
    import re
    from objprop.io import safe_name
    for name in ("MaskTrack R-CNN, authors' test settings", "ObjProp (no filling)",
                 "ObjProp (authors' code, filling as intended)", "a/b\\c d", "  "):
        slug = safe_name(name)
        assert re.fullmatch(r"[a-z0-9_.-]+", slug), (name, slug)
    assert safe_name("MaskTrack R-CNN, authors' test settings") == \
        "masktrack_r-cnn_authors_test_settings"
    assert safe_name("ObjProp (no filling)") != safe_name("ObjProp")
