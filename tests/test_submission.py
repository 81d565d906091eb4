"""A server submission: `objprop test --out X.zip` writes a zip holding results.json with the
official keys only, `objprop evaluate` reads it back, and a bad zip or result is refused."""
import copy
import json
import zipfile

import pytest

from objprop.data.ytvis import SUBMISSION_KEYS, load_ytvis, write_submission
from objprop.errors import ObjPropError
from objprop.evaluation import evaluate_files
from tests.test_bad_inputs import refused


@pytest.fixture(scope="module")
def gt_path(toyvis_small):
    return toyvis_small / "annotations" / "instances_valid.json"


@pytest.fixture()
def results(gt_path):
    """The ground truth as results, with the extra keys `objprop test` writes."""
    gt = load_ytvis(gt_path)
    return [dict(video_id=a["video_id"], category_id=a["category_id"], score=0.9,
                 segmentations=copy.deepcopy(a["segmentations"]), track_id=k,
                 filled=[k == 0] * len(a["segmentations"]))
            for k, a in enumerate(gt["annotations"])]


def test_zip_holds_official_keys_and_scores_like_the_json(gt_path, results, tmp_path):
    gt = load_ytvis(gt_path)
    zip_path, side = write_submission(results, gt, tmp_path / "sub.zip")
    with zipfile.ZipFile(zip_path) as z:
        assert z.namelist() == ["results.json"]
        inside = json.loads(z.read("results.json"))
    assert [set(r) for r in inside] == [set(SUBMISSION_KEYS)] * len(results)
    marks = json.loads(side.read_text())
    assert [m["filled"] for m in marks] == [r["filled"] for r in results]
    as_json = tmp_path / "results.json"
    as_json.write_text(json.dumps(results))
    a, b = evaluate_files(gt_path, zip_path), evaluate_files(gt_path, as_json)
    assert a["AP"] == b["AP"] == pytest.approx(1.0)
    assert a["stability"] == b["stability"]


def test_a_result_outside_the_split_writes_nothing(gt_path, results, tmp_path):
    gt = load_ytvis(gt_path)
    results[1]["video_id"] = 999
    with pytest.raises(ObjPropError, match="result 1"):
        write_submission(results, gt, tmp_path / "sub.zip")
    assert list(tmp_path.iterdir()) == []
    short = copy.deepcopy(results[:1])
    short[0]["video_id"] = gt["videos"][0]["id"]
    short[0]["segmentations"] = short[0]["segmentations"][:-1]
    short[0]["filled"] = None
    with pytest.raises(ObjPropError, match="result 0"):
        write_submission(short, gt, tmp_path / "sub.zip")
    assert list(tmp_path.iterdir()) == []


def test_evaluate_refuses_bad_zips(gt_path, results, tmp_path, capsys):
    no_member = tmp_path / "no_member.zip"
    with zipfile.ZipFile(no_member, "w") as z:
        z.writestr("submission.json", json.dumps(results))
    refused(capsys, ["evaluate", "--gt", gt_path, "--results", no_member],
            f"{no_member}: ", "must hold results.json", "submission.json")
    not_zip = tmp_path / "plain.zip"
    not_zip.write_text(json.dumps(results))
    refused(capsys, ["evaluate", "--gt", gt_path, "--results", not_zip], "not a zip file")
    bad_json = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad_json, "w") as z:
        z.writestr("results.json", "[{")
    refused(capsys, ["evaluate", "--gt", gt_path, "--results", bad_json], "not valid JSON")


def test_test_refuses_an_output_it_cannot_write(toyvis_small, tmp_path, capsys):
    out = tmp_path / "results.txt"
    refused(capsys, ["test", "--config", "configs/masktrack_rcnn_r18_fpn_toy.py",
                     "--checkpoint", tmp_path / "none.pth", "--data", toyvis_small,
                     "--out", out], "--out must end in .json", str(out))
    assert list(tmp_path.iterdir()) == []
