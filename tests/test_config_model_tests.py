"""The model_tests stage's settings in params.yaml: evaluate.protected & co., robustness, gates."""

from __future__ import annotations

import copy

import pytest
import yaml

from gitops_ml import config
from gitops_ml.errors import UserError

BASE = {"data": {"source": "sklearn:breast_cancer", "target": "diagnosis"},
        "model": {"estimator": "sklearn.linear_model.LogisticRegression"}}


def parse(**sections) -> config.Params:
    params = copy.deepcopy(BASE)
    for name, section in sections.items():
        params[name] = {**params.get(name, {}), **section}
    return config.parse(params)


def test_defaults_protect_nothing_and_perturb_lightly():
    p = parse()
    assert (p.evaluate.protected, p.evaluate.min_group_size) == ((), 30)
    r = p.robustness
    assert (r.noise, r.category_swap, r.repeats, r.value_tolerance) == (0.05, 0.1, 3, 0.1)
    assert (p.gates.model_tests, p.gates.max_flip_rate, p.gates.fairness) == (False, None, ())


def test_settings_are_read():
    p = parse(evaluate={"protected": ["sex", "age_band"], "min_group_size": 50},
              robustness={"repeats": 0},
              gates={"model_tests": True, "max_flip_rate": 0.02,
                     "fairness": [{"column": "sex", "metric": "equalized_odds_difference",
                                   "max": 0.1}]})
    assert p.evaluate.protected == ("sex", "age_band") and p.evaluate.min_group_size == 50
    assert p.robustness.repeats == 0 and p.gates.max_flip_rate == 0.02
    assert p.gates.fairness[0].column == "sex" and p.gates.fairness[0].max == 0.1


@pytest.mark.parametrize(("sections", "message"), [
    ({"evaluate": {"protected": "sex"}}, "evaluate.protected: expected a list"),
    ({"evaluate": {"protected": ["sex", 3]}}, "evaluate.protected[1]: expected a string"),
    ({"evaluate": {"protected": ["sex", "sex"]}}, "evaluate.protected: lists 'sex' twice"),
    ({"evaluate": {"protected": ["diagnosis"]}},
     "evaluate.protected: 'diagnosis' is the target, not a group column"),
    ({"evaluate": {"min_group_size": 0}}, "evaluate.min_group_size: must be in [1, "),
    ({"robustness": {"noise": -0.1}}, "robustness.noise: must be in [0.0, 10.0]"),
    ({"robustness": {"category_swap": 2.0}}, "robustness.category_swap: must be in [0.0, 1.0]"),
    ({"robustness": {"repeats": 1.5}}, "robustness.repeats: expected an integer"),
    ({"robustness": {"nosie": 0.1}}, "robustness.nosie: unknown key; did you mean "
                                     "robustness.noise?"),
    ({"gates": {"max_flip_rate": 2.0}}, "gates.max_flip_rate: must be in [0.0, 1.0]"),
    ({"gates": {"fairness": [{"column": "sex", "metric": "equalized_odds_difference",
                              "mx": 0.1}]}},
     "gates.fairness[0].mx: unknown key; did you mean gates.fairness[0].max?"),
])
def test_bad_settings_name_the_key_in_one_line(sections, message):
    with pytest.raises(UserError) as info:
        parse(**sections)
    assert str(info.value).startswith(message), str(info.value)


def test_the_committed_params_declare_every_key_the_stage_lists():
    # dvc.yaml lists evaluate.positive_class & co. for stage model_tests; DVC refuses a listed
    # param that params.yaml lacks, so they must be present, even when null.
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    params = yaml.safe_load((root / "params.yaml").read_text())
    stage = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]["model_tests"]
    for key in stage["params"]:
        node = params
        for part in key.split("."):
            assert part in node, key
            node = node[part]
