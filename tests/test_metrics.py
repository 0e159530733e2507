from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gitops_ml import metrics as mx
from gitops_ml.errors import UserError


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


def test_default_positive_class_is_the_rarer_class_for_string_labels():
    # a credit table: "good" sorts second, but "bad" is the event a team scores
    assert mx.default_positive_class(["bad", "good"], {"good": 3200, "bad": 1254}) == "bad"
    assert mx.default_positive_class(["benign", "malignant"],
                                     {"benign": 357, "malignant": 212}) == "malignant"


def test_default_positive_class_is_one_for_zero_one_and_true_for_booleans():
    assert mx.default_positive_class([0, 1], {0: 10, 1: 90}) == 1
    assert mx.default_positive_class([False, True], {False: 10, True: 90}) is True


def test_default_positive_class_on_a_tie_is_the_second_label():
    assert mx.default_positive_class(["no", "yes"], {"no": 5, "yes": 5}) == "yes"


def test_positive_index_uses_the_configured_class():
    assert mx.positive_index(["bad", "good"], "good", {"bad": 1, "good": 9}) == 1
    assert mx.positive_index(["bad", "good"], None, {"bad": 1, "good": 9}) == 0
    # YAML `positive_class: 1` for labels read as strings "0"/"1", and the reverse
    assert mx.positive_index(["0", "1"], 1, {}) == 1
    assert mx.positive_index([0, 1], "0", {}) == 0


def test_positive_index_rejects_a_class_that_is_not_a_label():
    with pytest.raises(UserError) as exc:
        mx.positive_index(["bad", "good"], "Bad", {})
    assert str(exc.value) == ("evaluate.positive_class: 'Bad' is not a label of the target "
                              "(labels: 'bad', 'good')")


def test_classification_metrics_precision_recall_f1_follow_the_positive_class():
    y = np.array(["bad", "bad", "good", "good", "good", "good"])
    pred = np.array(["bad", "good", "good", "good", "good", "bad"])
    proba = np.array([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8], [0.1, 0.9], [0.6, 0.4]])
    bad = mx.classification_metrics(y, pred, proba, ["bad", "good"], positive=0)
    good = mx.classification_metrics(y, pred, proba, ["bad", "good"], positive=1)
    # "bad": 1 of 2 predicted bad is bad, 1 of 2 bad found; "good": 3 of 4 and 3 of 4
    assert (bad["precision"], bad["recall"], bad["f1"]) == (0.5, 0.5, 0.5)
    assert (good["precision"], good["recall"], good["f1"]) == (0.75, 0.75, 0.75)
    assert bad["roc_auc"] == good["roc_auc"] == 0.875  # 7 of 8 (good, bad) pairs ordered
    assert bad["accuracy"] == good["accuracy"] == pytest.approx(4 / 6, abs=1e-6)


def test_classification_metrics_on_decision_scores_leave_out_log_loss():
    y = np.array(["n", "n", "p", "p"])
    scores = np.array([[2.0, -2.0], [0.5, -0.5], [-0.1, 0.1], [-3.0, 3.0]])
    m = mx.classification_metrics(y, np.array(["n", "n", "p", "p"]), scores, ["n", "p"],
                                  probabilistic=False)
    assert "log_loss" not in m
    assert m["roc_auc"] == 1.0 and m["accuracy"] == 1.0
    assert all(np.isfinite(v) for v in m.values())


def test_auc_multiclass_equals_scikit_learn_ovr_on_probabilities_and_works_on_raw_scores():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    yc = rng.integers(0, 3, 300)
    raw = rng.normal(size=(300, 3)) + np.eye(3)[yc]
    proba = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    assert mx.auc(yc, proba, 1) == pytest.approx(roc_auc_score(yc, proba, multi_class="ovr"),
                                                 abs=1e-12)
    with pytest.raises(ValueError):  # what scikit-learn says to decision values
        roc_auc_score(yc, raw, multi_class="ovr")
    expected = np.mean([roc_auc_score(yc == i, raw[:, i]) for i in range(3)])
    assert mx.auc(yc, raw, 1) == pytest.approx(expected, abs=1e-12)


def test_curves_of_a_binary_task_are_drawn_for_the_positive_class():
    y = np.array(["bad", "good", "good", "bad"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    assert {r["class"] for r in mx.roc_points(y, proba, ["bad", "good"], 10, positive=0)} \
        == {"bad"}
    assert {r["class"] for r in mx.pr_points(y, proba, ["bad", "good"], 10, positive=0)} \
        == {"bad"}
    assert {r["class"] for r in mx.calibration(y, proba, ["bad", "good"], positive=0)} == {"bad"}


@pytest.mark.parametrize("seed", range(12))
def test_classification_metrics_equal_scikit_learns_own_scores(seed):
    # precision, recall and F1 come from one per-class pass; they must be what scikit-learn's
    # precision_score, recall_score and f1_score give, absent classes and empty divisions too
    from sklearn import metrics as m

    rng = np.random.default_rng(seed)
    n_classes = 2 + seed % 3
    classes = [f"c{i}" for i in range(n_classes)]
    n = int(rng.integers(5, 400))
    seen = classes[:n_classes - 1] if seed % 4 == 3 else classes   # a class never predicted
    y = rng.choice(classes, n)
    pred = rng.choice(seen, n)
    scores = rng.dirichlet(np.ones(n_classes), n)
    positive = int(rng.integers(0, n_classes)) if n_classes == 2 else 1
    got = mx.classification_metrics(y, pred, scores, classes, positive=positive)
    labels = list(range(n_classes))
    yc, pc = mx.encode(y, classes), mx.encode(pred, classes)
    avg = {"average": "binary", "pos_label": positive} if n_classes == 2 else \
        {"average": "macro", "labels": labels}
    expected = {
        "f1_macro": m.f1_score(yc, pc, average="macro", labels=labels, zero_division=0),
        "precision": m.precision_score(yc, pc, zero_division=0, **avg),
        "recall": m.recall_score(yc, pc, zero_division=0, **avg),
    }
    if n_classes == 2:
        expected["f1"] = m.f1_score(yc, pc, zero_division=0, **avg)
    assert {k: got[k] for k in expected} == {k: mx._r(v) for k, v in expected.items()}


@pytest.mark.parametrize("values", [
    pd.Series(["b", None, "a", "zz", "b"], dtype="str"),
    pd.Series(["b", None, "a", "zz", "b"], dtype=object),
    np.array(["b", np.nan, "a", "zz", "b"], dtype=object),
    np.array(["b", "a", "zz"]),
    ["b", 1, "a"],          # not all strings: pandas' matching
])
def test_encode_string_labels_gives_indexes_and_minus_one_for_missing_or_unknown(values):
    expected = [list(("a", "b")).index(v) if v in ("a", "b") else -1 for v in list(values)]
    codes = mx.encode(values, ["a", "b"])
    assert codes.dtype == np.int64 and codes.tolist() == expected


def test_encode_keeps_pandas_matching_for_labels_that_are_not_strings():
    assert mx.encode(np.array([1.0, 0.0, 2.0]), [0, 1]).tolist() == [1, 0, -1]
    assert mx.encode([True, False, None], [False, True]).tolist() == [1, 0, -1]
