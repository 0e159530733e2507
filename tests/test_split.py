from __future__ import annotations

import pandas as pd
import pytest

from gitops_ml.errors import UserError
from gitops_ml.stages.split import split


@pytest.fixture
def imbalanced() -> pd.DataFrame:
    return pd.DataFrame({"x": range(100), "y": ["a"] * 80 + ["b"] * 20})


def test_split_is_stratified_for_classification(imbalanced):
    train, test = split(imbalanced, "y", "binary", 0.25, seed=0)
    assert len(test) == 25
    assert (test["y"] == "b").sum() == 5 and (train["y"] == "b").sum() == 15


def test_split_is_seeded(imbalanced):
    a, _ = split(imbalanced, "y", "binary", 0.25, seed=3)
    b, _ = split(imbalanced, "y", "binary", 0.25, seed=3)
    c, _ = split(imbalanced, "y", "binary", 0.25, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_split_regression_does_not_stratify():
    df = pd.DataFrame({"x": range(10), "y": [float(i) for i in range(10)]})
    train, test = split(df, "y", "regression", 0.3, seed=0)
    assert (len(train), len(test)) == (7, 3)


def test_split_rejects_a_class_with_one_row():
    df = pd.DataFrame({"x": range(5), "y": ["a", "a", "a", "a", "b"]})
    with pytest.raises(UserError, match=r"data\.target: class\(es\) \['b'\] have a single row"):
        split(df, "y", "binary", 0.4, seed=0)


def test_split_rejects_test_size_that_empties_a_side():
    df = pd.DataFrame({"x": range(3), "y": [1.0, 2.0, 3.0]})
    with pytest.raises(UserError, match=r"split\.test_size: 0\.1 of 3 rows leaves an empty split"):
        split(df, "y", "regression", 0.1, seed=0)
