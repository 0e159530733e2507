"""The scikit-learn Pipeline: preprocessing built from the contract, the estimator from params."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import numpy as np

from gitops_ml.contract import Contract
from gitops_ml.errors import UserError

# Missing categories travel as "" (ONNX string tensors have no null); imputed to this marker.
MISSING_CATEGORY = "__missing__"


def resolve_estimator(path: str, params: dict[str, Any]) -> Any:
    """Instantiate the estimator class at import path `path` with `params`."""
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"model.estimator: cannot import module {module_name!r} of {path!r}") \
            from exc
    cls = getattr(module, attr, None)
    if cls is None or not inspect.isclass(cls):
        raise UserError(f"model.estimator: {module_name!r} has no estimator class {attr!r}")
    if not hasattr(cls, "fit"):
        raise UserError(f"model.estimator: {path!r} is not an estimator (it has no fit method)")
    accepted = set(cls().get_params()) if hasattr(cls, "get_params") else set()
    for name in params:
        if name not in accepted:
            raise UserError(f"model.params.{name}: not a parameter of {attr} "
                            f"(known: {', '.join(sorted(accepted))})")
    return cls(**params)


def model_frame(df: Any, contract: Contract) -> Any:
    """The feature columns in contract order, typed as the model (and ONNX) sees them."""
    missing = [c for c in contract.feature_names if c not in df.columns]
    if missing:
        raise UserError(f"data: feature column(s) missing: {', '.join(missing)}")
    X = df[contract.feature_names].copy()
    # Rounded through float32, the precision of the ONNX inputs, so that scikit-learn and
    # ONNX Runtime see the same numbers and the parity check measures the model, not the cast.
    for name in contract.numeric:
        X[name] = X[name].astype("float32").astype("float64")
    for name in contract.categorical:
        col = X[name]
        X[name] = np.where(col.isna(), "", col.astype(str)).astype(object)
    return X


def is_tree_model(estimator: Any) -> bool:
    """Trees split on thresholds, so scaling their inputs changes nothing but float rounding."""
    return any(word in type(estimator).__name__ for word in ("Tree", "Forest", "GradientBoosting"))


def build_pipeline(contract: Contract, estimator: Any) -> Any:
    """Impute + scale numeric columns, impute + one-hot categorical ones, then the estimator.

    Tree models get no scaler: ONNX computes the scaler in float32, and a value that lands one
    float32 step away from a split threshold takes the other branch, so the served model would
    disagree with the trained one (seen with HistGradientBoosting at 100k rows: 0.05 probability).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    transformers = []
    if contract.numeric:
        steps = [("impute", SimpleImputer(strategy="median"))]
        if not is_tree_model(estimator):
            steps.append(("scale", StandardScaler()))
        transformers.append(("numeric", Pipeline(steps), contract.numeric))
    if contract.categorical:
        transformers.append(("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="constant", missing_values="",
                                     fill_value=MISSING_CATEGORY)),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]), contract.categorical))
    return Pipeline([
        ("preprocess", ColumnTransformer(transformers, remainder="drop")),
        ("estimator", estimator),
    ])


def check_estimator_fits_task(estimator: Any, task: str, path: str) -> None:
    """A regressor for a classification target (or the reverse) is a config error."""
    from sklearn.base import is_classifier, is_regressor

    if task == "regression" and not is_regressor(estimator):
        raise UserError(f"model.estimator: {path} is not a regressor but the task is regression")
    if task != "regression" and not is_classifier(estimator):
        raise UserError(f"model.estimator: {path} is not a classifier but the task is {task}")
