"""The README's results block and the fidelity rows come from results/*.json; runs are
looked up by role (objprop.studies.stats / .scoring / .fidelity, objprop.present)."""
import json

import pytest

from objprop import roles
from objprop.errors import ObjPropError
from objprop.evaluation import STAT_NAMES
from objprop.present import evaluation as show
from objprop.present import readme
from objprop.studies import fidelity, scoring, stats, store
from objprop.tables import markdown_table


def stat_dict(ap):
    return {k: ap for k in STAT_NAMES}


def write_results(d, base_ap=(0.4, 0.42, 0.38), authors_ap=0.3, objprop_ap=(0.45, 0.46, 0.44)):
    """evaluation.json and train.json as the chapters write them: one scored run per method
    and training seed (the authors' preset: seed 0 only)."""
    d.mkdir(parents=True, exist_ok=True)
    methods = [dict(role=role, seed=seed, stats=stat_dict(ap), video_ids=[1, 2],
                    filled_frames=0)
               for role, aps in ((roles.BASELINE, base_ap), (roles.OBJPROP, objprop_ap))
               for seed, ap in enumerate(aps)]
    fid = [dict(role=role, seed=0, stats=stat_dict(ap), what=what, filled_frames=n)
           for role, ap, what, n in (
               (roles.BASELINE, base_ap[0], "original", 0),
               (roles.BASELINE_AUTHORS_TEST, 0.35, "thresholds", 0),
               (roles.AUTHORS_RELEASED, authors_ap, "release", 0),
               (roles.AUTHORS_INTENDED, 0.32, "fills", 7))]
    (d / "evaluation.json").write_text(json.dumps(dict(
        split="valid", data_root="data/toyvis", methods=methods, fidelity=fid)))
    (d / "book_timings.json").write_text(json.dumps(dict(
        chapters=dict(train=1800.0, evaluation=600.0, data=6.0), total_s=2406.0, seeds=[0, 1, 2])))
    (d / "train.json").write_text(json.dumps(dict(runs=[
        dict(role=roles.BASELINE, iters=600, batch=2, seed=s, s_per_iter=0.5 + s / 10,
             threads=1 + (s == 2)) for s in range(len(base_ap))])))


def test_readme_block_is_rewritten_from_the_results_files(tmp_path):
    results = tmp_path / "results"
    write_results(results)
    page = tmp_path / "README.md"
    page.write_text(f"# title\nbefore\n{readme.README_BEGIN}\nold 99.9\n"
                    f"{readme.README_END}\nafter\n")
    readme.update_readme(page, results)
    text = page.read_text()
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
    assert "+5.0 mAP, 95 % interval [+2.5, +7.5] (per seed +5.0, +4.0, +6.0)" in text
    # [+2.5, +7.5] lies below the paper's +18.8 % of 40 (+7.5 unrounded): the equivalence
    # reading calls it smaller than claimed, and says it excludes zero
    assert ("The interval excludes zero and lies below the paper's effect (+7.5 mAP here) "
            "(verdict: *smaller than claimed*)") in text
    # the authors' release against the baseline at the same settings: 30.0 - 35.0, one seed
    assert ("the same settings (UNEQUAL budget: the preset trained on top of the baseline's "
            "checkpoint): -5.0 mAP (one seed, no interval)") in text
    assert "How far from converged" not in text          # no results/budget.json
    from objprop.studies import budget
    curve = budget.curve([dict(role=role, multiple=k, iters=400 * k, seed=s, AP=ap + s)
                          for role, by_k in ((roles.BASELINE, {1: 30.0, 2: 40.0}),
                                             (roles.OBJPROP, {1: 31.0, 2: 40.5}))
                          for k, ap in by_k.items() for s in (0, 1)])
    (results / "budget.json").write_text(json.dumps(dict(
        split="tune", seeds=[0, 1], multiples=[1, 2], base_iters=400, points=curve,
        plateau=budget.plateau(curve))))
    readme.update_readme(page, results)
    text = page.read_text()
    assert ("How far from converged (`make budget`: each method at 400, 800 iterations, "
            "seeds 0, 1, tune split; evaluation chapter): Doubling MaskTrack R-CNN's "
            "training moved its mean mAP on the tune split by: 400 → 800: +10.0") in text
    assert "has not flattened within 800 iterations" in text and "ObjProp 400 it +1.0" in text
    (results / "budget.json").unlink()
    assert "GPU check" not in text                        # no results/gpu_check.json
    row = dict(method="ObjProp", gpu_s_per_iter=0.1, cpu_s_per_iter=0.45, min_iou=1.0,
               tf32_problems=["a", "b"])
    (results / "gpu_check.json").write_text(json.dumps(dict(
        date="2026-11-27", ok=True, environment=dict(gpus=["H"], torch="2.x"), methods=[row])))
    readme.update_readme(page, results)
    assert ("GPU check (`make gpu-check`, 2026-11-27, H, torch 2.x): ObjProp 0.100 "
            "s/iteration against 0.450 on its CPU (4.5x); the same tracks on GPU and CPU in "
            "fp32, every paired mask IoU at least 1.00. With the GPU's default TF32 "
            "convolutions the problems counted were ObjProp 2") in page.read_text()
    (results / "gpu_check.json").write_text(json.dumps(dict(ok=False, methods=[row])))
    readme.update_readme(page, results)
    assert "undated, no GPU recorded" in page.read_text()
    assert "GPU and CPU DISAGREED" in page.read_text()
    (results / "gpu_check.json").unlink()
    # a second run with other numbers replaces the block, it does not add one
    write_results(results, base_ap=(0.2, 0.2, 0.2))
    readme.update_readme(page, results)
    text = page.read_text()
    assert text.count(readme.README_BEGIN) == 1 and "| MaskTrack R-CNN | 20.0 ± 0.0 |" in text


