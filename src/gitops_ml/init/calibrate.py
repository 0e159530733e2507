"""The gates init writes, measured on the fork's first model: floors and a flip-rate ceiling it
passes with a margin, each with the number it came from.

Init trains that model once, in memory, through the stages' own functions (split, train,
evaluate, ONNX export, the robustness check): the same model `dvc repro` then builds, so the
first pull request is judged against numbers its own model met, not the template's example.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_ml import config

# The metrics floored per task: the one a reviewer reads first, and a second view of it.
FLOORED = {"binary": ("roc_auc", "accuracy"), "multiclass": ("accuracy", "f1_macro"),
           "regression": ("r2",)}
SHARES = ("accuracy", "f1_macro", "roc_auc")   # metrics in [0, 1] whose noise is a proportion's
MIN_MARGIN = 0.02      # never closer than this to the first model's number
SE_MARGIN = 3.0        # standard errors of room: a retrained model's noise, not a regression


@dataclass(frozen=True)
class FirstModel:
    """What the fork's first model scored, on how many test rows."""

    estimator: str
    test_rows: int
    metrics: dict[str, float]
    flip_rate: float | None
    flip_rows: int                # rows x repeats the flip rate averages over


def measure(df: Any, contract: Any, params: dict[str, Any], task: str) -> FirstModel:
    """Train and judge the first model as the pipeline would, with `params` as init wrote them."""
    from gitops_ml import model_tests as mt
    from gitops_ml.io import write_bytes, write_json
    from gitops_ml.serve.model import OnnxModel
    from gitops_ml.stages.evaluate import evaluate
    from gitops_ml.stages.export import metadata_for, onnx_input_names, parity, to_onnx
    from gitops_ml.stages.split import split
    from gitops_ml.stages.train import train

    seed = config.seed(params)
    model_cfg = config.ModelConfig.from_params(params)
    evaluate_cfg = config.EvaluateConfig.from_params(params)
    robust_cfg = config.RobustnessConfig.from_params(params)
    target = config.DataConfig.from_params(params).target
    train_df, test_df = split(df, target, task, config.SplitConfig.from_params(params).test_size,
                              seed)
    bundle = train(train_df, contract, model_cfg, seed)
    cheap = evaluate_cfg.model_copy(update={"importance_repeats": 0})
    metrics = evaluate(bundle, test_df, cheap, seed)["metrics"]
    onnx_bytes = to_onnx(bundle)
    report = parity(bundle, onnx_bytes, test_df, config.ExportConfig.from_params(params))
    with tempfile.TemporaryDirectory(prefix="gitops-ml-init-") as folder:
        meta = metadata_for(bundle, name="first", metrics=metrics, params={}, data_sha256="",
                            train_rows=len(train_df), parity_report=report,
                            inputs=onnx_input_names(onnx_bytes))
        write_bytes(onnx_bytes, Path(folder) / "model.onnx")
        write_json(meta, Path(folder) / "model.json")
        scorer = mt.Scorer(OnnxModel.load(Path(folder)))
        rows = mt.sample(test_df, seed)
        robust = mt.robustness(scorer, rows, robust_cfg, seed)
    return FirstModel(model_cfg.estimator, len(test_df),
                      {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
                      robust["flip_rate"] if robust else None,
                      len(rows) * robust_cfg.repeats if robust else 0)


def margin(value: float, n: int) -> float:
    """Room below (or above) a share measured on `n` rows: SE_MARGIN standard errors of a
    proportion, at least MIN_MARGIN."""
    p = min(max(value, 0.0), 1.0)
    return max(MIN_MARGIN, SE_MARGIN * math.sqrt(p * (1 - p) / max(n, 1)))


def regression_limits(first: FirstModel, limits: dict[str, Any]) -> dict[str, Any]:
    """`gates.max_regression` with each absolute limit on a share (accuracy, F1, ROC AUC) at
    least one standard error of it on this test set: on 17 test rows one row is 0.06 of
    accuracy, so a 0.02 limit would fail any refit that changes one answer."""
    out = {}
    for metric, limit in limits.items():
        value = first.metrics.get(metric)
        if metric in SHARES and value is not None and "abs" in limit:
            se = math.sqrt(min(max(value, 0.0), 1.0) * (1 - min(max(value, 0.0), 1.0))
                           / max(first.test_rows, 1))
            limit = {**limit, "abs": max(limit["abs"], math.ceil(se * 100) / 100)}
        out[metric] = limit
    return out


def gates(first: FirstModel, task: str) -> tuple[dict[str, float], float | None, str]:
    """Floors and max_flip_rate the first model passes with a margin, and the comment saying
    where they came from."""
    floors = {}
    for metric in FLOORED[task]:
        if metric in first.metrics:
            value = first.metrics[metric]
            floors[metric] = math.floor((value - margin(value, first.test_rows)) * 100) / 100
    flip = None
    if first.flip_rate is not None:
        flip = min(1.0, math.ceil((first.flip_rate + margin(first.flip_rate, first.flip_rows))
                                  * 100) / 100)
    measured = ", ".join(f"{m} {first.metrics[m]:.3f}" for m in floors)
    if first.flip_rate is not None:
        measured += f", flip rate {first.flip_rate:.3f}"
    comment = (f"init: the first model ({first.estimator.rsplit('.', 1)[-1]}, "
               f"{first.test_rows} test rows) scored {measured}; floors and max_flip_rate "
               f"leave {SE_MARGIN:g} standard errors (at least {MIN_MARGIN}) of room")
    return floors, flip, comment
