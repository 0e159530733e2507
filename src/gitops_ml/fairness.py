"""Fairness by protected column: per-group rates or errors with intervals, and gaps, via fairlearn.

Classification is judged as a decision for one favourable class (`positive_class`): selection
rate, true- and false-positive rate per group, and fairlearn's demographic-parity and
equalized-odds differences and ratios. Regression: mean absolute error per group and the largest
gap. Groups smaller than `min_group_size` are reported with their intervals but marked too small
and left out of the gaps, so a handful of rows cannot pass or fail a pull request on noise.
https://fairlearn.org/main/user_guide/assessment/common_fairness_metrics.html
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gitops_ml.errors import UserError

MISSING_GROUP = "(missing)"
MAX_GROUPS = 50          # more distinct values than this is a continuous column, not groups
CONFIDENCE = 0.95
BOOTSTRAP_SAMPLES = 200
CLASSIFICATION_GAPS = ("demographic_parity_difference", "demographic_parity_ratio",
                       "equalized_odds_difference", "equalized_odds_ratio")
REGRESSION_GAPS = ("mae_difference", "mae_ratio")
# Which way each gap is bad, for `gates.fairness`: differences have a maximum, ratios a minimum.
GAP_LIMITS = {name: "max" if name.endswith("_difference") else "min"
              for name in (*CLASSIFICATION_GAPS, *REGRESSION_GAPS)}


def wilson(successes: int, n: int) -> list[float] | None:
    """Wilson score interval for a rate (good at small n and at rates near 0 or 1)."""
    from scipy.stats import binomtest

    if n == 0:
        return None
    ci = binomtest(successes, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return [round(float(ci.low), 6), round(float(ci.high), 6)]


def groups_of(values: Any, column: str) -> np.ndarray:
    """The group of each row as a string; missing values form their own group."""
    import pandas as pd

    s = pd.Series(values)
    groups = np.where(s.isna(), MISSING_GROUP, s.astype(str)).astype(object)
    distinct = len(set(groups))
    if distinct > MAX_GROUPS:
        raise UserError(f"evaluate.protected: column {column!r} has {distinct} distinct values; "
                        f"bin it into at most {MAX_GROUPS} groups in the data (e.g. age bands)")
    return groups


def _rate(hits: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    n = int(mask.sum())
    k = int(hits[mask].sum())
    return {"value": round(k / n, 6) if n else None, "n": n, "ci": wilson(k, n)}


def _round(value: Any) -> float | None:
    value = float(value)
    return round(value, 6) if np.isfinite(value) else None


def classification(y_true: Any, y_pred: Any, groups: np.ndarray, positive: str,
                   min_group_size: int) -> dict[str, Any]:
    """Per-group selection/true-positive/false-positive rates and the fairlearn gaps."""
    from fairlearn import metrics as fm

    yt = np.asarray([str(v) for v in y_true]) == positive
    yp = np.asarray([str(v) for v in y_pred]) == positive
    rows = []
    for g in sorted(set(groups)):
        in_g = groups == g
        rows.append({
            "group": g, "n": int(in_g.sum()), "too_small": bool(in_g.sum() < min_group_size),
            "selection_rate": _rate(yp, in_g),
            "true_positive_rate": _rate(yp, in_g & yt),
            "false_positive_rate": _rate(yp, in_g & ~yt),
        })
    judged = np.isin(groups, [r["group"] for r in rows if not r["too_small"]])
    gaps: dict[str, float | None] = dict.fromkeys(CLASSIFICATION_GAPS)
    if len({g for g in groups[judged]}) >= 2:
        args = (yt[judged].astype(int), yp[judged].astype(int))
        kw = {"sensitive_features": groups[judged]}
        gaps = {
            "demographic_parity_difference": _round(fm.demographic_parity_difference(*args, **kw)),
            "demographic_parity_ratio": _round(fm.demographic_parity_ratio(*args, **kw)),
            "equalized_odds_difference": _round(fm.equalized_odds_difference(*args, **kw)),
            "equalized_odds_ratio": _round(fm.equalized_odds_ratio(*args, **kw)),
        }
    return {"groups": rows, "gaps": gaps, "judged_groups": int(sum(not r["too_small"]
                                                                   for r in rows))}


def regression(y_true: Any, y_pred: Any, groups: np.ndarray, min_group_size: int,
               seed: int) -> dict[str, Any]:
    """Per-group mean absolute error with a bootstrap interval, and the largest gap."""
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import mean_absolute_error

    yt, yp = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    low, high = (1 - CONFIDENCE) / 2, 1 - (1 - CONFIDENCE) / 2
    frame = MetricFrame(metrics={"mae": mean_absolute_error}, y_true=yt, y_pred=yp,
                        sensitive_features=groups, n_boot=BOOTSTRAP_SAMPLES,
                        ci_quantiles=[low, high], random_state=seed)
    by_group, (ci_low, ci_high) = frame.by_group["mae"], frame.by_group_ci
    rows = []
    for g in sorted(set(groups)):
        n = int((groups == g).sum())
        rows.append({"group": g, "n": n, "too_small": n < min_group_size,
                     "mae": {"value": _round(by_group[g]), "n": n,
                             "ci": [_round(ci_low["mae"][g]), _round(ci_high["mae"][g])]}})
    judged = [r for r in rows if not r["too_small"]]
    gaps: dict[str, float | None] = dict.fromkeys(REGRESSION_GAPS)
    if len(judged) >= 2:
        values = [r["mae"]["value"] for r in judged]
        gaps = {"mae_difference": _round(max(values) - min(values)),
                "mae_ratio": _round(min(values) / max(values)) if max(values) > 0 else 1.0}
    return {"groups": rows, "gaps": gaps, "judged_groups": len(judged)}


def assess(df: Any, y_pred: Any, *, target: str, task: str, classes: list[str] | None,
           protected: tuple[str, ...], positive: str | None, min_group_size: int,
           seed: int) -> dict[str, Any]:
    """The fairness report for every protected column of `df` (the test set) and predictions."""
    missing = [c for c in protected if c not in df.columns]
    if missing:
        raise UserError(
            f"evaluate.protected: column(s) {', '.join(missing)} not in the test data; a "
            "protected column kept out of the features must still be kept in the data "
            "(list it in data.exclude, not remove it)")
    if target in protected:
        raise UserError(f"evaluate.protected: {target!r} is the target, not a group column")
    report: dict[str, Any] = {"task": task, "min_group_size": min_group_size,
                              "confidence": CONFIDENCE, "columns": {}}
    if task != "regression":
        if positive not in (classes or []):
            raise UserError(f"evaluate.positive_class: {positive!r} is not a class of the model "
                            f"(classes: {', '.join(classes or [])})")
        report["positive_class"] = positive
    for column in protected:
        groups = groups_of(df[column], column)
        if task == "regression":
            result = regression(df[target], y_pred, groups, min_group_size, seed)
        else:
            result = classification(df[target], y_pred, groups, report["positive_class"],
                                    min_group_size)
        report["columns"][column] = result
    return report
