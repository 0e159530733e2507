"""Settings from the environment, the validator on its own, and the serving path's imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gitops_ml.errors import UserError
from gitops_ml.serve.model import Feature
from gitops_ml.serve.settings import Settings
from gitops_ml.serve.validation import InvalidInput, Validator

FEATURES = (Feature("x", "number", "float", nullable=False),
            Feature("y", "number", "float", nullable=True),
            Feature("c", "category", "string", nullable=True, categories=("a", "b")))


def test_settings_default_without_environment():
    assert Settings.from_env({}) == Settings()


def test_settings_read_every_variable():
    s = Settings.from_env({"GITOPS_ML_MODEL_DIR": "/srv/model", "GITOPS_ML_PORT": "9000",
                           "GITOPS_ML_WORKERS": "2", "GITOPS_ML_MAX_BODY_BYTES": "10",
                           "GITOPS_ML_MAX_ROWS": "5", "GITOPS_ML_UNKNOWN_CATEGORIES": "allow",
                           "GITOPS_ML_DRAIN_SECONDS": "1.5", "GITOPS_ML_HOST": "0.0.0.0",
                           "GITOPS_ML_ORT_THREADS": "2", "GITOPS_ML_LOG_LEVEL": "WARNING",
                           "GITOPS_ML_ACCESS_LOG": "true"})
    assert (s.model_dir, s.port, s.workers, s.max_body_bytes, s.max_rows) == (
        Path("/srv/model"), 9000, 2, 10, 5)
    assert (s.reject_unknown_categories, s.drain_seconds, s.host, s.ort_threads) == (
        False, 1.5, "0.0.0.0", 2)
    assert (s.log_level, s.access_log) == ("warning", True)


@pytest.mark.parametrize(("key", "value"), [("PORT", "http"), ("PORT", "70000"),
                                            ("MAX_ROWS", "0"), ("DRAIN_SECONDS", "-1"),
                                            ("UNKNOWN_CATEGORIES", "maybe")])
def test_settings_name_the_bad_variable(key, value):
    with pytest.raises(UserError, match=f"GITOPS_ML_{key}"):
        Settings.from_env({f"GITOPS_ML_{key}": value})


def test_validator_builds_float32_and_string_columns():
    v = Validator(FEATURES, reject_unknown_categories=True)
    feeds, n = v.records([{"x": 1, "y": None, "c": "a"}, {"x": 2.5, "c": None}], 10)
    assert n == 2
    assert feeds["x"].dtype == np.float32 and feeds["x"].shape == (2, 1)
    assert feeds["x"].ravel().tolist() == [1.0, 2.5]
    assert np.isnan(feeds["y"]).all()
    assert feeds["c"].ravel().tolist() == ["a", ""]


def test_validator_treats_nan_as_missing_in_columns():
    v = Validator(FEATURES, reject_unknown_categories=True)
    with pytest.raises(InvalidInput) as info:
        v.columns({"x": [1.0, float("nan")], "y": [float("nan"), 1.0], "c": ["a", "b"]}, 2,
                  row_offset=100)
    assert [p.to_dict() for p in info.value.problems] == [
        {"row": 101, "field": "x", "error": "missing"}]


def test_validator_rejects_an_integer_beyond_float_range():
    v = Validator(FEATURES, reject_unknown_categories=True)
    with pytest.raises(InvalidInput) as info:
        v.records([{"x": 10**400, "c": "a"}], 10)
    assert info.value.problems[0].error == "number out of range"


def test_validator_caps_the_error_body():
    v = Validator(FEATURES, reject_unknown_categories=True)
    with pytest.raises(InvalidInput) as info:
        v.records([{"x": "bad", "c": "a"}] * 150, 1000)
    body = info.value.body()
    assert len(body["errors"]) == 100 and body["errors_truncated"] == 50


def test_serving_imports_no_sklearn_pandas_or_scipy():
    # (numpy itself imports the stdlib pickle module; the source check below covers pickle)
    code = ("import sys; import gitops_ml.serve.app, gitops_ml.serve.server; "
            "bad = [m for m in ('sklearn', 'pandas', 'scipy', 'joblib') "
            "if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_serving_source_never_imports_training_libraries():
    root = Path(__import__("gitops_ml.serve").serve.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        for name in ("sklearn", "pandas", "pickle", "joblib"):
            assert f"import {name}" not in text and f"from {name}" not in text, (path, name)
