from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gitops_ml import metrics as mx


def test_classification_metrics_exact_values_for_binary():
    y = np.array(["n", "n", "p", "p"])
    pred = np.array(["n", "p", "p", "p"])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])
    m = mx.classification_metrics(y, pred, proba, ["n", "p"])
    assert m["accuracy"] == 0.75
    assert m["precision"] == pytest.approx(2 / 3, abs=1e-6)  # of the positive class "p"
    assert m["recall"] == 1.0
    assert m["roc_auc"] == 1.0
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.7, 0.8])), abs=1e-6)


def test_classification_metrics_skip_auc_when_a_class_is_absent():
    y = np.array(["a", "a"])
    proba = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1]])
    assert "roc_auc" not in mx.classification_metrics(y, y, proba, ["a", "b", "c"])


def test_regression_metrics_exact_values():
    m = mx.regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert m == {"rmse": pytest.approx(np.sqrt(4 / 3), abs=1e-6), "mae": pytest.approx(2 / 3,
                 abs=1e-6), "r2": -1.0}


def test_confusion_counts_include_zero_cells():
    rows = mx.confusion(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert rows == [
        {"actual": "a", "predicted": "a", "count": 1},
        {"actual": "a", "predicted": "b", "count": 1},
        {"actual": "b", "predicted": "a", "count": 0},
        {"actual": "b", "predicted": "b", "count": 1},
    ]


def test_roc_points_are_capped_and_keep_the_end_points():
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b"], 2000)
    p = rng.random(2000)
    proba = np.column_stack([1 - p, p])
    rows = mx.roc_points(y, proba, ["a", "b"], points=11)
    assert len(rows) <= 11
    assert (rows[0]["fpr"], rows[0]["tpr"]) == (0.0, 0.0)
    assert (rows[-1]["fpr"], rows[-1]["tpr"]) == (1.0, 1.0)


def test_roc_points_one_curve_per_class_for_multiclass():
    y = np.array(["a", "b", "c", "a", "b", "c"])
    proba = np.eye(3)[[0, 1, 2, 0, 1, 2]] * 0.8 + 0.2 / 3
    classes = {r["class"] for r in mx.roc_points(y, proba, ["a", "b", "c"], 50)}
    assert classes == {"a", "b", "c"}


def test_slice_labels_bin_numbers_in_order_and_mark_missing():
    labels, order = mx.slice_labels(pd.Series([1.0, 2.0, 3.0, 4.0, np.nan]), bins=2)
    assert order == ["1–2.5", "2.5–4", "(missing)"]
    assert labels.tolist() == ["1–2.5", "1–2.5", "2.5–4", "2.5–4", "(missing)"]


def test_slice_metrics_per_category():
    df = pd.DataFrame({"c": ["x", "x", "y", "y"]})
    out = mx.slice_metrics(df, ["a", "b", "a", "a"], ["a", "a", "a", "a"], ("c",), 4, "binary")
    assert [(r["slice"], r["n"], r["accuracy"]) for r in out["c"]] == [("x", 2, 0.5),
                                                                      ("y", 2, 1.0)]