def test_gain_is_judged_by_its_paired_interval():
    def runs(base, obj):
        return [dict(role=role, seed=s, stats=stat_dict(ap), filled_frames=0)
                for role, aps in ((roles.BASELINE, base), (roles.OBJPROP, obj))
                for s, ap in enumerate(aps)]
    clear = stats.paired_difference(runs((0.40, 0.41, 0.39), (0.46, 0.47, 0.45)),
                                     roles.OBJPROP, roles.BASELINE)
    assert clear["per_seed"] == pytest.approx([6, 6, 6])
    assert (clear["low"], clear["high"]) == pytest.approx((6, 6))
    assert "(verdict: *reproduced*)" in show.gain_sentence(runs((0.40, 0.41, 0.39),
                                                                (0.46, 0.48, 0.45)))
    noisy = runs((0.40, 0.45, 0.35), (0.47, 0.40, 0.44))
    d = stats.paired_difference(noisy, roles.OBJPROP, roles.BASELINE)
    assert d["mean"] == pytest.approx(11 / 3) and d["low"] < 0 < d["high"]
    sentence = show.gain_sentence(noisy)
    assert "includes zero (verdict: *inconclusive at this budget*)" in sentence
    assert "smallest effect detected 80 % of the time" in sentence
    one = stats.paired_difference(runs((0.4,), (0.5,)), roles.OBJPROP, roles.BASELINE)
    assert one["std"] is None and one["low"] is None
    assert "one seed, no interval" in show.format_difference(one)
    # seeds are paired by value, not position: a method missing a seed drops that pair
    partial = runs((0.40, 0.41, 0.39), (0.46,))
    assert stats.paired_difference(partial, roles.OBJPROP, roles.BASELINE)["seeds"] == [0]
    # an undefined number (None) leaves its seed out, and no seed at all gives None
    undefined = lambda run, key: None if run["seed"] == 1 else 1.0  # noqa: E731
    three = runs((0.40, 0.41, 0.39), (0.46, 0.47, 0.45))
    assert stats.paired_difference(three, roles.OBJPROP, roles.BASELINE,
                                    value=undefined)["seeds"] == [0, 2]
    assert stats.paired_difference(three, roles.OBJPROP, roles.BASELINE,
                                    value=lambda run, key: None) is None


