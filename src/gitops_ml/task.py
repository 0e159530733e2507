"""Deciding whether the target makes this a binary, multiclass or regression problem."""

from __future__ import annotations

from typing import Any

from gitops_ml.errors import UserError

# An integer target with at most this many distinct values is taken as class labels.
MAX_INTEGER_CLASSES = 20


def detect_task(y: Any, configured: str = "auto") -> str:
    """Return the task: `configured` unless it is `auto`, else read off the target's values.

    `y` may hold missing values (unlabelled rows); classes are counted on the labelled rows, and
    a classification task needs two classes there (multiclass: three), else the error names the
    classes seen and how many rows were unlabelled.
    """
    import pandas as pd

    n_unique = int(y.nunique(dropna=True))
    if configured == "auto":
        numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
        fractional = pd.api.types.is_float_dtype(y) and not _integral(y)
        if fractional or (numeric and n_unique > MAX_INTEGER_CLASSES):
            configured = "regression"
        else:
            configured = "binary" if n_unique <= 2 else "multiclass"
    if configured != "regression" and n_unique < 2:
        raise UserError(f"data.target: {y.name!r} has {_classes_seen(y)}; "
                        "classification needs at least two")
    if configured == "multiclass" and n_unique < 3:
        raise UserError(f"model.task: multiclass, but target {y.name!r} has {_classes_seen(y)}; "
                        "multiclass needs at least three (set model.task: binary)")
    if configured == "binary" and n_unique > 2:
        raise UserError(f"model.task: binary, but target {y.name!r} has {n_unique} classes")
    if configured == "regression" and not pd.api.types.is_numeric_dtype(y):
        raise UserError(f"model.task: regression, but target {y.name!r} is not numeric")
    return configured


def _classes_seen(y: Any) -> str:
    """`2 classes ['a', 'b'] in 10 labelled rows (3 unlabelled rows dropped: ...)`."""
    labelled = y.dropna()
    classes = sorted(labelled.unique().tolist(), key=str)
    seen = (f"a single class {classes}" if len(classes) == 1
            else f"{len(classes)} classes {classes}")
    unlabelled = len(y) - len(labelled)
    dropped = (f" ({unlabelled} unlabelled rows dropped: if a class was read as missing, "
               "see data.na_values)") if unlabelled else ""
    return f"{seen} in {len(labelled)} labelled rows{dropped}"


def _integral(y: Any) -> bool:
    values = y.dropna()
    return bool(len(values)) and bool(((values % 1) == 0).all())
