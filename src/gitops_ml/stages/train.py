"""Stage `train`: fit the preprocessing + estimator Pipeline and save it with what it learned."""

from __future__ import annotations

import argparse
from typing import Any

from gitops_ml import config
from gitops_ml.contract import Contract
from gitops_ml.contract import load as load_contract
from gitops_ml.errors import UserError
from gitops_ml.io import atomic_path, read_table
from gitops_ml.modeling import (
    build_pipeline,
    check_estimator_fits_task,
    model_frame,
    resolve_estimator,
)
from gitops_ml.profiling import section
from gitops_ml.task import detect_task


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value, so the bundle holds plain labels."""
    return value.item() if hasattr(value, "item") else value


def _with_seed(estimator: Any, seed: int) -> Any:
    if "random_state" in estimator.get_params() and estimator.get_params()["random_state"] is None:
        estimator.set_params(random_state=seed)
    return estimator


def train(df: Any, contract: Contract, cfg: config.ModelConfig, seed: int) -> dict[str, Any]:
    """Fit the pipeline on `df`; return a bundle with the pipeline, task and classes."""
    from sklearn.utils._param_validation import InvalidParameterError

    target = contract.target.name
    df = df[df[target].notna()]  # unlabelled rows teach nothing (split drops them already)
    y = df[target]
    task = detect_task(y, cfg.task)
    estimator = _with_seed(resolve_estimator(cfg.estimator, cfg.params), seed)
    check_estimator_fits_task(estimator, task, cfg.estimator)
    pipeline = build_pipeline(contract, estimator)
    X = model_frame(df, contract)
    try:
        with section("model.fit"):
            pipeline.fit(X, y)
    except InvalidParameterError as exc:
        raise UserError(f"model.params: {exc}") from exc
    classes = [_plain(c) for c in getattr(pipeline, "classes_", [])]
    # training class frequencies: evaluate's default positive class is the rarer one
    counts = {_plain(c): int(n) for c, n in y.value_counts().items()} if task != "regression" \
        else {}
    return {"pipeline": pipeline, "task": task, "target": target, "classes": classes,
            "class_counts": counts, "estimator": cfg.estimator, "contract": contract}


def check_excluded(contract: Contract, exclude: tuple[str, ...]) -> None:
    """A column in `data.exclude` must not be a feature of the contract the model is built from."""
    listed = [c for c in exclude if c in contract.feature_names]
    if listed:
        raise UserError(f"data.exclude: {listed[0]!r} is still a feature in the contract; "
                        "re-infer it (gitops-ml contract infer --force) or remove the column there")


def main(args: argparse.Namespace) -> None:
    import joblib

    params = config.load(args.params)
    cfg = params.model
    contract = load_contract(args.contract)
    check_excluded(contract, params.data.exclude)
    df = read_table(args.train, key="--train")
    if contract.target.name not in df.columns:
        raise UserError(f"contract target {contract.target.name!r} not in {args.train}")
    bundle = train(df, contract, cfg, params.seed)
    # The pickle stays on the training side; the served model is ONNX (stage `export`).
    with atomic_path(args.out) as tmp:
        joblib.dump(bundle, tmp)
    print(f"train: {cfg.estimator} ({bundle['task']}) on {len(df)} rows -> {args.out}")