def test_summary_rows_keep_every_seed():
    measured = [dict(role="A", seed=s, stats=stat_dict(ap)) for s, ap in ((3, 0.1), (7, 0.3))]
    (row,) = stats.summary_rows(measured, ["AP"], stats.percent)
    assert row["seed_list"] == [3, 7] and row["per_seed"]["AP"] == pytest.approx([10, 30])
    assert row["AP"] == pytest.approx(20) and row["AP_std"] == pytest.approx(200 ** 0.5)
    assert "| A | 20.0 ± 14.1 |" in markdown_table([row], [("mAP", "AP")], extra=())


def test_readme_without_markers_is_refused_and_left_alone(tmp_path):
    write_results(tmp_path / "results")
    page = tmp_path / "README.md"
    page.write_text("no markers\n")
    with pytest.raises(ObjPropError, match="README.md: no results markers"):
        readme.update_readme(page, tmp_path / "results")
    assert page.read_text() == "no markers\n"


def test_fidelity_runs_isolate_tracker_thresholds_and_filling():
    base = "configs/masktrack_rcnn_r18_fpn_toy.py"
    runs = fidelity.fidelity_runs(base, "objprop.py", "authors.py")
    by = {r.role: (r.config, r.fill, r.options) for r in runs}
    assert by[roles.BASELINE_GREEDY] == (
        base, True, {"model.test_cfg.track.type": "GreedyTracker"})
    assert roles.CONTINUED not in by   # no control config: no control rows
    assert by[roles.BASELINE_AUTHORS_TEST][2]["model.test_cfg.rcnn.score_thr"] == 0.001
    assert by[roles.AUTHORS_RELEASED] == ("authors.py", False, {})
    assert by[roles.AUTHORS_INTENDED][:2] == ("authors.py", True)
    # the baseline's test-time variants run on the first seeds only; trained methods on all
    seeds = {r.role: r.seeds for r in runs}
    assert seeds[roles.BASELINE_GREEDY] == fidelity.TEST_VARIANT_SEEDS
    assert seeds[roles.BASELINE] is None and seeds[roles.PAPER_TEXT] is None
    # every pair the fidelity sentence reports compares two roles of these runs
    full = fidelity.fidelity_runs(base, "objprop.py", "authors.py", "continued.py",
                                  "from_baseline.py")
    by_full = {r.role: (r.config, r.fill, r.options) for r in full}
    assert {r for pair in fidelity.FIDELITY_PAIRS for r in pair[:2]} <= set(by_full)
    # the equal-budget control at both test settings; the preset at the baseline's settings
    # takes the baseline config's own thresholds
    assert by_full[roles.CONTINUED] == ("continued.py", True, {})
    assert by_full[roles.CONTINUED_AUTHORS_TEST][2] == fidelity.AUTHORS_TEST_OPTIONS
    back = by_full[roles.AUTHORS_BASELINE_TEST][2]
    assert back["test_results.min_frames"] == 1
    assert back["model.test_cfg.rcnn.score_thr"] > 0.001
    # the unequal comparisons say so
    unequal = [p for p in fidelity.FIDELITY_PAIRS if not p[3]]
    assert unequal and all("UNEQUAL" in p[2] for p in unequal)


def test_training_budget_follows_the_checkpoint_a_run_started_from(tmp_path):
    from objprop.studies.store import training_budget
    runs = [dict(role=roles.BASELINE, config="configs/base.py", seed=0, iters=400, batch=2,
                 checkpoint="w/base/seed0/latest.pth", load_from=None),
            dict(role=roles.CONTINUED, config="configs/cont.py", seed=0, iters=400, batch=2,
                 checkpoint="w/cont/seed0/latest.pth", load_from="w/base/seed0/latest.pth"),
            dict(role=roles.AUTHORS, config="configs/authors.py", seed=0, iters=300, batch=4,
                 checkpoint="w/auth/seed0/latest.pth", load_from="w/base/seed0/latest.pth")]
    (tmp_path / "train.json").write_text(json.dumps(dict(runs=runs)))
    base = training_budget("configs/base.py", 0, tmp_path)
    assert base["samples"] == 800 and base["start"] is None
    cont = training_budget("cont.py", 0, tmp_path)
    assert cont["samples"] == 1600 and cont["start"]["role"] == roles.BASELINE
    assert training_budget("authors.py", 0, tmp_path)["samples"] == 2000
    assert training_budget("authors.py", 1, tmp_path) is None
    assert show.budget_text(base) == "400 × 2"
    assert show.budget_text(cont) == "400 × 2 after MaskTrack R-CNN's 400 × 2"


