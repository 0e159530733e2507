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


def _with_seed(estimator: Any, seed: int) -> Any:
    if "random_state" in estimator.get_params() and estimator.get_params()["random_state"] is None:
        estimator.set_params(random_state=seed)
    return estimator


def train(df: Any, contract: Contract, cfg: config.ModelConfig, seed: int) -> dict[str, Any]:
    """Fit the pipeline on `df`; return a bundle with the pipeline, task and classes."""
    from sklearn.utils._param_validation import InvalidParameterError

    target = contract.target.name
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
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(pipeline, "classes_", [])]
    return {"pipeline": pipeline, "task": task, "target": target, "classes": classes,
            "estimator": cfg.estimator, "contract": contract}


def main(args: argparse.Namespace) -> None:
    import joblib

    params = config.read_params(args.params)
    cfg = config.ModelConfig.from_params(params)
    contract = load_contract(args.contract)
    df = read_table(args.train, key="--train")
    if contract.target.name not in df.columns:
        raise UserError(f"contract target {contract.target.name!r} not in {args.train}")
    bundle = train(df, contract, cfg, config.seed(params))
    # The pickle stays on the training side; the served model is ONNX (stage `export`).
    with atomic_path(args.out) as tmp:
        joblib.dump(bundle, tmp)
    print(f"train: {cfg.estimator} ({bundle['task']}) on {len(df)} rows -> {args.out}")
