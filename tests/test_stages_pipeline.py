"""The whole pipeline, stage by stage through the CLI, customised by params.yaml alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

# A fork trains what its own params say; on a numeric target that is a regressor, so the tests
# that run the project's params pick the estimator family its task needs.
_TARGET = yaml.safe_load((Path(__file__).resolve().parents[1] / "contract.yaml").read_text())[
    "target"]
REGRESSION = _TARGET.get("categories") is None
CLASSIFIER = {"task": "auto", "estimator": "sklearn.linear_model.LogisticRegression",
              "params": {"C": 1.0, "max_iter": 2000}}


def read(project, name):
    return json.loads(project.path(name).read_text())


def test_pipeline_default_breast_cancer_is_binary(example_project):
    project = example_project
    project.run_all(infer=False)
    metrics = read(project, "reports/metrics.json")
    assert set(metrics) == {"accuracy", "balanced_accuracy", "f1_macro", "f1", "precision",
                            "recall", "roc_auc", "log_loss"}
    assert metrics["roc_auc"] > 0.95
    plots = {p.name for p in project.path("reports/plots").iterdir()}
    assert plots == {"roc.json", "precision_recall.json", "confusion.json", "calibration.json"}
    assert sum(r["count"] for r in read(project, "reports/plots/confusion.json")["confusion"]) \
        == 114
    slices = read(project, "reports/slices.json")["mean_radius"]
    assert sum(s["n"] for s in slices) == 114 and len(slices) == 4
    importance = read(project, "reports/importance.json")["importance"]
    assert len(importance) == 30
    assert importance == sorted(importance, key=lambda r: -r["importance"])


def test_pipeline_wine_is_multiclass(project):
    project.params["data"] = {"source": "sklearn:wine", "target": "cultivar"}
    project.params["model"] = CLASSIFIER
    project.params["evaluate"]["slices"] = ["alcohol"]
    project.run_all()
    meta = read(project, "model.json")
    assert meta["task"] == "multiclass" and meta["classes"] == ["class_0", "class_1", "class_2"]
    assert read(project, "reports/metrics.json")["roc_auc"] > 0.9
    roc_classes = {r["class"] for r in read(project, "reports/plots/roc.json")["roc"]}
    assert roc_classes == {"class_0", "class_1", "class_2"}


def test_pipeline_diabetes_is_regression(project):
    project.params["data"] = {"source": "sklearn:diabetes", "target": "progression"}
    project.params["model"] = {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}}
    project.params["evaluate"]["slices"] = ["sex"]
    project.run_all()
    assert set(read(project, "reports/metrics.json")) == {"rmse", "mae", "r2"}
    assert len(read(project, "reports/plots/predicted_vs_actual.json")["predicted_vs_actual"]) \
        == 89
    assert {p.name for p in project.path("reports/plots").iterdir()} == {
        "predicted_vs_actual.json"}
    assert read(project, "model.json")["classes"] is None
    assert read(project, "reports/onnx_parity.json")["passed"] is True


def test_pipeline_csv_with_categories_missing_values_and_string_labels(project, mixed_csv):
    mixed_csv(project.path("mixed.csv"))
    project.params["data"] = {"source": "mixed.csv", "target": "grade"}
    project.params["evaluate"]["slices"] = ["colour", "size"]
    project.params["model"] = {
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "params": {"n_estimators": 30, "max_depth": 6},
    }
    project.run_all()
    meta = read(project, "model.json")
    assert meta["classes"] == ["high", "low", "mid"]
    colour = next(f for f in meta["features"] if f["name"] == "colour")
    assert colour == {"name": "colour", "type": "category", "dtype": "string", "nullable": True,
                      "categories": ["blue", "green", "red"]}
    slices = {s["slice"] for s in read(project, "reports/slices.json")["colour"]}
    assert slices == {"blue", "green", "red", "(missing)"}
    assert read(project, "reports/onnx_parity.json")["label_agreement"] == 1.0


def test_pipeline_synthetic_source(project):
    project.params["data"] = {"source": "synthetic", "target": "y",
                              "synthetic": {"rows": 600, "numeric": 4, "categorical": 2}}
    project.params["model"] = CLASSIFIER
    project.params["evaluate"]["slices"] = ["cat_00"]
    project.run_all()
    assert read(project, "reports/metrics.json")["accuracy"] > 0.6


def test_pipeline_two_runs_give_identical_metrics(tmp_path, new_project):
    outputs = []
    for run in ("one", "two"):
        proj = new_project(tmp_path / run)
        forest = "Regressor" if REGRESSION else "Classifier"
        proj.params["model"] = {"estimator": f"sklearn.ensemble.RandomForest{forest}",
                                "params": {"n_estimators": 20}}
        proj.run_all()
        outputs.append([proj.path(f).read_bytes() for f in (
            "reports/metrics.json", "reports/importance.json", "reports/slices.json")])
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(("change", "stage", "message"), [
    ({"data": {"source": "data/missing.csv", "target": "y"}}, "ingest",
     "data.source: file not found"),
    ({"data": {"source": "sklearn:mnist", "target": "y"}}, "ingest",
     "data.source: unknown scikit-learn dataset 'mnist'"),
    ({"model": {"estimator": "sklearn.linear_model.Nope"}}, "train",
     "model.estimator: 'sklearn.linear_model' has no estimator class 'Nope'"),
    ({"model": {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": "high"}}},
     "train", "model.params: The 'alpha' parameter of Ridge must be") if REGRESSION else
    ({"model": {"estimator": "sklearn.linear_model.LogisticRegression",
                "params": {"C": "high"}}}, "train",
     "model.params: The 'C' parameter of LogisticRegression must be"),
    # every stage checks all of params.yaml, so the first stage already names the bad key
    ({"split": {"test_size": "a fifth"}}, "ingest", "split.test_size: expected a number"),
])
def test_pipeline_bad_params_fail_in_one_line_and_leave_no_output(new_project, tmp_path, capsys,
                                                                  change, stage, message):
    project = new_project(tmp_path)       # this project's own params (a fork's too)
    stages = ["ingest", "validate", "split", "train"]
    project.params.update(change)
    for name in stages:
        code = getattr(project, name)()
        if name == stage:
            break
        assert code == 0
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith(f"gitops-ml {stage}: error: {message}"), err
    assert len(err.splitlines()) == 1
    out = {"ingest": "raw.parquet", "split": "train.parquet", "train": "model.joblib"}[stage]
    assert not project.path(out).exists()
    assert not list(project.root.glob(".*.tmp"))


def test_pipeline_one_class_target_is_rejected(project, capsys):
    (project.path("one.csv")).write_text("a,y\n1,x\n2,x\n3,x\n")
    project.params["data"] = {"source": "one.csv", "target": "y"}
    assert project.ingest() == 0
    assert project.infer_contract() == 2
    assert "data.target: 'y' has a single class ['x']" in capsys.readouterr().err


def test_pipeline_outputs_get_the_usual_file_permissions(project):
    import os
    import stat

    assert project.ingest() == 0
    mask = os.umask(0)
    os.umask(mask)
    mode = stat.S_IMODE(project.path("raw.parquet").stat().st_mode)
    assert mode == 0o666 & ~mask


def test_pipeline_multiclass_target_with_a_level_named_none_keeps_it_as_a_class(project):
    # issue 21: a symptom graded None/Some/Marked lost its commonest class to "missing"
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    grade = np.where(x < -0.3, "None", np.where(x < 0.6, "Some", "Marked"))
    pd.DataFrame({"x": x + rng.normal(0, 0.3, 300), "grade": grade}).to_csv(
        project.path("grades.csv"), index=False)
    project.params["data"] = {"source": "grades.csv", "target": "grade"}
    project.params["model"] = {**CLASSIFIER, "task": "multiclass"}
    project.params["evaluate"]["slices"] = ["x"]
    project.run_all()
    meta = read(project, "model.json")
    assert meta["task"] == "multiclass" and meta["classes"] == ["Marked", "None", "Some"]
    assert read(project, "reports/metrics.json")["f1_macro"] > 0.5


def test_pipeline_multiclass_with_two_classes_left_after_unlabelled_rows_is_an_error(project,
                                                                                     capsys):
    (project.path("two.csv")).write_text("a,y\n1,x\n2,x\n3,z\n4,z\n5,\n")
    project.params["data"] = {"source": "two.csv", "target": "y"}
    project.params["model"]["task"] = "multiclass"
    assert project.ingest() == 0
    assert project.infer_contract() == 2
    assert ("model.task: multiclass, but target 'y' has 2 classes ['x', 'z'] in 4 labelled rows "
            "(1 unlabelled rows dropped") in capsys.readouterr().err
