"""Metrics, curves, slices and feature importance of a fitted model on held-out data."""

from __future__ import annotations

from typing import Any

import numpy as np

from gitops_ml.errors import UserError

DIGITS = 6


def _r(x: float) -> float:
    return round(float(x), DIGITS)


def plain(value: Any) -> Any:
    """A numpy scalar as the plain Python value (labels in JSON and messages)."""
    return value.item() if hasattr(value, "item") else value


def encode(values: Any, classes: list[Any]) -> np.ndarray:
    """Class labels as their index in `classes` (-1 if absent).

    scikit-learn's metrics sort the labels they are given on every call; on string labels that
    cost seconds per metric at 200k rows, on integer codes almost nothing.
    """
    import pandas as pd

    # a Series as it is: its string column is hashed in Arrow, three times faster than objects
    values = values if isinstance(values, pd.Series) else np.asarray(values)
    if classes and all(isinstance(c, str) for c in classes):
        codes = _encode_strings(values, classes)
        if codes is not None:
            return codes
    # (a Categorical would do the same, but pandas deprecates one holding values not in it)
    return np.asarray(pd.Index(classes).get_indexer(values), dtype=int)


def _encode_strings(values: Any, classes: list[str]) -> np.ndarray | None:
    """`encode` for string labels, in Arrow (`index_in`): a pandas string column is passed
    without a copy, and 200k labels take 2-8 ms instead of 20-30. None if `values` are not all
    strings (missing aside), so that mixed values keep pandas' matching."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    codes = pc.index_in(array, value_set=pa.array(classes, type=array.type)).fill_null(-1)
    return np.asarray(codes.to_numpy(), dtype=int)


def default_positive_class(classes: list[Any], counts: dict[Any, int]) -> Any:
    """The class binary precision, recall, F1 and ROC AUC are about, when not configured.

    0/1 and false/true targets: 1 (true), scikit-learn's `pos_label` convention. Any other pair:
    the rarer class in the training data, the event a team models (bad credit, fraud, churn,
    malignant); on a tie, the second label in sorted order.
    """
    if {plain(c) for c in classes} <= {0, 1}:  # covers False/True too (False == 0)
        return classes[1]
    first, second = (counts.get(c, 0) for c in classes)
    return classes[0] if first < second else classes[1]


def positive_index(classes: list[Any], configured: Any, counts: dict[Any, int]) -> int:
    """Index in `classes` of the positive class: `configured` (checked), else the default."""
    if configured is None:
        return classes.index(default_positive_class(classes, counts))
    for i, c in enumerate(classes):
        label = plain(c)
        same_type = isinstance(label, bool) == isinstance(configured, bool)
        if (label == configured and same_type) or str(label) == str(configured):
            return i
    shown = ", ".join(repr(plain(c)) for c in classes)
    raise UserError(f"evaluate.positive_class: {configured!r} is not a label of the target "
                    f"(labels: {shown})")


def auc(yc: np.ndarray, scores: np.ndarray, positive: int) -> float:
    """ROC AUC from class scores (probabilities or decision values).

    Binary: of the positive class. Multiclass: the macro mean of one-vs-rest AUCs, which is what
    `roc_auc_score(multi_class="ovr")` computes but without its demand that scores sum to 1, so
    decision values work too.
    """
    from sklearn.metrics import roc_auc_score

    if scores.shape[1] == 2:
        return float(roc_auc_score(yc == positive, scores[:, positive]))
    return float(np.mean([roc_auc_score(yc == i, scores[:, i]) for i in range(scores.shape[1])]))


# Metrics that need probabilities; a model with decision scores only does not report them.
PROBABILITY_METRICS = ("log_loss", "calibration")


def classification_metrics(y: Any, pred: Any, scores: Any, classes: list[Any], *,
                           positive: int = 1, probabilistic: bool = True) -> dict[str, float]:
    """Headline metrics; binary precision/recall/F1 are of the class at index `positive`.

    `scores` holds one column per class: probabilities, or decision values when the model has no
    `predict_proba` (then log loss is not reported; it is not defined on decision values).
    """
    from sklearn import metrics as m

    yc, pc, labels = encode(y, classes), encode(pred, classes), list(range(len(classes)))
    binary = len(classes) == 2
    # per class once (each of precision_score, recall_score and f1_score computes all of it)
    precision, recall, f1, _ = m.precision_recall_fscore_support(yc, pc, labels=labels,
                                                                 zero_division=0)
    out = {
        "accuracy": m.accuracy_score(yc, pc),
        "balanced_accuracy": m.balanced_accuracy_score(yc, pc),
        # scikit-learn's averages: the positive class's value, or the unweighted mean
        "f1_macro": np.average(f1),
        "precision": precision[positive] if binary else np.average(precision),
        "recall": recall[positive] if binary else np.average(recall),
    }
    if binary:
        out["f1"] = f1[positive]
    if probabilistic:
        out["log_loss"] = m.log_loss(yc, scores, labels=labels)
    if len(np.unique(yc)) == len(classes):  # AUC is undefined when a class is absent
        out["roc_auc"] = auc(yc, np.asarray(scores), positive)
    return {k: _r(v) for k, v in out.items()}


def regression_metrics(y: Any, pred: Any) -> dict[str, float]:
    """RMSE, MAE and R²."""
    from sklearn import metrics as m

    return {
        "rmse": _r(np.sqrt(m.mean_squared_error(y, pred))),
        "mae": _r(m.mean_absolute_error(y, pred)),
        "r2": _r(m.r2_score(y, pred)),
    }


def _thin(n: int, points: int) -> np.ndarray:
    """Indices of at most `points` evenly spaced rows of `n`, first and last included."""
    if n <= points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, points).round().astype(int))


def _classes_for_curves(classes: list[Any], positive: int) -> list[tuple[int, Any]]:
    if len(classes) == 2:
        return [(positive, classes[positive])]
    return list(enumerate(classes))


def roc_points(y: Any, scores: Any, classes: list[Any], points: int,
               positive: int = 1) -> list[dict[str, Any]]:
    """ROC curve per class (one-vs-rest; only the positive class when binary)."""
    from sklearn.metrics import roc_curve

    rows = []
    yc = encode(y, classes)
    for i, cls in _classes_for_curves(classes, positive):
        if len(np.unique(yc == i)) < 2:
            continue
        fpr, tpr, _ = roc_curve(yc == i, scores[:, i])
        for j in _thin(len(fpr), points):
            rows.append({"class": str(plain(cls)), "fpr": _r(fpr[j]), "tpr": _r(tpr[j])})
    return rows


def pr_points(y: Any, scores: Any, classes: list[Any], points: int,
              positive: int = 1) -> list[dict[str, Any]]:
    """Precision-recall curve per class (one-vs-rest; only the positive class when binary)."""
    from sklearn.metrics import precision_recall_curve

    rows = []
    yc = encode(y, classes)
    for i, cls in _classes_for_curves(classes, positive):
        if not (yc == i).any():
            continue
        precision, recall, _ = precision_recall_curve(yc == i, scores[:, i])
        for j in _thin(len(recall), points)[::-1]:
            rows.append({"class": str(plain(cls)), "recall": _r(recall[j]),
                         "precision": _r(precision[j])})
    return rows


def confusion(y: Any, pred: Any, classes: list[Any]) -> list[dict[str, Any]]:
    """Counts for every (actual, predicted) pair, zeros included."""
    from sklearn.metrics import confusion_matrix

    k = list(range(len(classes)))
    matrix = confusion_matrix(encode(y, classes), encode(pred, classes), labels=k)
    return [{"actual": str(plain(a)), "predicted": str(plain(p)), "count": int(matrix[i, j])}
            for i, a in enumerate(classes) for j, p in enumerate(classes)]


def calibration(y: Any, proba: Any, classes: list[Any], bins: int = 10,
                positive: int = 1) -> list[dict[str, Any]]:
    """Reliability curve per class: mean predicted probability vs observed frequency."""
    rows = []
    yc = encode(y, classes)
    edges = np.linspace(0, 1, bins + 1)
    for i, cls in _classes_for_curves(classes, positive):
        p = proba[:, i]
        which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
        for b in range(bins):
            mask = which == b
            if mask.any():
                rows.append({"class": str(plain(cls)), "mean_predicted": _r(p[mask].mean()),
                             "fraction_positive": _r((yc[mask] == i).mean()),
                             "count": int(mask.sum())})
    return rows


def regression_points(y: Any, pred: Any, points: int, seed: int) -> list[dict[str, Any]]:
    """Predicted vs actual (and the residual) for at most `points` rows, seeded sample."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    idx = np.arange(len(y))
    if len(y) > points:
        idx = np.sort(np.random.default_rng(seed).choice(len(y), points, replace=False))
    return [{"actual": _r(y[i]), "predicted": _r(pred[i]), "residual": _r(y[i] - pred[i])}
            for i in idx]


