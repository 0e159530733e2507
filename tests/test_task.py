from __future__ import annotations

import pandas as pd
import pytest

from gitops_ml.errors import UserError
from gitops_ml.task import detect_task


@pytest.mark.parametrize(("values", "task"), [
    (["a", "b", "a"], "binary"),
    ([0, 1, 1], "binary"),
    (["a", "b", "c"], "multiclass"),
    ([0, 1, 2, 3], "multiclass"),
    ([0.5, 1.25, 3.0], "regression"),
    (list(range(50)), "regression"),
])
def test_detect_task_from_target_values(values, task):
    assert detect_task(pd.Series(values, name="y")) == task


def test_detect_task_rejects_one_class_target():
    with pytest.raises(UserError, match=r"data\.target: 'y' has a single class \['a'\]"):
        detect_task(pd.Series(["a", "a"], name="y"))


def test_detect_task_honours_configured_regression_for_integer_target():
    assert detect_task(pd.Series([0, 1, 2], name="y"), "regression") == "regression"


def test_detect_task_rejects_binary_with_three_classes():
    with pytest.raises(UserError, match=r"model\.task: binary, but target 'y' has 3 classes"):
        detect_task(pd.Series(["a", "b", "c"], name="y"), "binary")


def test_detect_task_rejects_regression_on_strings():
    with pytest.raises(UserError, match=r"model\.task: regression, but target 'y' is not numeric"):
        detect_task(pd.Series(["a", "b"], name="y"), "regression")


def test_detect_task_rejects_multiclass_with_two_classes_naming_classes_and_unlabelled_rows():
    y = pd.Series(["Some", "Marked", None, "Some", None], name="severity")
    with pytest.raises(UserError, match=(
            r"^model\.task: multiclass, but target 'severity' has 2 classes \['Marked', 'Some'\] "
            r"in 3 labelled rows \(2 unlabelled rows dropped: if a class was read as missing, "
            r"see data\.na_values\); multiclass needs at least three")):
        detect_task(y, "multiclass")


def test_detect_task_counts_classes_on_labelled_rows_only():
    y = pd.Series(["a", None, None], name="y")
    with pytest.raises(UserError, match=r"has a single class \['a'\] in 1 labelled rows \(2 unl"):
        detect_task(y)
