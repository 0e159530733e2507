"""Stage `evaluate`: metrics, plot data, slice metrics and feature importance on the test set."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gitops_ml import config
from gitops_ml import metrics as mx
from gitops_ml.errors import UserError
from gitops_ml.io import read_table, write_json
from gitops_ml.modeling import class_scores, model_frame
from gitops_ml.profiling import section


def evaluate(bundle: dict[str, Any], df: Any, cfg: config.EvaluateConfig,
             seed: int) -> dict[str, Any]:
    """Everything the evaluate stage writes, keyed by output name (and `notes` for the log)."""
    pipeline, task, target = bundle["pipeline"], bundle["task"], bundle["target"]
    unknown = [c for c in cfg.slices if c not in df.columns or c == target]
    if unknown:
        raise UserError(f"evaluate.slices: not feature columns: {', '.join(unknown)}")
    if cfg.positive_class is not None and task != "binary":
        raise UserError(f"evaluate.positive_class: only for binary tasks; this task is {task}")
    X, y = model_frame(df, bundle["contract"]), df[target]
    out: dict[str, Any] = {"plots": {}, "notes": []}
    positive = 1
    if task == "regression":
        with section("model.predict"):
            pred = pipeline.predict(X)
        out["metrics"] = mx.regression_metrics(y, pred)
        points = mx.regression_points(y, pred, cfg.curve_points * 5, seed)
        out["plots"]["predicted_vs_actual"] = points
    else:
        classes = list(pipeline.classes_)
        with section("model.predict"):
            scores, probabilistic = class_scores(pipeline, X, classes)
            # decision values need not peak at the predicted class (SVC votes one-vs-one)
            pred = pipeline.classes_[scores.argmax(axis=1)] if probabilistic else \
                pipeline.predict(X)
        if task == "binary":
            counts = bundle.get("class_counts") or y.value_counts().to_dict()
            positive = mx.positive_index(classes, cfg.positive_class, counts)
            out["notes"].append(f"positive class: {mx.plain(classes[positive])!r}")
        out["metrics"] = mx.classification_metrics(y, pred, scores, classes, positive=positive,
                                                   probabilistic=probabilistic)
        out["plots"]["roc"] = mx.roc_points(y, scores, classes, cfg.curve_points, positive)
        out["plots"]["precision_recall"] = mx.pr_points(y, scores, classes, cfg.curve_points,
                                                        positive)
        out["plots"]["confusion"] = mx.confusion(y, pred, classes)
        if probabilistic:
            out["plots"]["calibration"] = mx.calibration(y, scores, classes, positive=positive)
        else:
            out["notes"].append(
                f"{' and '.join(mx.PROBABILITY_METRICS)} not available: {bundle['estimator']} "
                "has no predict_proba (ROC AUC and curves use its decision_function)")
    out["slices"] = mx.slice_metrics(df, y, pred, cfg.slices, cfg.slice_bins, task)
    with section("model.predict"):
        out["importance"] = mx.permutation_importance(
            pipeline, X, y, task, cfg.importance_repeats, cfg.importance_max_rows, seed,
            positive)
    return out


def main(args: argparse.Namespace) -> None:
    import joblib

    params = config.load(args.params)
    bundle = joblib.load(args.model)
    df = read_table(args.test, key="--test")
    out = evaluate(bundle, df, params.evaluate, params.seed)
    plots = Path(args.plots)
    for name, rows in out["plots"].items():
        write_json({name: rows}, plots / f"{name}.json")
    write_json(out["slices"], args.slices)
    write_json({"importance": out["importance"]}, args.importance)
    write_json(out["metrics"], args.metrics)  # last: its presence means the stage finished
    headline = ", ".join(f"{k}={v}" for k, v in out["metrics"].items())
    print(f"evaluate: {headline}")
    for note in out["notes"]:
        print(f"evaluate: {note}")
