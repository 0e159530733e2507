from __future__ import annotations

import hashlib
import json

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest

from gitops_ml import contract as contract_mod
from gitops_ml.config import ExportConfig, ModelConfig
from gitops_ml.errors import UserError
from gitops_ml.stages.export import onnx_feeds, parity, to_onnx
from gitops_ml.stages.train import train


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n) * 10,
                       "c": rng.choice(["x", "y", "z"], n).astype(object)})
    df.loc[::9, "a"] = np.nan
    df.loc[::7, "c"] = None
    df["y"] = np.where(df["b"] + (df["c"] == "x") * 5 > 0, "hi", "lo")
    return df


@pytest.mark.parametrize("estimator", [
    "sklearn.linear_model.LogisticRegression",
    "sklearn.ensemble.RandomForestClassifier",
    "sklearn.ensemble.HistGradientBoostingClassifier",
])
def test_onnx_matches_sklearn_with_missing_values_and_categories(mixed, estimator):
    c = contract_mod.infer(mixed, "y")
    bundle = train(mixed, c, ModelConfig(estimator, {}), seed=0)
    report = parity(bundle, to_onnx(bundle), mixed, ExportConfig())
    assert report["passed"], report
    assert report["label_agreement"] == 1.0


def test_onnx_regression_parity(mixed):
    df = mixed.assign(y=mixed["b"] * 2.0 + 0.5)
    c = contract_mod.infer(df, "y")
    bundle = train(df, c, ModelConfig("sklearn.linear_model.Ridge", {}), seed=0)
    onnx_bytes = to_onnx(bundle)
    assert parity(bundle, onnx_bytes, df, ExportConfig())["passed"]
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["variable"]


def test_onnx_has_one_input_per_feature(mixed):
    c = contract_mod.infer(mixed, "y")
    bundle = train(mixed, c, ModelConfig("sklearn.linear_model.LogisticRegression", {}), seed=0)
    session = ort.InferenceSession(to_onnx(bundle), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("a", "tensor(float)"), ("b", "tensor(float)"), ("c", "tensor(string)")]
    label, proba = session.run(None, onnx_feeds(mixed.head(3), c))
    assert proba.shape == (3, 2)


def test_parity_fails_beyond_tolerance(mixed):
    c = contract_mod.infer(mixed, "y")
    bundle = train(mixed, c, ModelConfig("sklearn.ensemble.HistGradientBoostingClassifier", {}),
                   seed=0)
    report = parity(bundle, to_onnx(bundle), mixed, ExportConfig(max_abs_diff=0.0))
    assert not report["passed"] and report["max_abs_diff"] > 0


def test_unconvertible_estimator_is_named(mixed):
    c = contract_mod.infer(mixed, "y")
    bundle = train(mixed, c, ModelConfig("sklearn.semi_supervised.LabelSpreading", {}), seed=0)
    with pytest.raises(UserError, match=r"model\.estimator: skl2onnx cannot convert "
                                        r"sklearn\.semi_supervised\.LabelSpreading"):
        to_onnx(bundle)


def test_export_stage_writes_model_json_with_schema(example_project):
    project = example_project
    project.params["evaluate"]["importance_repeats"] = 0
    for stage in (project.validate, project.split, project.train, project.evaluate,
                  project.export):
        assert stage() == 0
    meta = json.loads(project.path("model.json").read_text())
    assert meta["task"] == "binary" and meta["classes"] == ["benign", "malignant"]
    assert meta["onnx"]["inputs"][:2] == ["mean_radius", "mean_texture"]
    assert meta["features"][0] == {"name": "mean_radius", "type": "number", "dtype": "float",
                                   "nullable": False, "min": 4.8681, "max": 30.2229}
    assert meta["metrics"] == json.loads(project.path("reports/metrics.json").read_text())
    # the training data's hash (taken on another thread while the model loads) is the file's
    train_bytes = project.path("train.parquet").read_bytes()
    assert meta["training_data"] == {"sha256": hashlib.sha256(train_bytes).hexdigest(),
                                     "rows": 455}
    assert meta["parity"]["passed"] is True


def test_export_stage_failing_parity_writes_no_model(example_project, capsys):
    project = example_project
    project.params["evaluate"]["importance_repeats"] = 0
    project.params["export"]["max_abs_diff"] = 0.0
    project.params["model"] = {"estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
                               "params": {"max_iter": 20}}
    for stage in (project.validate, project.split, project.train, project.evaluate):
        assert stage() == 0
    assert project.export() == 2
    assert "ONNX parity failed" in capsys.readouterr().err
    assert not project.path("model.onnx").exists() and not project.path("model.json").exists()
    assert json.loads(project.path("reports/onnx_parity.json").read_text())["passed"] is False


def test_onnx_parity_holds_for_boosted_trees_on_many_rows():
    # 20k rows put many values near split thresholds; float32 scaling used to flip branches.
    from gitops_ml.config import SyntheticConfig
    from gitops_ml.sources import make_synthetic

    df = make_synthetic(SyntheticConfig(rows=20_000, numeric=8, categorical=2), "y", 42)
    c = contract_mod.infer(df, "y")
    bundle = train(df, c, ModelConfig("sklearn.ensemble.HistGradientBoostingClassifier",
                                      {"max_iter": 50}), seed=0)
    report = parity(bundle, to_onnx(bundle), df, ExportConfig())
    assert report["passed"] and report["max_abs_diff"] < 1e-5, report


def test_onnx_export_is_byte_for_byte_reproducible(mixed):
    c = contract_mod.infer(mixed, "y")
    bundle = train(mixed, c, ModelConfig("sklearn.linear_model.LogisticRegression", {}), seed=0)
    assert to_onnx(bundle) == to_onnx(bundle)


def test_to_onnx_refuses_a_classifier_without_probabilities(mixed):
    c = contract_mod.infer(mixed, "y")
    bundle = train(mixed, c, ModelConfig("sklearn.svm.LinearSVC", {}), seed=0)
    with pytest.raises(UserError, match=r"model\.estimator: sklearn\.svm\.LinearSVC gives "
                                        r"decision scores, not class probabilities"):
        to_onnx(bundle)
