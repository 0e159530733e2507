"""The gates init writes, measured on the fork's first model: floors (below its interval) and a
flip-rate ceiling it passes with a margin, each with the number it came from.

Init trains that model once, in memory, through the stages' own functions (split, train,
evaluate, ONNX export, the robustness check): the same model `dvc repro` then builds, so the
first pull request is judged against numbers its own model met, not the template's example.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

from gitops_ml import config

# The metrics floored per task: the one a reviewer reads first, and a second view of it.
FLOORED = {"binary": ("roc_auc", "accuracy"), "multiclass": ("accuracy", "f1_macro"),
           "regression": ("r2",)}
SHARES = ("accuracy", "f1_macro", "roc_auc")   # metrics in [0, 1] whose noise is a proportion's
MIN_MARGIN = 0.02      # never closer than this to the first model's number
SE_MARGIN = 3.0        # standard errors of room: a retrained model's noise, not a regression
# Below the lower end of the first model's interval: room for a refit that moves a prediction
# or two (on the same rows and bootstrap seed its interval moves with its point value).
FLOOR_MARGIN = 0.02


@dataclass(frozen=True)
class FirstModel:
    """What the fork's first model scored, on how many test rows."""

    estimator: str
    test_rows: int
    metrics: dict[str, float]
    flip_rate: float | None
    flip_rows: int                # rows x repeats the flip rate averages over
    # per metric, the worse end of its interval (lower for higher-is-better), as the PR job's
    # same-row comparison computes it: the same rows, bootstrap seed, resamples and confidence
    worst: dict[str, float] = field(default_factory=dict)
    confidence: float = 0.95


def measure(df: Any, contract: Any, params: dict[str, Any], task: str) -> FirstModel:
    """Train and judge the first model as the pipeline would, with `params` as init wrote them."""
    from gitops_ml import model_tests as mt
    from gitops_ml.io import write_bytes, write_json
    from gitops_ml.report import same_rows
    from gitops_ml.report.diff import DIRECTIONS
    from gitops_ml.report.uncertainty import Settings
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
        rows_sampled = mt.sample(test_df, seed)
        robust = mt.robustness(scorer, rows_sampled, robust_cfg, seed)
    gates_cfg = config.GatesSection.from_params(params)
    settings = Settings(seed, gates_cfg.bootstrap, gates_cfg.confidence)
    # the first model against itself: the PR job's comparison, whose head interval a floor judges
    rows = same_rows.compare_on(same_rows.RowSet(same_rows.PR_SPLIT, test_df), bundle, bundle,
                                positive_class=evaluate_cfg.positive_class, settings=settings)
    worst = {}
    for row in rows.metrics:
        e = row.estimate
        worst[e.metric] = (e.head_interval.low if DIRECTIONS.get(e.metric, 1) > 0
                           else e.head_interval.high)
    return FirstModel(model_cfg.estimator, len(test_df),
                      {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
                      robust["flip_rate"] if robust else None,
                      len(rows_sampled) * robust_cfg.repeats if robust else 0,
                      worst, settings.confidence)


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


def lower_end(first: FirstModel, metric: str) -> float:
    """The lower end of the first model's interval of `metric`: the PR job's bootstrap, and for a
    share (accuracy, F1, ROC AUC) no higher than Wilson's score bound on the test rows, since a
    bootstrap cannot reach past what the rows show (a perfect score on 69 rows gives [1, 1],
    and one wrong answer in a refit would then fail a floor just below 1)."""
    value = first.metrics[metric]
    low = first.worst.get(metric, value)
    if metric in SHARES:
        p, n = min(max(value, 0.0), 1.0), max(first.test_rows, 1)
        z = NormalDist().inv_cdf(1 - (1 - first.confidence) / 2)
        wilson = (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) \
            / (1 + z * z / n)
        low = min(low, wilson)
    return low


def gates(first: FirstModel, task: str) -> tuple[dict[str, float], float | None, str]:
    """Floors and max_flip_rate the first model passes with a margin, and the comment saying
    where they came from.

    A floor is judged "shown met" (`gitops_ml.config.FLOOR_RULE`): the lower end of the PR
    model's interval must clear it. So each floor is the lower end of the first model's own
    interval (the PR job's bootstrap on the same test rows) less FLOOR_MARGIN, rounded down to
    0.01 (`lower_end`): the first model, and a refit that moves a prediction or two, pass by
    construction;
    a model whose interval sits lower fails, however few the test rows.
    """
    floors, lows = {}, {}
    for metric in FLOORED[task]:
        if metric in first.metrics:
            lows[metric] = low = lower_end(first, metric)
            floors[metric] = math.floor(round((low - FLOOR_MARGIN) * 100, 6)) / 100
    flip = None
    if first.flip_rate is not None:
        flip = min(1.0, math.ceil((first.flip_rate + margin(first.flip_rate, first.flip_rows))
                                  * 100) / 100)
    level = f"{first.confidence * 100:g}%"
    measured = ", ".join(f"{m} {first.metrics[m]:.3f} ({level} lower end {lows[m]:.3f})"
                         for m in floors)
    if first.flip_rate is not None:
        measured += f", flip rate {first.flip_rate:.3f}"
    comment = (f"init: the first model ({first.estimator.rsplit('.', 1)[-1]}, "
               f"{first.test_rows} test rows) scored {measured}; each floor is that lower end "
               f"less {FLOOR_MARGIN} (a PR must show its own interval above it); "
               f"max_flip_rate leaves {SE_MARGIN:g} standard errors (at least {MIN_MARGIN})")
    return floors, flip, comment