def test_bootstrap_of_the_split_holds_the_models_fixed():
    """Perfect results score 100 on every draw; a model right on half the videos varies with
    the draw, less on larger splits; two identical runs differ by exactly 0 on every draw."""
    from tests.test_evaluation import box, gt_as_results, make_gt
    gt = make_gt([(2, 40, 60)] * 8, [dict(video=v, masks=[box(2, 2, 10, 10), box(3, 3, 10, 10)])
                                     for v in range(1, 9)])
    perfect = gt_as_results(gt)
    half = [r for r in perfect if r["video_id"] <= 4]
    rows = stats.bootstrap_ap(gt, {"perfect": perfect, "half": half}, sizes=[8, 32], draws=30)
    assert [r["videos"] for r in rows] == [8, 32]
    assert all(r["perfect"] == 100 and r["perfect_std"] == 0 for r in rows)
    assert 0 < rows[1]["half_std"] < rows[0]["half_std"]
    assert rows[0]["difference"] == pytest.approx(100 - rows[0]["half"])
    same = stats.bootstrap_ap(gt, {"a": half, "b": half}, sizes=[8], draws=10)[0]
    assert same["difference"] == 0 and same["difference_std"] == 0
    # the same seed draws the same splits
    assert stats.bootstrap_ap(gt, {"half": half}, [8], draws=5, seed=3) == \
        stats.bootstrap_ap(gt, {"half": half}, [8], draws=5, seed=3)
    text = show.split_size_sentence(rows, ("perfect", "half"), target=1.0)
    assert "32 videos: ±" in text and "The rule" not in text  # no seeds' spread: no rule
    spread = rows[0]["difference_std"]
    wide = show.split_size_sentence(rows, ("perfect", "half"), dict(std=2.1 * spread))
    narrow = show.split_size_sentence(rows, ("perfect", "half"), dict(std=1.9 * spread))
    assert "holds at its 8 videos" in wide and "does not hold at its 8 videos" in narrow


def test_score_runs_scores_every_seed_or_the_first_ones_and_reuses_a_run(tmp_path, monkeypatch):
    """A run with ``seeds=1`` is scored on the first trained seed only; the same (config, seed,
    fill, options) under another name is scored once."""
    (tmp_path / "train.json").write_text(json.dumps(dict(runs=[
        dict(config=f"configs/{c}.py", seed=s, checkpoint=f"{c}_{s}.pth")
        for s in (0, 1, 2) for c in ("base", "prop")])))
    calls = []

    def fake_score(role, config, checkpoint, *args, seed=None, **kwargs):
        calls.append((role, checkpoint))
        return dict(role=role, seed=seed, checkpoint=checkpoint)

    monkeypatch.setattr(scoring, "score_method", fake_score)
    cache = {}
    runs = [scoring.Run("a", "configs/base.py", True, {}, "all seeds"),
            scoring.Run("a_variant", "configs/base.py", True, {"x": 1}, "first seed", 1)]
    out = scoring.score_runs(runs, "data", out_dir=tmp_path, cache=cache, jobs=1)
    assert [(r["role"], r["seed"]) for r in out] == [("a", 0), ("a", 1), ("a", 2),
                                                    ("a_variant", 0)]
    again = scoring.score_runs([("b", "configs/base.py", True, {}, "same as a")], "data",
                               out_dir=tmp_path, cache=cache, jobs=1)
    assert [r["role"] for r in again] == ["b"] * 3 and len(calls) == 4


