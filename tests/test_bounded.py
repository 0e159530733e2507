"""Regression predictions stay within the contract's target range, in scikit-learn and ONNX."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from gitops_ml import contract as contract_mod
from gitops_ml.bounded import BoundedRegressor
from gitops_ml.config import ExportConfig, ModelConfig
from gitops_ml.stages.export import onnx_feeds, parity, to_onnx
from gitops_ml.stages.train import train


@parametrize_with_checks([BoundedRegressor(Ridge())])
def test_bounded_regressor_is_a_scikit_learn_estimator(estimator, check):
    check(estimator)


def test_bounded_regressor_clips_to_its_range():
    X, y = np.arange(10.0).reshape(-1, 1), np.arange(10.0)
    model = BoundedRegressor(Ridge(alpha=1e-6), low=0.0, high=12.0).fit(X, y)
    assert model.predict([[-5.0], [4.0], [20.0]]).round(6).tolist() == [0.0, 4.0, 12.0]


def prices(rows: int = 400) -> pd.DataFrame:
    """A price that grows exponentially: a straight line through it goes below zero."""
    rng = np.random.default_rng(0)
    carat = rng.uniform(0.2, 3.0, rows)
    return pd.DataFrame({"carat": carat, "cut": rng.choice(["fair", "good", "ideal"], rows),
                         "price": np.round(np.exp(2.5 * carat) * 100, 2)})


def test_default_regression_never_predicts_below_a_non_negative_target_in_sklearn_or_onnx():
    df = prices()
    spec = contract_mod.infer(df, "price")
    assert spec.target.min == 0.0          # a non-negative target's range stays non-negative
    bundle = train(df, spec, ModelConfig("sklearn.linear_model.Ridge", {"alpha": 1.0}), seed=0)
    unclipped = bundle["pipeline"].named_steps["estimator"].regressor_
    assert (unclipped.predict(bundle["pipeline"][:-1].transform(df)) < 0).any()   # the premise
    predicted = bundle["pipeline"].predict(df)
    assert predicted.min() == 0.0
    onnx_bytes = to_onnx(bundle)
    assert parity(bundle, onnx_bytes, df, ExportConfig())["passed"]
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    served = session.run(None, onnx_feeds(df, bundle["contract"]))[0].ravel()
    assert served.min() == 0.0
