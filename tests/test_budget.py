"""objprop.studies.budget: the budget curve, its plateau rule, and `objprop book budget` end
to end at a tiny size."""
import json

import pytest

from objprop import roles
from objprop.present import evaluation as show
from objprop.studies import budget


def rows(curves):
    """Budget rows from {role: {multiple: [AP per seed]}}."""
    out = []
    for role, by_k in curves.items():
        for k, aps in by_k.items():
            for seed, ap in enumerate(aps):
                out.append(dict(role=role, multiple=k, iters=400 * k, seed=seed, AP=ap))
    return out


def test_plateau_is_the_first_doubling_that_moves_less_than_the_seed_spread():
    points = budget.curve(rows({roles.BASELINE: {1: [37.0, 39.0], 2: [45.0, 47.0],
                                                 4: [48.0, 50.0], 8: [48.5, 49.5]},
                                roles.OBJPROP: {1: [38.0, 40.5], 2: [45.5, 47.0],
                                                4: [49.0, 50.0], 8: [49.0, 50.5]}}))
    p = budget.plateau(points)
    # 1 -> 2: +8 against ± 1.41; 2 -> 4: +3; 4 -> 8: +0 against ± 1.41: flat at 4x
    assert [round(s["moved"], 1) for s in p["steps"]] == [8.0, 3.0, 0.0]
    assert p["length"] == 4 and [s["flat"] for s in p["steps"]] == [False, False, True]
    gain = next(q for q in points if q["role"] == roles.OBJPROP and q["multiple"] == 1)
    assert gain["gain"] == pytest.approx(1.25)          # paired by seed: +1.0, +1.5
    assert gain["gain_low"] < gain["gain"] < gain["gain_high"]
    text = show.budget_sentence(dict(plateau=p, base_iters=400, multiples=[1, 2, 4, 8]))
    assert "flattens at 1600 iterations" in text and "4x short of it" in text
    with_gains = show.budget_sentence(dict(plateau=p, base_iters=400, multiples=[1, 2, 4, 8],
                                           points=points))
    assert with_gains.startswith(text) and "400 it +1.2 [" in with_gains
    assert with_gains[len(text):].count(" it ") == 4   # ObjProp at each length, once
    # the authors' preset at k x trains on top of the baseline's k x: paired with 2k x
    preset = budget.curve(rows({roles.BASELINE: {1: [37.0, 39.0], 2: [45.0, 47.0],
                                                 4: [48.0, 50.0]},
                                roles.AUTHORS: {1: [44.0, 47.0], 2: [49.0, 51.0],
                                                4: [52.0, 53.0]}}))
    by_k = {q["multiple"]: q for q in preset if q["role"] == roles.AUTHORS}
    assert by_k[1]["gain"] == pytest.approx(-0.5) and by_k[1]["gain_vs_iters"] == 800
    assert by_k[2]["gain"] == pytest.approx(1.0) and by_k[2]["gain_vs_iters"] == 1600
    assert "gain" not in by_k[4]                       # no baseline at 8x in this curve
    assert by_k[4]["gain_vs_iters"] == 3200
    texts = {r["multiple"]: r["gain_text"] for r in show.budget_rows(dict(points=preset))
             if r["role"] == roles.AUTHORS}
    assert texts[1].startswith("-0.5 [") and "against its 800 iterations" in texts[1]
    assert texts[4] == "— (no baseline run of 3200 iterations)"
    still = budget.plateau(budget.curve(rows({roles.BASELINE: {1: [30.0, 31.0],
                                                               2: [40.0, 41.0]}})))
    assert still["length"] is None
    assert "has not flattened" in show.budget_sentence(
        dict(plateau=still, base_iters=400, multiples=[1, 2]))


def test_budget_command_trains_scores_and_writes_the_curve(toyvis_small, tmp_path):
    from objprop.cli import main
    results, work = tmp_path / "results", tmp_path / "work"
    rc = main(["book", "budget", "--data", str(toyvis_small), "--seeds", "0",
               "--multiples", "1", "2", "--methods", "baseline", "objprop", "authors",
               "--results", str(results), "--work-dir", str(work), "--base-iters", "1",
               "--max-videos", "1"])
    assert rc in (0, None)
    out = json.loads((results / "budget.json").read_text())
    got = {(r["role"], r["multiple"]): r for r in out["rows"]}
    assert set(got) == {(r, k) for r in ("baseline", "objprop", "authors") for k in (1, 2)}
    assert got["baseline", 2]["iters"] == 2 and got["objprop", 1]["iters"] == 1
    # the authors' preset at k x starts from the baseline trained at k x, as in the book
    from objprop.training import run_record
    summary = json.loads((work / "objprop_r18_fpn_authors_toy" / "x2" / "seed0" /
                          "train_summary.json").read_text())
    assert run_record(summary)["load_from"] == got["baseline", 2]["checkpoint"]
    assert "branch_iou_easy" in got["objprop", 1] and "branch_iou_easy" not in got["baseline", 1]
    assert out["split"] == "tune" and out["plateau"]["role"] == "baseline"
    assert len(show.budget_rows(out)) == 6