MISSING_SLICE = "(missing)"


def slice_labels(column: Any, bins: int) -> tuple[np.ndarray, list[str]]:
    """Slice name for each row, and the slices in display order.

    Categories are slices as they are; numbers fall into quantile bins, listed low to high.
    """
    import pandas as pd

    column = column.reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(column) and column.nunique() > bins:
        codes, edges = pd.qcut(column, q=bins, duplicates="drop", labels=False, retbins=True)
        names = [f"{lo:.4g}–{hi:.4g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
        table = np.array([*names, MISSING_SLICE], dtype=object)
        labels = table[codes.fillna(len(names)).astype(int).to_numpy()]
        order = names
    else:
        labels = column.astype(str).where(column.notna(), MISSING_SLICE).to_numpy(dtype=object)
        order = sorted(set(labels) - {MISSING_SLICE})
    if (labels == MISSING_SLICE).any():
        order = [*order, MISSING_SLICE]
    return labels, order


def slice_metrics(df: Any, y: Any, pred: Any, columns: tuple[str, ...], bins: int,
                  task: str) -> dict[str, list[dict[str, Any]]]:
    """Per-slice row counts and metrics for each column in `columns`."""
    import pandas as pd
    from sklearn import metrics as m

    y, pred = np.asarray(y), np.asarray(pred)
    if task != "regression":  # shared integer codes: see `encode`
        codes, _ = pd.factorize(np.concatenate([y, pred]))
        y, pred = codes[:len(y)], codes[len(y):]
    out: dict[str, list[dict[str, Any]]] = {}
    for col in columns:
        labels, order = slice_labels(df[col], bins)
        # each slice's rows by an integer code: comparing 200k strings took 5 ms a slice
        codes, names = pd.factorize(labels)
        code_of = {name: i for i, name in enumerate(names)}
        rows = []
        for name in order:
            mask = codes == code_of.get(name, -2)
            row: dict[str, Any] = {"slice": str(name), "n": int(mask.sum())}
            if task == "regression":
                row["rmse"] = _r(np.sqrt(m.mean_squared_error(y[mask], pred[mask])))
                row["mae"] = _r(m.mean_absolute_error(y[mask], pred[mask]))
            else:
                row["accuracy"] = _r(m.accuracy_score(y[mask], pred[mask]))
                row["f1_macro"] = _r(m.f1_score(y[mask], pred[mask], average="macro",
                                                zero_division=0))
            rows.append(row)
        out[col] = rows
    return out


def _class_scorer(classes: list[Any], all_present: bool, positive: int) -> Any:
    """A scorer(estimator, X, y_codes): ROC AUC (one-vs-rest), or accuracy if a class is absent."""
    from gitops_ml.modeling import class_scores

    def score(estimator: Any, X: Any, y: np.ndarray) -> float:
        if not all_present:
            return float((encode(estimator.predict(X), classes) == y).mean())
        return auc(y, class_scores(estimator, X, classes)[0], positive)

    return score


def permutation_importance(pipeline: Any, X: Any, y: Any, task: str, repeats: int,
                           max_rows: int, seed: int, positive: int = 1) -> list[dict[str, Any]]:
    """Drop in score when each input column is shuffled, on at most `max_rows` rows."""
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    if repeats == 0:
        return []
    if len(X) > max_rows:
        idx = np.sort(np.random.default_rng(seed).choice(len(X), max_rows, replace=False))
        X, y = X.iloc[idx], np.asarray(y)[idx]
    scoring: Any = "r2"
    if task != "regression":  # AUC (accuracy when a class is absent) on integer codes
        classes = list(pipeline.classes_)
        y = encode(y, classes)
        scoring = _class_scorer(classes, len(np.unique(y)) == len(classes), positive)
    result = sk_permutation_importance(pipeline, X, y, scoring=scoring, n_repeats=repeats,
                                       random_state=seed, n_jobs=1)
    rows = [{"feature": str(f), "importance": _r(mean), "std": _r(std)}
            for f, mean, std in zip(X.columns, result.importances_mean, result.importances_std,
                                    strict=True)]
    return sorted(rows, key=lambda r: (-r["importance"], r["feature"]))
