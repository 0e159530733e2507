"""Settings from the environment, and what the serving path imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gitops_ml.errors import UserError
from gitops_ml.serve.settings import Settings


def test_settings_default_without_environment():
    assert Settings.from_env({}) == Settings()


def test_settings_read_every_variable():
    s = Settings.from_env({"GITOPS_ML_MODEL_DIR": "/srv/model", "GITOPS_ML_PORT": "9000",
                           "GITOPS_ML_WORKERS": "1", "GITOPS_ML_MAX_BODY_BYTES": "10",
                           "GITOPS_ML_MAX_ROWS": "5", "GITOPS_ML_UNKNOWN_CATEGORIES": "allow",
                           "GITOPS_ML_DRAIN_SECONDS": "1.5", "GITOPS_ML_HOST": "0.0.0.0",
                           "GITOPS_ML_ORT_THREADS": "2", "GITOPS_ML_LOG_LEVEL": "WARNING",
                           "GITOPS_ML_ACCESS_LOG": "true"})
    assert (s.model_dir, s.port, s.max_body_bytes, s.max_rows) == (
        Path("/srv/model"), 9000, 10, 5)
    assert (s.reject_unknown_categories, s.drain_seconds, s.host, s.ort_threads) == (
        False, 1.5, "0.0.0.0", 2)
    assert (s.log_level, s.access_log) == ("warning", True)


@pytest.mark.parametrize(("key", "value"), [("PORT", "http"), ("PORT", "70000"),
                                            ("MAX_ROWS", "0"), ("DRAIN_SECONDS", "-1"),
                                            ("UNKNOWN_CATEGORIES", "maybe")])
def test_settings_name_the_bad_variable(key, value):
    with pytest.raises(UserError, match=f"GITOPS_ML_{key}"):
        Settings.from_env({f"GITOPS_ML_{key}": value})


def test_settings_refuse_more_than_one_worker():
    # counters and the prediction log are per process: one per container, scaled by replicas
    with pytest.raises(UserError, match=r"GITOPS_ML_WORKERS: only 1 is supported \(got '4'\)"):
        Settings.from_env({"GITOPS_ML_WORKERS": "4"})


def test_serving_imports_no_sklearn_pandas_scipy_or_training_code():
    # (numpy itself imports the stdlib pickle module; the source check below covers pickle)
    code = ("import sys; import gitops_ml.serve.app, gitops_ml.serve.server; "
            "bad = [m for m in ('sklearn', 'pandas', 'scipy', 'joblib', 'skl2onnx', 'pyarrow', "
            "'gitops_ml.stages', 'gitops_ml.modeling', 'gitops_ml.contract', 'gitops_ml.config', "
            "'gitops_ml.monitor.drift', 'gitops_ml.monitor.check') "
            "if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_serving_source_never_imports_training_libraries():
    root = Path(__import__("gitops_ml.serve").serve.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        for name in ("sklearn", "pandas", "pickle", "joblib"):
            assert f"import {name}" not in text and f"from {name}" not in text, (path, name)
