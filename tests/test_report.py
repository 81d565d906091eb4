"""objprop.report: the README's results block and the fidelity rows come from results/*.json."""
import json

import pytest

from objprop import report
from objprop.errors import ObjPropError
from objprop.evaluation import STAT_NAMES


def stats(ap):
    return {k: ap for k in STAT_NAMES}


def write_results(d, base_ap=0.4, authors_ap=0.3):
    d.mkdir(parents=True, exist_ok=True)
    methods = [dict(method="MaskTrack R-CNN", stats=stats(base_ap), video_ids=[1, 2]),
               dict(method="ObjProp", stats=stats(0.45), video_ids=[1, 2])]
    fidelity = [dict(method=name, stats=stats(ap), what=what, filled_frames=n)
                for name, ap, what, n in (
                    ("MaskTrack R-CNN", base_ap, "original", 0),
                    ("MaskTrack R-CNN, authors' test settings", 0.35, "thresholds", 0),
                    ("ObjProp (authors' code, as released)", authors_ap, "release", 0),
                    ("ObjProp (authors' code, filling as intended)", 0.32, "fills", 7))]
    (d / "evaluation.json").write_text(json.dumps(dict(
        split="valid", data_root="data/toyvis", methods=methods, fidelity=fidelity)))
    (d / "train.json").write_text(json.dumps(dict(runs=[
        dict(method="MaskTrack R-CNN", iters=600, batch=2, seed=0, s_per_iter=0.5)])))


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
    assert "| MaskTrack R-CNN | 40.0 |" in text and "| ObjProp | 45.0 |" in text
    assert "600 iterations, batch 2, seed 0, 0.50 s/iteration" in text
    # the authors' release against the baseline at the same settings: 30.0 - 35.0
    assert "the same settings: -5.0 mAP" in text
    # a second run with other numbers replaces the block, it does not add one
    write_results(results, base_ap=0.2)
    report.update_readme(readme, results)
    text = readme.read_text()
    assert text.count(report.README_BEGIN) == 1 and "| MaskTrack R-CNN | 20.0 |" in text


def test_readme_without_markers_is_refused_and_left_alone(tmp_path):
    write_results(tmp_path / "results")
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(ObjPropError, match="README.md: no results markers"):
        report.update_readme(readme, tmp_path / "results")
    assert readme.read_text() == "no markers\n"


def test_fidelity_runs_isolate_tracker_thresholds_and_filling():
    runs = report.fidelity_runs("base.py", "objprop.py", "authors.py")
    by = {name: (cfg, fill, opts) for name, cfg, fill, opts, _ in runs}
    assert by["MaskTrack R-CNN, greedy tracker"] == (
        "base.py", True, {"model.test_cfg.track.rule": "greedy"})
    assert by["MaskTrack R-CNN, authors' test settings"][2]["model.test_cfg.rcnn.score_thr"] \
        == 0.001
    assert by["ObjProp (authors' code, as released)"] == ("authors.py", False, {})
    assert by["ObjProp (authors' code, filling as intended)"][:2] == ("authors.py", True)