def test_roles_name_files_and_display_names_live_in_one_table(tmp_path):
    """Every role is a safe file-name part as it is, and has a display name; renaming a row
    is a change to roles.NAMES alone; score_method refuses a role that is not safe."""
    import re
    from objprop.io import safe_name
    for role, name in roles.NAMES.items():
        assert re.fullmatch(r"[a-z0-9_]+", role) and safe_name(role) == role and name
    assert len(set(roles.NAMES.values())) == len(roles.NAMES)
    with pytest.raises(ValueError, match="safe name"):
        scoring.score_method("ObjProp (no filling)", "configs/objprop_r18_fpn_toy.py", None,
                             "data/toyvis", out_dir=tmp_path)
    rows = stats.summary_rows([dict(role=roles.OBJPROP_NO_FILL, seed=0, stats=stat_dict(0.5))],
                              ["AP"], stats.percent)
    assert rows[0]["method"] == roles.NAMES[roles.OBJPROP_NO_FILL]


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


def former_bootstrap_ap(gt, runs, sizes, draws=100, seed=0):
    """The bootstrap as it was written before (objprop/report.py at ff2d3ec): every draw
    written out as a ground truth and results files of its own and scored by
    ytvis_evaluate from scratch."""
    import numpy as np
    from objprop.evaluation import ytvis_evaluate
    rng = np.random.default_rng(seed)
    videos, names = gt["videos"], list(runs)
    anns = {}
    for a in gt.get("annotations", []):
        anns.setdefault(a["video_id"], []).append(a)
    by_video = {name: {} for name in names}
    for name, results in runs.items():
        for r in results:
            by_video[name].setdefault(r["video_id"], []).append(r)
    rows = []
    for n in sizes:
        aps = {name: [] for name in names}
        for _ in range(draws):
            picks = list(enumerate(rng.integers(0, len(videos), n), 1))
            g = dict(gt, videos=[dict(videos[k], id=new) for new, k in picks], annotations=[])
            for new, k in picks:
                g["annotations"] += [dict(a, id=len(g["annotations"]) + i + 1, video_id=new)
                                     for i, a in enumerate(anns.get(videos[k]["id"], []))]
            for name in names:
                rs = [dict(r, video_id=new) for new, k in picks
                      for r in by_video[name].get(videos[k]["id"], [])]
                aps[name].append(100 * ytvis_evaluate(g, rs, per_category=False)["AP"])
        row = dict(videos=n)
        for name in names:
            row[name], row[f"{name}_std"] = float(np.mean(aps[name])), float(np.std(aps[name], ddof=1))
        if len(names) == 2:
            diff = np.array(aps[names[0]]) - np.array(aps[names[1]])
            row["difference"], row["difference_std"] = float(diff.mean()), float(diff.std(ddof=1))
        rows.append(row)
    return rows


def test_bootstrap_from_shared_ious_equals_scoring_every_draw_from_scratch():
    """Two runs with different errors on videos of different sizes and categories: the
    bootstrap that reuses each video's IoUs gives the former per-draw scoring's rows."""
    from tests.test_evaluation import box, make_gt, res
    anns = [dict(video=v, cat=1 + v % 2, masks=[box(2 + v, 2, 8, 10), box(3, 3 + v, 8, 10)])
            for v in range(1, 7)]
    gt = make_gt([(2, 40, 60)] * 6, anns)
    good = [res([box(2 + v, 2, 8, 10), box(3, 3 + v, 8, 9)], video=v, cat=1 + v % 2,
                score=0.5 + v / 20) for v in range(1, 7)]
    poor = [res([box(2 + v, 4, 8, 10), None], video=v, cat=1 + (v + (v > 3)) % 2,
                score=0.9 - v / 20) for v in range(1, 7)]
    runs = {"good": good, "poor": poor}
    assert stats.bootstrap_ap(gt, runs, [6, 12], draws=6, seed=1) == \
        former_bootstrap_ap(gt, runs, [6, 12], draws=6, seed=1)


def test_jobs_run_side_by_side_in_order_and_raise_the_first_error():
    import operator
    from objprop.studies.jobs import run_jobs
    calls = [((k, 10 * k), {}) for k in range(5)]
    assert run_jobs(operator.add, calls, jobs=2) == [11 * k for k in range(5)] == \
        run_jobs(operator.add, calls, jobs=1)
    with pytest.raises(ObjPropError, match="x.json: missing: run the x chapter first"):
        run_jobs(store.load_json, [(("x.json",), {}), (("y.json",), {})], jobs=2)
