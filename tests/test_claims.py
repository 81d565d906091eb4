"""objprop.present.claims: each verdict follows from results/*.json by the stated rule."""
import json

import pytest

from objprop import roles
from objprop.present import claims
from objprop.errors import ObjPropError
from objprop.evaluation import STAT_NAMES


def run(role, seed, ap, hard_recall=0.3, missed=0.1, flicker=1.0, frag=2.0, seconds=10.0):
    stability = dict(recall_hard_frames=hard_recall, missed_frames=missed, flicker=flicker,
                     fragmentation=frag)
    # the stability claim reads the confident results' metrics: make them differ
    confident = {k: v + 1.0 for k, v in stability.items()}
    return dict(role=role, seed=seed, stats={k: ap for k in STAT_NAMES},
                stability=stability, stability_at_score=confident,
                inference_seconds=seconds, frames=100, filled_frames=0)


def write(d, methods, oracle=None):
    d.mkdir(parents=True, exist_ok=True)
    (d / "evaluation.json").write_text(json.dumps(dict(methods=methods)))
    if oracle:
        (d / "oracle.json").write_text(json.dumps(oracle))
    return d


def by_claim(rows, word):
    return next(r for r in rows if word in r["claim"])


def test_a_clear_gain_over_three_seeds_is_reproduced_and_noise_is_not(tmp_path):
    clear = [run(roles.BASELINE, s, ap) for s, ap in enumerate((0.40, 0.41, 0.39))] + \
            [run(roles.OBJPROP, s, ap, seconds=11.0) for s, ap in enumerate((0.46, 0.47, 0.45))]
    rows = claims.assess(write(tmp_path / "a", clear))
    gain = by_claim(rows, "outperforms")
    assert gain["verdict"] == "reproduced" and gain["seeds"] == 3
    assert "+6.0 ± 0.0 mAP" in gain["evidence"]
    assert by_claim(rows, "overhead")["verdict"] == "reproduced"  # 1.10x
    noisy = [run(roles.BASELINE, s, ap) for s, ap in enumerate((0.40, 0.45, 0.35))] + \
            [run(roles.OBJPROP, s, ap, seconds=20.0) for s, ap in enumerate((0.47, 0.40, 0.44))]
    rows = claims.assess(write(tmp_path / "b", noisy))
    assert by_claim(rows, "outperforms")["verdict"] == "partly reproduced"
    assert by_claim(rows, "overhead")["verdict"] == "not reproduced"  # 2.00x
    worse = [dict(r, role={roles.OBJPROP: roles.BASELINE, roles.BASELINE: roles.OBJPROP}
                  [r["role"]]) for r in clear]
    assert by_claim(claims.assess(write(tmp_path / "c", worse)),
                    "outperforms")["verdict"] == "not reproduced"
    one_seed = clear[:1] + clear[3:4]
    assert by_claim(claims.assess(write(tmp_path / "d", one_seed)),
                    "outperforms")["verdict"] == "partly reproduced"


def test_stability_and_filling_use_their_own_directions(tmp_path):
    methods = [run(roles.BASELINE, s, 0.4, missed=0.2, flicker=2.0, frag=3.0)
               for s in range(3)] + \
              [run(roles.OBJPROP, s, 0.4, missed=0.1 + s / 100, flicker=1.0, frag=3.5,
                   hard_recall=0.5 + s / 100) for s in range(3)] + \
              [run(roles.OBJPROP_NO_FILL, s, 0.4, hard_recall=0.3) for s in range(3)]
    rows = claims.assess(write(tmp_path, methods))
    stab = by_claim(rows, "stable")
    # fewer missed frames and less flicker (lower is better), more fragmentation
    assert "missed frames 1.200 → 1.110 (reproduced)" in stab["evidence"]
    assert "fragmentation 4.000 → 4.500 (not reproduced)" in stab["evidence"]
    assert stab["evidence"].startswith("results scoring ≥ 0.5:")
    assert stab["verdict"] == "partly reproduced"
    fill = by_claim(rows, "Filling")
    assert fill["verdict"] == "reproduced" and "+21.0 ± 1.0 points" in fill["evidence"]


def test_oracle_claim_needs_the_mask_oracle_to_add_most(tmp_path):
    def table(gains):
        rows, ap, oracles = [dict(oracles=[], AP=40.0, gain=None)], 40.0, []
        for name, g in gains:
            oracles = oracles + [name]
            ap += g
            rows.append(dict(oracles=list(oracles), AP=ap, gain=g))
        return dict(rows=rows)
    methods = [run(roles.BASELINE, 0, 0.4), run(roles.OBJPROP, 0, 0.45)]
    masks_most = table([("box", 1.0), ("class", 7.0), ("mask", 40.0), ("track", 2.0)])
    rows = claims.assess(write(tmp_path / "a", methods, masks_most))
    assert by_claim(rows, "Masks")["verdict"] == "reproduced"
    class_most = table([("box", 1.0), ("class", 30.0), ("mask", 10.0), ("track", 2.0)])
    rows = claims.assess(write(tmp_path / "b", methods, class_most))
    assert by_claim(rows, "Masks")["verdict"] == "not reproduced"
    assert all(r["verdict"] in claims.VERDICTS for r in rows)
    assert by_claim(rows, "36.0")["verdict"] == "untestable here"


def test_claims_need_the_evaluation_results(tmp_path):
    with pytest.raises(ObjPropError, match="run the evaluation chapter first"):
        claims.require_results(tmp_path)
