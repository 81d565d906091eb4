"""objprop.studies.ablation: which of the authors' choices carry their preset's gain."""
import json
from pathlib import Path

import pytest

from objprop import roles
from objprop.config import load_config
from objprop.studies import ablation

PAPER, AUTHORS = roles.TOY_CONFIGS[roles.OBJPROP], roles.TOY_CONFIGS[roles.AUTHORS]


@pytest.fixture(scope="module")
def configs():
    return load_config(PAPER), load_config(AUTHORS)


def test_every_difference_between_the_two_configs_is_one_named_choice(configs):
    paper, authors = configs
    diff = ablation.config_diff(paper._cfg_dict.to_dict(), authors._cfg_dict.to_dict())
    keys = [k for c in ablation.CHOICES for k in c.keys]
    assert len(keys) == len(set(keys))                       # no key in two choices
    assert diff and not set(diff) - set(keys), sorted(set(diff) - set(keys))


def test_leaving_a_choice_out_puts_the_papers_values_back(configs):
    paper, authors = configs
    for choice in ablation.CHOICES:
        options = ablation.revert_options(choice, paper, authors)
        if choice.name == "features and stride":
            # the toy ObjProp already takes their four levels at stride 8 (the tune split
            # chose it): nothing to leave out at this size
            assert options == {}
            continue
        assert options, choice.name
        reverted = load_config(AUTHORS, cfg_options=options)
        for key in choice.keys:
            assert (ablation.config_value(reverted, key)
                    == ablation.config_value(paper, key)), (choice.name, key)
    # keys the paper's config leaves unset come from the registered class's default
    assert ablation.config_value(paper, "model.prop_head.test_spatial_sigma") is None
    assert ablation.config_value(paper, "data.train.ref_sampling") == "range"
    assert ablation.config_value(authors, "data.train.ref_sampling") == "any"


def test_ablation_command_finds_the_book_runs_retrains_and_rescores(toyvis_small, tmp_path):
    from objprop.cli import main
    from objprop.training import TrainSettings, run_dir, run_record, train_subprocesses
    work, results = tmp_path / "work", tmp_path / "results"
    base = roles.TOY_CONFIGS[roles.BASELINE]

    def settings(cfg, start=None):
        return TrainSettings(cfg, data_root=str(toyvis_small), seed=0, max_iters=1,
                             work_dir=run_dir(work, cfg, 0),
                             cfg_options={"load_from": start} if start else {})
    first = train_subprocesses({"b": settings(base)}, log=lambda line: None)["b"]
    train_subprocesses({"a": settings(AUTHORS, first["checkpoint"]),
                        "c": settings(roles.TOY_CONFIGS[roles.CONTINUED], first["checkpoint"])},
                       log=lambda line: None)
    rc = main(["book", "ablation", "--data", str(toyvis_small), "--seeds", "0",
               "--results", str(results), "--work-dir", str(work),
               "--ablation-dir", str(tmp_path / "ablation"), "--force", "--max-videos", "1",
               "--choices", "class-specific masks", "cosine matching at test",
               "features and stride"])
    assert rc in (0, None)
    out = json.loads((results / "ablation.json").read_text())
    assert set(out["gap"]) == {"authors' test settings", "baseline's test settings"}
    got = {c["name"]: c for c in out["choices"]}
    assert got["features and stride"]["contribution"] is None          # same in both configs
    for name in ("class-specific masks", "cosine matching at test"):
        c = got[name]["contribution"]
        assert c["seeds"] == [0] and c["per_seed"][0] == pytest.approx(c["mean"])
    assert {r["variant"] for r in out["rows"]} >= {"released", "control",
                                                    "class-specific masks"}
    # the retrained variant starts from the baseline's checkpoint with the choice reverted
    summary = json.loads((tmp_path / "ablation" / "class-specific_masks" /
                          "objprop_r18_fpn_authors_toy" / "seed0" /
                          "train_summary.json").read_text())
    record = run_record(summary)
    assert Path(record["load_from"]).resolve() == Path(first["checkpoint"]).resolve()
    assert summary["request"]["cfg_options"]["model.prop_head.class_specific"] is False
    # the recipe without the design: the paper's ObjProp trained here from the same
    # checkpoint, as long as the preset (the book made no such run), and scored
    recipe = json.loads((tmp_path / "ablation" / "recipe" / "objprop_r18_fpn_toy_from_baseline"
                         / "seed0" / "train_summary.json").read_text())
    assert Path(run_record(recipe)["load_from"]).resolve() == \
        Path(first["checkpoint"]).resolve()
    assert recipe["iters"] == 1
    assert set(out["recipe"]) == {"recipe", "design"}
    for key, (a, b) in (("recipe", ("paper's ObjProp from the baseline",
                                    "control at the baseline's test settings")),
                        ("design", ("released at the baseline's test settings",
                                    "paper's ObjProp from the baseline"))):
        ap = {r["variant"]: r["AP"] for r in out["rows"]}
        assert out["recipe"][key]["per_seed"][0] == pytest.approx(ap[a] - ap[b])


def test_the_page_states_the_gap_then_what_each_choice_carries():
    from objprop.present import evaluation as show
    from objprop.studies.verdict import assess_difference

    def d(diffs):
        return dict(assess_difference(diffs), seeds=list(range(len(diffs))), per_seed=diffs)
    out = dict(gap={"authors' test settings": d([2.2, 4.7, 0.8]),
                    "baseline's test settings": d([2.4, 3.1, 3.7])},
               choices=[dict(name="projected attention", when="train",
                             contribution=d([2.0, 2.5, 3.0])),
                        dict(name="cosine matching at test", when="test",
                             contribution=d([0.5, -1.0, 0.2])),
                        dict(name="features and stride", when="train", contribution=None)])
    text = show.ablation_sentence(out)
    assert "at the baseline's test settings: +3.1 mAP" in text
    assert text.endswith("lower across the whole interval: projected attention.")
    rows = show.ablation_rows(out)
    assert [r["verdict"] for r in rows] == ["carries part of the gain",
                                            "no effect these seeds can detect", ""]
    assert rows[2]["contribution_text"].startswith("same in both configs")
    assert "nothing to attribute" not in text
    none = show.ablation_sentence(dict(out, choices=[]))
    assert "no gain to attribute" in none
    assert show.recipe_sentence(out) == ""          # a file from before the recipe rows
    both = show.recipe_sentence(dict(out, recipe=dict(recipe=d([-0.5, 0.4, 0.1]),
                                                      design=d([1.0, 2.0, 1.5]))))
    assert "against the control: +0.0 mAP" in both
    assert "(their head and their filling as released, same recipe and budget): +1.5 mAP" in both


def test_options_that_replace_a_whole_part_can_be_used_again(configs):
    """mmcv pops ``_delete_`` from the options it merges: the same options, loaded twice
    (one seed after another), must replace the filler both times."""
    paper, authors = configs
    filling = next(c for c in ablation.CHOICES if c.fill)
    options = ablation.revert_options(filling, paper, authors)
    for _ in range(2):
        prop = load_config(AUTHORS, cfg_options=options).model.test_cfg.prop
        assert prop.to_dict() == paper.model.test_cfg.prop.to_dict()
