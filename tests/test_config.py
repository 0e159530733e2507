from __future__ import annotations

import pytest

from gitops_ml import config
from gitops_ml.errors import UserError


def test_data_config_requires_source():
    with pytest.raises(UserError, match=r"^data\.source: required"):
        config.DataConfig.from_params({"data": {"target": "y"}})


def test_split_config_rejects_string_test_size():
    with pytest.raises(UserError, match=r"split\.test_size: expected a number, got 'abc'"):
        config.SplitConfig.from_params({"split": {"test_size": "abc"}})


def test_split_config_rejects_test_size_out_of_range():
    with pytest.raises(UserError, match=r"split\.test_size: must be in \(0\.0, 0\.9\], got 1\.5"):
        config.SplitConfig.from_params({"split": {"test_size": 1.5}})


def test_seed_rejects_bool():
    with pytest.raises(UserError, match=r"^seed: expected an integer, got True"):
        config.seed({"seed": True})


def test_model_config_rejects_unknown_task():
    with pytest.raises(UserError, match=r"model\.task: must be one of"):
        config.ModelConfig.from_params({"model": {"estimator": "a.B", "task": "ranking"}})


def test_model_config_rejects_params_that_are_not_a_mapping():
    with pytest.raises(UserError, match=r"model\.params: expected a mapping, got \[1, 2\]"):
        config.ModelConfig.from_params({"model": {"estimator": "a.B", "params": [1, 2]}})


def test_evaluate_config_rejects_non_string_slice():
    with pytest.raises(UserError, match=r"evaluate\.slices\[1\]: expected a column name"):
        config.EvaluateConfig.from_params({"evaluate": {"slices": ["a", 3]}})


def test_synthetic_config_rejects_one_class():
    with pytest.raises(UserError, match=r"data\.synthetic\.classes: must be 0 \(regression\)"):
        config.SyntheticConfig.from_params({"classes": 1})


def test_section_that_is_not_a_mapping_is_named():
    with pytest.raises(UserError, match=r"^export: must be a mapping"):
        config.ExportConfig.from_params({"export": [1]})


def test_integer_accepted_where_a_number_is_expected():
    assert config.ExportConfig.from_params({"export": {"max_abs_diff": 1}}).max_abs_diff == 1.0
