"""`gitops-ml quality`: the served models' metrics once labels arrive, per time window, and an
alarm when a floor of `gates.floors` breaks in k of the last n windows.

Each model that answered requests (the champion, and a canary challenger) gets its own series of
windows (`quality.window` wide, by the prediction's time). A window with fewer than
`quality.min_rows` labelled rows is shown but not judged. Intervals: Wilson's for accuracy,
percentile bootstrap (`quality.bootstrap` resamples, seeded) for the other gated metrics.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from gitops_ml import config
from gitops_ml.errors import UserError
from gitops_ml.io import atomic_path, write_json
from gitops_ml.metrics import classification_metrics, positive_index, regression_metrics
from gitops_ml.monitor import outcomes
from gitops_ml.report.diff import DIRECTIONS

ALARM_EXIT = 3  # like drift: distinct from 2 (bad input)


def _metrics(labels: np.ndarray, predictions: np.ndarray, probabilities: np.ndarray | None,
             classes: list[str] | None, positive: int) -> dict[str, float]:
    if classes is None:
        return regression_metrics(labels.astype(float), predictions.astype(float))
    scores = probabilities if probabilities is not None else np.eye(len(classes))[
        np.array([classes.index(p) if p in classes else 0 for p in predictions])]
    out = classification_metrics(labels.astype(str), predictions.astype(str), scores, classes,
                                 positive=positive, probabilistic=probabilities is not None)
    if probabilities is None:  # a log without probabilities: AUC of hard labels would mislead
        out.pop("roc_auc", None)
    return out


def wilson(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (good near 0 and 1, unlike the normal one)."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _single(metric: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
            classes: list[str] | None, positive: int) -> float | None:
    """One metric of a bootstrap resample, computed alone (the full set costs 5 ms a call).

    Classification labels arrive as class codes. None where the metric is undefined.
    """
    from sklearn import metrics as m

    if classes is None:
        return {"rmse": lambda: float(np.sqrt(np.mean((y - pred) ** 2))),
                "mae": lambda: float(np.mean(np.abs(y - pred))),
                "r2": lambda: float(m.r2_score(y, pred))}[metric]()
    if metric == "accuracy":
        return float(np.mean(y == pred))
    k, binary = len(classes), len(classes) == 2
    if metric == "roc_auc":
        if proba is None or len(np.unique(y)) < k:
            return None
        from gitops_ml.metrics import auc

        return auc(y, proba, positive)
    if metric == "log_loss":
        return None if proba is None else float(m.log_loss(y, proba, labels=list(range(k))))
    avg: dict[str, Any] = ({"average": "binary", "pos_label": positive} if binary
                           else {"average": "macro", "labels": list(range(k))})
    scorers = {"precision": m.precision_score, "recall": m.recall_score, "f1": m.f1_score}
    if metric in scorers:
        return float(scorers[metric](y, pred, zero_division=0, **avg))
    if metric == "f1_macro":
        return float(m.f1_score(y, pred, average="macro", labels=list(range(k)),
                                zero_division=0))
    if metric == "balanced_accuracy":
        return float(m.balanced_accuracy_score(y, pred))
    return None


def _vectorised(metric: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
                classes: list[str] | None, positive: int, idx: np.ndarray) -> np.ndarray | None:
    """All resamples `idx` ([B, n] row indices) of a metric at once, where that is possible.

    Per-row means (log loss, MAE, RMSE) average a per-row array; binary ROC AUC is the
    Mann-Whitney statistic from ranks. None for the rest (they go one resample at a time).
    """
    from scipy.stats import rankdata

    if classes is None and metric in ("rmse", "mae"):
        error = y - pred
        return (np.sqrt((error ** 2)[idx].mean(axis=1)) if metric == "rmse"
                else np.abs(error)[idx].mean(axis=1))
    if classes is not None and len(classes) == 2 and metric in (
            "precision", "recall", "f1", "balanced_accuracy"):
        said, truth = (pred == positive)[idx], (y == positive)[idx]
        tp = (said & truth).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = {"precision": lambda: tp / said.sum(axis=1),
                   "recall": lambda: tp / truth.sum(axis=1),
                   "f1": lambda: 2 * tp / (said.sum(axis=1) + truth.sum(axis=1)),
                   "balanced_accuracy": lambda: (tp / truth.sum(axis=1) + (~said & ~truth)
                                                 .sum(axis=1) / (~truth).sum(axis=1)) / 2,
                   }[metric]()
        return np.nan_to_num(out, nan=0.0)  # scikit-learn's zero_division=0
    if classes is None or proba is None:
        return None
    if metric == "log_loss":
        p_true = np.clip(proba[np.arange(len(y)), np.clip(y, 0, None)], 1e-15, 1.0)
        return (-np.log(p_true))[idx].mean(axis=1)
    if metric == "roc_auc" and len(classes) == 2:
        is_pos = (y == positive)[idx]
        n_pos = is_pos.sum(axis=1)
        n_neg = idx.shape[1] - n_pos
        ranks = rankdata(proba[:, positive][idx], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = ((ranks * is_pos).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        return auc[(n_pos > 0) & (n_neg > 0)]  # undefined on a resample with one class
    return None


def window_metrics(part: Any, classes: list[str] | None, positive: int, gated: list[str],
                   cfg: config.QualityConfig, rng: np.random.Generator) -> dict[str, Any]:
    """Point metrics of one window, with intervals for accuracy and the gated metrics."""
    from gitops_ml.metrics import encode

    y, pred = part["label"].to_numpy(), part["prediction"].to_numpy()
    proba = outcomes.probability_matrix(part, classes) if classes else None
    values = _metrics(y, pred, proba, classes, positive)
    intervals: dict[str, list[float]] = {}
    if "accuracy" in values:
        correct = int((pred.astype(str) == y.astype(str)).sum())
        intervals["accuracy"] = list(wilson(correct, len(y), cfg.confidence))
    boot = [m for m in gated if m in values and m not in intervals]
    if boot and cfg.bootstrap and len(y) > 1:
        if classes is not None:
            y, pred = encode(y.astype(str), classes), encode(pred.astype(str), classes)
        else:
            y, pred = y.astype(float), pred.astype(float)
        idx = rng.integers(0, len(y), (cfg.bootstrap, len(y)))
        draws: dict[str, Any] = {}
        for m in boot:
            draws[m] = _vectorised(m, y, pred, proba, classes, positive, idx)
            if draws[m] is None:
                values_ = (_single(m, y[i], pred[i], None if proba is None else proba[i],
                                   classes, positive) for i in idx)
                draws[m] = [v for v in values_ if v is not None]  # undefined on some resamples
        tail = (1 - cfg.confidence) / 2
        for m, d in draws.items():
            if len(d):
                intervals[m] = [float(np.quantile(d, tail)), float(np.quantile(d, 1 - tail))]
    return {"metrics": values, "intervals": intervals}


def breaks(metric: str, value: float, bound: float) -> bool:
    """A floor is a minimum, or a maximum for lower-is-better metrics."""
    return value > bound if DIRECTIONS.get(metric, 1) < 0 else value < bound


def assess(df: Any, floors: dict[str, float], cfg: config.QualityConfig,
           positive_class: Any = None, seed: int = 0) -> dict[str, Any]:
    """Windows per served model, each judged against the floors, and the k-of-n alarm."""
    classes = df.attrs.get("classes")
    served = df[df["served"]]
    if served.empty:
        raise UserError("--labels: no logged prediction has a label (labels join the log by "
                        "request_id and row; was the server logging request ids?)")
    positive = 0
    if classes is not None and len(classes) == 2:
        counts = served["label"].astype(str).value_counts().to_dict()
        positive = positive_index(classes, positive_class, counts)
    rng = np.random.default_rng(seed)
    width = cfg.window_seconds
    import pandas as pd

    seconds = (served["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    served = served.assign(window=(seconds // width) * width)
    models = []
    for (model, version, role), part in served.groupby(
            ["model", "version", "role"], dropna=False, sort=True):
        windows = []
        for start, w in part.groupby("window", sort=True):
            entry: dict[str, Any] = {
                "start": _iso(int(start)), "end": _iso(int(start) + width), "rows": int(len(w)),
                "judged": len(w) >= cfg.min_rows}
            entry.update(window_metrics(w, classes, positive, list(floors), cfg, rng))
            entry["broken"] = sorted(m for m, bound in floors.items()
                                     if entry["judged"] and m in entry["metrics"]
                                     and breaks(m, entry["metrics"][m], bound))
            windows.append(entry)
        judged = [w for w in windows if w["judged"]][-cfg.of_last:]
        broken = sum(1 for w in judged if w["broken"])
        models.append({"model": model, "version": None if _missing(version) else version,
                       "role": role, "windows": windows, "judged_recent": len(judged),
                       "broken_recent": broken, "alarm": broken >= cfg.breaches})
    unknown = sorted(m for m in floors if not any(
        m in w["metrics"] for s in models for w in s["windows"]))
    return {"alarm": any(m["alarm"] for m in models), "floors": floors,
            "config": cfg.model_dump(), "models": models, "rows": int(len(served)),
            "metrics_not_computed": unknown}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _iso(seconds: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_markdown(r: dict[str, Any]) -> str:
    """The quality report; its first line says whether the alarm is on."""
    cfg = r["config"]
    head = ("## ⚠️ Quality alarm: a gate floor broke in "
            if r["alarm"] else "## ✅ Quality holds: no floor broke in ")
    lines = [head + f"{cfg['breaches']} of the last {cfg['of_last']} windows", "",
             f"{r['rows']} labelled predictions · windows of {cfg['window']} · a window needs "
             f"{cfg['min_rows']} labelled rows to be judged · floors: "
             + ", ".join(f"{m} {b}" for m, b in r["floors"].items()), ""]
    if r["metrics_not_computed"]:
        lines += [f"Not computable from the log: {', '.join(r['metrics_not_computed'])}.", ""]
    for m in r["models"]:
        state = "🔴 alarm" if m["alarm"] else "🟢"
        lines += [f"### `{m['model']}` {m['version'] or ''} ({m['role']}) {state}: "
                  f"{m['broken_recent']} of the last {m['judged_recent']} judged windows broke",
                  "", "| window start | rows | " + " | ".join(r["floors"]) + " | verdict |",
                  "|---|---:|" + "---|" * len(r["floors"]) + "---|"]
        for w in m["windows"]:
            cells = []
            for metric in r["floors"]:
                value = w["metrics"].get(metric)
                ci = w["intervals"].get(metric)
                cells.append("–" if value is None else f"{value:.4g}" + (
                    f" ({ci[0]:.3g}–{ci[1]:.3g})" if ci else ""))
            verdict = ("too few rows" if not w["judged"] else
                       "🔴 " + ", ".join(w["broken"]) if w["broken"] else "🟢")
            lines.append(f"| {w['start']} | {w['rows']} | " + " | ".join(cells)
                         + f" | {verdict} |")
        lines.append("")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from gitops_ml.monitor.predlog import log_files, read_records
    from gitops_ml.report.gates import GatesConfig

    params = config.read_params(args.params)
    cfg = config.QualityConfig.from_params(params)
    floors = {f.metric: f.bound for f in GatesConfig.from_params(params).floors}
    if not floors:
        raise UserError("gates.floors: empty; quality alarms on these floors, so set at least one")
    target = config.DataConfig.from_params(params).target
    positive = config.EvaluateConfig.from_params(params).positive_class
    log = Path(args.log)
    if not log.exists():
        raise UserError(f"--log: not found: {log}")
    labels = outcomes.read_labels(Path(args.labels), target)
    files = log_files(log)
    df = outcomes.join(outcomes.frame(read_records(files)), labels)
    report = assess(df, floors, cfg, positive, seed=config.seed(params))
    report.update({"log": str(args.log), "labels": str(args.labels)})
    write_json(report, args.out_json)
    with atomic_path(args.out_md) as tmp:
        tmp.write_text(render_markdown(report))
    if args.out_batch:
        batch = outcomes.labelled_inputs(read_records(files), labels, target)
        from gitops_ml.io import write_parquet

        write_parquet(batch, args.out_batch)
    if report["alarm"]:
        print(f"quality: alarm: a floor broke in {cfg.breaches} of the last {cfg.of_last} "
              f"windows (report: {args.out_md})")
        return ALARM_EXIT
    print(f"quality: holds over {report['rows']} labelled predictions (report: {args.out_md})")
    return 0
