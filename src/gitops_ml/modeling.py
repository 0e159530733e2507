"""The scikit-learn Pipeline: preprocessing built from the contract, the estimator from params."""

from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any

import numpy as np

from gitops_ml.contract import Contract
from gitops_ml.errors import UserError

# Missing categories travel as "" (ONNX string tensors have no null); imputed to this marker.
MISSING_CATEGORY = "__missing__"


def resolve_estimator(path: str, params: dict[str, Any]) -> Any:
    """Instantiate the estimator class at import path `path` with `params`.

    Every way this can fail is a config error: one line naming `model.estimator` (the class) or
    `model.params` (its arguments), never a traceback.
    """
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"model.estimator: cannot import module {module_name!r} of {path!r} "
                        f"({exc})") from None
    cls = getattr(module, attr, None)
    if cls is None or not inspect.isclass(cls):
        near = difflib.get_close_matches(attr, [n for n in dir(module) if n[:1].isupper()], n=1)
        hint = f"; did you mean {module_name}.{near[0]}?" if near else ""
        raise UserError(f"model.estimator: {module_name!r} has no estimator class {attr!r}{hint}")
    if not hasattr(cls, "fit"):
        raise UserError(f"model.estimator: {path!r} is not an estimator (it has no fit method)")
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # a C extension class without introspectable arguments
        signature = None
    if signature is not None:
        _check_arguments(attr, signature, params)
    try:
        return cls(**params)
    except TypeError as exc:
        raise UserError(f"model.params: {attr}(): {exc}") from None


def _check_arguments(name: str, signature: inspect.Signature, params: dict[str, Any]) -> None:
    args = [p for p in signature.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    known = [p.name for p in args]
    for key in params:
        if key not in known and not takes_any:
            near = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean model.params.{near[0]}?" if near else \
                f" (known: {', '.join(sorted(known)) or 'none'})"
            raise UserError(f"model.params.{key}: not a parameter of {name}{hint}")
    missing = [p.name for p in args if p.default is p.empty and p.name not in params]
    if missing:
        raise UserError(f"model.params: {name} needs {', '.join(missing)} (a required argument "
                        "of its constructor; give it under model.params)")


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
        X[name] = _as_strings(X[name])
    return X


def _as_strings(col: Any) -> Any:
    """Each value as `str(value)`, missing as "": converted once per distinct value, not per
    row (a million-row column has a handful of categories)."""
    import pandas as pd

    if col.dtype == pd.api.types.pandas_dtype("str"):
        # a column of pandas' own string type holds only strings: fill the missing ones (in
        # Arrow), rather than a round trip through Python objects back to the same type
        return col.fillna("")
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    lookup = np.array([str(u) for u in uniques] + [""], dtype=object)
    return lookup[codes]  # code -1 (missing) picks the trailing ""


def is_tree_model(estimator: Any) -> bool:
    """Trees split on thresholds, so scaling their inputs changes nothing but float rounding."""
    return any(word in type(estimator).__name__ for word in ("Tree", "Forest", "GradientBoosting"))


def build_pipeline(contract: Contract, estimator: Any) -> Any:
    """Impute + scale numeric columns, impute + one-hot categorical ones, then the estimator
    (for regression, clipped to the contract's target range: gitops_ml.bounded).

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
    target = contract.target
    if target.categories is None and (target.min is not None or target.max is not None):
        from gitops_ml.bounded import BoundedRegressor

        # regression: predictions stay within the target's contract range (bounded.py)
        estimator = BoundedRegressor(estimator, target.min, target.max)
    return Pipeline([
        ("preprocess", ColumnTransformer(transformers, remainder="drop")),
        ("estimator", estimator),
    ])


def check_estimator_fits_task(estimator: Any, task: str, path: str) -> None:
    """A regressor for a classification target (or the reverse) is a config error."""
    from sklearn.base import is_classifier, is_regressor

    if task == "regression" and not is_regressor(estimator):
        raise UserError(f"model.estimator: {path} is not a regressor, but model.task is "
                        "regression; choose a regressor such as sklearn.linear_model.Ridge")
    if task != "regression" and not is_classifier(estimator):
        raise UserError(f"model.estimator: {path} is not a classifier, but model.task is {task} "
                        "(set model.task: regression if the target is a quantity)")


def class_scores(pipeline: Any, X: Any, classes: list[Any]) -> tuple[np.ndarray, bool]:
    """One score column per class, and whether the scores are probabilities.

    Probabilities when the estimator has `predict_proba`; otherwise its `decision_function`
    (SVC, LinearSVC, RidgeClassifier), whose binary form is one column scoring `classes[1]`,
    widened here to `[-s, s]` so that column i always scores class i.
    """
    if hasattr(pipeline, "predict_proba"):
        return np.asarray(pipeline.predict_proba(X)), True
    if not hasattr(pipeline, "decision_function"):
        raise UserError(f"model.estimator: {type(pipeline[-1]).__name__} has neither "
                        "predict_proba nor decision_function, so it gives no class scores")
    scores = np.asarray(pipeline.decision_function(X), dtype=float)
    if scores.ndim == 1:
        scores = np.column_stack([-scores, scores])
    if scores.shape[1] != len(classes):
        raise UserError(f"model.params: {type(pipeline[-1]).__name__} gives {scores.shape[1]} "
                        f"scores per row for {len(classes)} classes (one per pair of classes?); "
                        "set decision_function_shape: ovr")
    return scores, False
