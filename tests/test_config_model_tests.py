"""The model_tests stage's settings in params.yaml: evaluate.protected & co., robustness."""

from __future__ import annotations

import pytest

from gitops_ml import config
from gitops_ml.errors import UserError


def test_fairness_settings_default_to_nothing_protected():
    cfg = config.FairnessConfig.from_params({})
    assert (cfg.protected, cfg.positive_class, cfg.min_group_size) == ((), None, 30)


def test_fairness_settings_read_columns_and_class():
    cfg = config.FairnessConfig.from_params({"evaluate": {
        "protected": ["sex", "age_band"], "positive_class": 1, "min_group_size": 50}})
    assert (cfg.protected, cfg.positive_class, cfg.min_group_size) == (("sex", "age_band"),
                                                                       "1", 50)


def test_robustness_settings_have_defaults():
    cfg = config.RobustnessConfig.from_params({})
    assert (cfg.noise, cfg.category_swap, cfg.repeats, cfg.value_tolerance) == (0.05, 0.1, 3, 0.1)


@pytest.mark.parametrize(("params", "message"), [
    ({"evaluate": {"protected": "sex"}}, "evaluate.protected: expected a list"),
    ({"evaluate": {"protected": ["sex", 3]}}, "evaluate.protected[1]: expected a column name"),
    ({"evaluate": {"protected": ["sex", "sex"]}}, "evaluate.protected: lists a column twice"),
    ({"evaluate": {"min_group_size": 0}}, "evaluate.min_group_size: must be in [1, "),
    ({"robustness": {"noise": -0.1}}, "robustness.noise: must be in [0.0, 10.0]"),
    ({"robustness": {"category_swap": 2}}, "robustness.category_swap: must be in [0.0, 1.0]"),
    ({"robustness": {"repeats": 1.5}}, "robustness.repeats: expected an integer"),
    ({"robustness": {"nosie": 0.1}}, "robustness.nosie: unknown setting"),
])
def test_bad_settings_name_the_key(params, message):
    with pytest.raises(UserError) as info:
        config.FairnessConfig.from_params(params)
        config.RobustnessConfig.from_params(params)
    assert str(info.value).startswith(message)
