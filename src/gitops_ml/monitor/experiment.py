"""`gitops-ml experiment`: champion vs challenger from the prediction log, and a verdict.

The verdict is a two-sided test of "the models differ" at `experiment.alpha`, read in the
challenger's favour only, so a challenger no better than the champion is promoted in at most
alpha / 2 of experiments (measured over 200 seeds in tests/monitor/test_experiment.py):

- `promote`: both models have `min_samples` labelled rows and the lift (the challenger's metric
  minus the champion's, signed so that better is positive) has its whole 1 - alpha interval
  above 0;
- `keep`: enough rows, and the upper end of the lift's interval is below `min_lift`, so the
  challenger is not better by as much as the team said is worth a change;
- `inconclusive`: otherwise, with the number of rows per model that would give `power` to find a
  lift of `min_lift` at the variance seen so far.

Shadow logs score the same rows twice, so the test is paired (a mean of per-row differences);
canary logs score different requests, so it is Welch's two-sample z-test. Both are tests of
means, so the metric must be a mean of per-row values (accuracy, log loss, Brier score, MAE, MSE).
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
from gitops_ml.monitor import outcomes

# +1: higher is better
DIRECTION = {"accuracy": 1, "log_loss": -1, "brier": -1, "mae": -1, "mse": -1}
CLASSIFICATION = ("accuracy", "log_loss", "brier")
EPS = 1e-15  # log loss clips probabilities like scikit-learn's log_loss


def per_row(metric: str, labels: np.ndarray, predictions: np.ndarray,
            probabilities: np.ndarray | None, classes: list[str] | None) -> np.ndarray:
    """Each row's contribution to `metric`; the metric is the mean of these."""
    if metric == "accuracy":
        return (predictions.astype(str) == labels.astype(str)).astype(float)
    if metric in ("log_loss", "brier"):
        if probabilities is None or classes is None:
            raise UserError(f"experiment.metric: {metric} needs class probabilities, and the "
                            "log has none (a regression model, or a log written before they "
                            "were logged); use accuracy")
        index = {c: i for i, c in enumerate(classes)}
        truth = np.array([index.get(str(v), -1) for v in labels])
        if (truth < 0).any():
            bad = labels[truth < 0][0]
            raise UserError(f"--labels: label {bad!r} is not one of the model's classes "
                            f"{classes}")
        p_true = probabilities[np.arange(len(truth)), truth]
        if metric == "log_loss":
            return -np.log(np.clip(p_true, EPS, 1.0))
        onehot = np.zeros_like(probabilities)
        onehot[np.arange(len(truth)), truth] = 1.0
        return ((probabilities - onehot) ** 2).sum(axis=1)
    error = predictions.astype(float) - labels.astype(float)
    return np.abs(error) if metric == "mae" else error ** 2


def compare(champion: np.ndarray, challenger: np.ndarray, *, paired: bool, direction: int,
            alpha: float) -> dict[str, Any]:
    """The lift of challenger over champion, its standard error, two-sided p and interval.

    Works on the last axis, so a stack of simulated experiments is tested in one call. The
    interval is at 1 - alpha: it excludes 0 exactly when p < alpha.
    """
    n_a, n_b = champion.shape[-1], challenger.shape[-1]
    mean_a, mean_b = champion.mean(axis=-1), challenger.mean(axis=-1)
    lift = direction * (mean_b - mean_a)
    if paired:
        se = np.std(challenger - champion, axis=-1, ddof=1) / np.sqrt(n_a)
    else:
        se = np.sqrt(np.var(champion, axis=-1, ddof=1) / n_a
                     + np.var(challenger, axis=-1, ddof=1) / n_b)
    z_crit = NormalDist().inv_cdf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        # no variance at all: identical outputs (p = 1), or every row moved the same way (p = 0)
        z = np.where(se > 0, lift / np.where(se > 0, se, 1.0),
                     np.where(lift == 0, 0.0, np.sign(lift) * np.inf))
    p = 2 * (1 - _phi(np.abs(z)))
    return {"lift": lift, "se": se, "p_value": p,
            "lower": lift - z_crit * se, "upper": lift + z_crit * se}


def _phi(z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(z)  # type: ignore[no-any-return]


def rows_needed(variance: float, cfg: config.ExperimentConfig) -> int:
    """Rows per model for a test at `alpha` to find a lift of `min_lift` with `power`.

    `variance` is that of a per-row difference (paired) or the sum of both arms' (canary).
    """
    z = NormalDist().inv_cdf(1 - cfg.alpha / 2) + NormalDist().inv_cdf(cfg.power)
    return max(cfg.min_samples, math.ceil(z * z * variance / cfg.min_lift ** 2))


def decide(stats: dict[str, float], n_champion: int, n_challenger: int, needed: int,
           cfg: config.ExperimentConfig) -> tuple[str, str]:
    """promote / keep / inconclusive, and why, in one sentence."""
    name = cfg.metric
    n = min(n_champion, n_challenger)
    interval = (f"lift {stats['lift']:+.4g} in {name} (interval {stats['lower']:+.4g} to "
                f"{stats['upper']:+.4g}, p = {stats['p_value']:.3g})")
    if n < cfg.min_samples:
        return "inconclusive", (f"{n} labelled rows for the smaller arm, fewer than "
                                f"experiment.min_samples = {cfg.min_samples}")
    if stats["lower"] > 0:
        return "promote", f"the challenger is better: {interval}, p < alpha = {cfg.alpha}"
    if stats["upper"] < cfg.min_lift:
        return "keep", (f"the challenger is not better by min_lift = {cfg.min_lift}: "
                        f"{interval}")
    return "inconclusive", (f"{interval}: neither significant nor ruled out; about {needed} "
                            f"labelled rows per model give power {cfg.power} to find a lift "
                            f"of {cfg.min_lift}")


def _interval(values: np.ndarray, alpha: float) -> dict[str, float | int]:
    mean = float(values.mean())
    se = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.inf
    z = NormalDist().inv_cdf(1 - alpha / 2)
    return {"n": int(len(values)), "value": mean, "lower": mean - z * se,
            "upper": mean + z * se}


def _distribution(df: Any, classes: list[str] | None) -> dict[str, Any]:
    """Score distribution: the positive (last) class's probability, or the predicted value."""
    if classes is not None:
        matrix = outcomes.probability_matrix(df, classes)
        if matrix is None:
            counts = df["prediction"].astype(str).value_counts()
            return {"kind": "labels", "counts": {str(k): int(v) for k, v in counts.items()}}
        scores, what = matrix[:, -1], f"P({classes[-1]})"
        edges = np.linspace(0.0, 1.0, 11)
    else:
        scores, what = df["prediction"].to_numpy(dtype=float), "predicted value"
        edges = np.quantile(scores, np.linspace(0, 1, 11)) if len(scores) else np.zeros(11)
        edges = np.unique(edges)
    counts, edges = np.histogram(scores, bins=edges) if len(scores) else (np.array([]), edges)
    return {"kind": what, "quantiles": {f"p{q}": float(np.quantile(scores, q / 100))
                                        for q in (5, 25, 50, 75, 95)} if len(scores) else {},
            "edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def analyse(df: Any, cfg: config.ExperimentConfig, labelled: bool) -> dict[str, Any]:
    """The experiment report from `outcomes.frame` rows (joined to labels when `labelled`)."""
    classes = df.attrs.get("classes")
    champion, challenger = df[df["role"] == "champion"], df[df["role"] == "challenger"]
    if challenger.empty or champion.empty:
        missing = "challenger" if challenger.empty else "champion"
        raise UserError(f"--log: no {missing} predictions in the log (serve with "
                        "GITOPS_ML_CHALLENGER_DIR and GITOPS_ML_CHALLENGER_MODE)")
    paired = bool((~df["served"]).any())
    design = "shadow" if paired else "canary"
    if paired:  # same rows, both models: line them up by request and row
        both = champion.merge(challenger, on=outcomes.KEY, suffixes=("_a", "_b"))
        champion, challenger = (
            both[[*outcomes.KEY, *(c for c in both.columns if c.endswith(end))]]
            .rename(columns=lambda c, end=end: c.removesuffix(end)) for end in ("_a", "_b"))
    report: dict[str, Any] = {
        "design": design, "labelled": labelled, "metric": cfg.metric,
        "config": cfg.model_dump(),
        "models": {role: {"model": _one(part["model"]), "version": _one(part["version"]),
                          "rows": int(len(part)), "scores": _distribution(part, classes)}
                   for role, part in (("champion", champion), ("challenger", challenger))},
    }
    if paired:
        same = (champion["prediction"].astype(str).to_numpy()
                == challenger["prediction"].astype(str).to_numpy())
        report["agreement"] = float(same.mean()) if len(same) else None
    else:
        report["agreement"] = None  # different requests: nothing to line up
    if not labelled:
        report["verdict"], report["why"] = "inconclusive", (
            "no labels yet: agreement and score distributions only; pass --labels to decide")
        return report
    direction = DIRECTION[cfg.metric]
    if cfg.metric in CLASSIFICATION and classes is None:
        raise UserError(f"experiment.metric: {cfg.metric} is a classification metric and the "
                        "model is a regressor; use mae or mse")
    if cfg.metric not in CLASSIFICATION and classes is not None:
        raise UserError(f"experiment.metric: {cfg.metric} is a regression metric and the "
                        "model is a classifier; use accuracy, log_loss or brier")
    values = {role: per_row(cfg.metric, part["label"].to_numpy(), part["prediction"].to_numpy(),
                            outcomes.probability_matrix(part, classes) if classes else None,
                            classes)
              for role, part in (("champion", champion), ("challenger", challenger))}
    a, b = values["champion"], values["challenger"]
    for role, v in values.items():
        report["models"][role]["metric"] = _interval(v, cfg.alpha) if len(v) else None
    if min(len(a), len(b)) < 2:
        report["verdict"], report["why"] = "inconclusive", (
            f"{min(len(a), len(b))} labelled rows for the smaller arm, fewer than "
            f"experiment.min_samples = {cfg.min_samples}")
        return report
    stats = {k: float(v) for k, v in compare(a, b, paired=paired, direction=direction,
                                               alpha=cfg.alpha).items()}
    variance = float(np.var(b - a, ddof=1)) if paired else float(np.var(a, ddof=1)
                                                                  + np.var(b, ddof=1))
    needed = rows_needed(variance, cfg)
    report["test"] = {**stats, "test": "paired z" if paired else "Welch z",
                      "rows_needed": needed}
    report["verdict"], report["why"] = decide(stats, len(a), len(b), needed, cfg)
    return report


def _one(values: Any) -> Any:
    unique = [v for v in dict.fromkeys(values.tolist()) if v is not None]
    return unique[0] if len(unique) == 1 else (unique or None)


def render_markdown(r: dict[str, Any]) -> str:
    """The report as a pull request comment or promotion attachment."""
    icon = {"promote": "✅", "keep": "🛑", "inconclusive": "⏳"}[r["verdict"]]
    lines = [f"## {icon} Experiment verdict: **{r['verdict']}**", "", r["why"], "",
             f"Design: {r['design']} · metric: {r['metric']}"
             + (f" · agreement of predictions: {r['agreement']:.1%}"
                if r.get("agreement") is not None else ""), "",
             "| model | role | rows | metric (interval) | median score |",
             "|---|---|---:|---|---:|"]
    for role, m in r["models"].items():
        metric = m.get("metric")
        shown = (f"{metric['value']:.4g} ({metric['lower']:.4g} to {metric['upper']:.4g})"
                 if metric else "–")
        median = m["scores"].get("quantiles", {}).get("p50")
        lines.append(f"| `{m['model']}` {m['version'] or ''} | {role} | {m['rows']} | {shown} | "
                     f"{'–' if median is None else format(median, '.4g')} |")
    if "test" in r:
        t = r["test"]
        lines += ["", f"{t['test']} test: lift {t['lift']:+.4g} ± {t['se']:.2g} (se), "
                      f"p = {t['p_value']:.3g}; {t['rows_needed']} rows per model "
                      f"give power {r['config']['power']} at min_lift "
                      f"{r['config']['min_lift']}."]
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    from gitops_ml.monitor.predlog import log_files, read_records

    params = config.read_params(args.params)
    cfg = config.ExperimentConfig.from_params(params)
    log = Path(args.log)
    if not log.exists():
        raise UserError(f"--log: not found: {log}")
    df = outcomes.frame(read_records(log_files(log)))
    labelled = args.labels is not None
    if labelled:
        target = config.DataConfig.from_params(params).target
        df = outcomes.join(df, outcomes.read_labels(Path(args.labels), target))
    report = analyse(df, cfg, labelled)
    write_json(report, args.out_json)
    with atomic_path(args.out_md) as tmp:
        tmp.write_text(render_markdown(report))
    print(f"experiment: {report['verdict']}: {report['why']} (report: {args.out_md})")
    return 0
