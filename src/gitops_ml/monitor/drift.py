"""Per-feature and prediction drift: PSI for size, a test (KS or chi-square) for significance.

A feature alarms when its shift is both large (PSI at or above `psi_threshold`) and unlikely by
chance (p below `alpha` divided by the number of tests, Bonferroni), so a batch drawn from the
training distribution raises an alarm in at most about `alpha` of cases; a changed missing rate
or a share of unseen categories alarms on its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gitops_ml.config import MonitorConfig
from gitops_ml.errors import UserError

UNSEEN = "(unseen)"
EXAMPLES = 5


def _shares(counts: np.ndarray) -> np.ndarray:
    """Proportions smoothed by half a count per bin, so an empty bin does not make PSI infinite."""
    counts = counts.astype(float) + 0.5
    return counts / counts.sum()


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index between two histograms over the same bins."""
    p, q = _shares(ref_counts), _shares(cur_counts)
    return float(np.sum((q - p) * np.log(q / p)))


def quantile_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (duplicates dropped for discrete data)."""
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def numeric_drift(ref: np.ndarray, cur: np.ndarray, bins: int) -> dict[str, Any]:
    """PSI on reference-quantile bins and the two-sample Kolmogorov-Smirnov test."""
    from scipy.stats import ks_2samp

    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return {"kind": "numeric", "psi": None, "p_value": None, "test": "ks"}
    edges = quantile_edges(ref, bins)
    k = len(edges) + 1
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=k)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=k)
    return {
        "kind": "numeric",
        "psi": round(psi(ref_counts, cur_counts), 6),
        "p_value": float(f"{ks_2samp(ref, cur, method='asymp').pvalue:.4g}"),
        "test": "ks",
        "reference_mean": round(float(ref.mean()), 6),
        "current_mean": round(float(cur.mean()), 6),
    }


def categorical_drift(ref: np.ndarray, cur: np.ndarray) -> dict[str, Any]:
    """PSI over the reference's categories plus an unseen bucket, and a chi-square test."""
    from scipy.stats import chi2_contingency

    categories, ref_counts = np.unique(ref.astype(str), return_counts=True)
    index = {c: i for i, c in enumerate(categories)}
    cur_str = cur.astype(str)
    cur_idx = np.array([index.get(v, len(categories)) for v in cur_str], dtype=int)
    cur_counts = np.bincount(cur_idx, minlength=len(categories) + 1)
    ref_full = np.append(ref_counts, 0)
    unseen = sorted(set(cur_str[cur_idx == len(categories)]))
    table = np.vstack([ref_full, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    p_value = 1.0 if table.shape[1] < 2 else float(chi2_contingency(table)[1])
    return {
        "kind": "categorical",
        "psi": round(psi(ref_full, cur_counts), 6),
        "p_value": float(f"{p_value:.4g}"),
        "test": "chi-square",
        "unseen_share": round(float(cur_counts[-1] / max(len(cur), 1)), 6),
        "unseen_examples": unseen[:EXAMPLES],
    }


def _missing_p_value(ref_missing: int, n_ref: int, cur_missing: int, n_cur: int) -> float:
    """Two-proportion test of a changed missing rate (Fisher's exact, two-sided)."""
    from scipy.stats import fisher_exact

    table = [[ref_missing, n_ref - ref_missing], [cur_missing, n_cur - cur_missing]]
    return float(fisher_exact(table).pvalue)


def _is_missing(values: Any) -> np.ndarray:
    import pandas as pd

    return pd.isna(values).to_numpy() if hasattr(values, "to_numpy") else pd.isna(values)


def column_drift(ref: Any, cur: Any, numeric: bool, cfg: MonitorConfig,
                 alpha: float) -> dict[str, Any]:
    """Drift of one column, with the verdict and the reasons for it."""
    ref_missing, cur_missing = _is_missing(ref), _is_missing(cur)
    if numeric:
        out = numeric_drift(np.asarray(ref, dtype=float), np.asarray(cur, dtype=float), cfg.bins)
    else:
        out = categorical_drift(np.asarray(ref, dtype=object)[~ref_missing],
                                np.asarray(cur, dtype=object)[~cur_missing])
    out["reference_missing_rate"] = round(float(ref_missing.mean()), 6)
    out["current_missing_rate"] = round(float(cur_missing.mean()), 6)
    reasons = []
    if out["psi"] is not None and out["psi"] >= cfg.psi_threshold and out["p_value"] < alpha:
        reasons.append(f"distribution shifted (PSI {out['psi']:.3f}, p={out['p_value']:.2g})")
    delta = out["current_missing_rate"] - out["reference_missing_rate"]
    if abs(delta) > cfg.missing_rate_delta and _missing_p_value(
            int(ref_missing.sum()), len(ref_missing), int(cur_missing.sum()),
            len(cur_missing)) < alpha:
        reasons.append(f"missing rate {out['reference_missing_rate']:.1%} -> "
                       f"{out['current_missing_rate']:.1%}")
    if not numeric and out["unseen_share"] > cfg.max_unseen_share:
        reasons.append(f"{out['unseen_share']:.1%} of values are categories never seen in "
                       "training")
    out["drifted"] = bool(reasons)
    out["reasons"] = reasons
    return out


def detect(reference: Any, current: Any, features: list[tuple[str, bool]], cfg: MonitorConfig,
           ref_pred: Any = None, cur_pred: Any = None,
           pred_numeric: bool = False) -> dict[str, Any]:
    """Compare `current` with `reference` for each (column, is_numeric) in `features`."""
    missing = [name for name, _ in features if name not in current.columns]
    if missing:
        raise UserError(f"current batch: feature column(s) missing: {', '.join(missing)}")
    if len(current) < cfg.min_rows:
        raise UserError(f"current batch: {len(current)} rows, fewer than monitor.min_rows "
                        f"({cfg.min_rows}); too few to judge drift")
    with_predictions = ref_pred is not None and cur_pred is not None
    tests = len(features) + (1 if with_predictions else 0)
    alpha = cfg.alpha / tests
    columns = {name: column_drift(reference[name], current[name], numeric, cfg, alpha)
               for name, numeric in features}
    prediction = (column_drift(ref_pred, cur_pred, pred_numeric, cfg, alpha)
                  if with_predictions else None)
    drifted = [name for name, result in columns.items() if result["drifted"]]
    if prediction is not None and prediction["drifted"]:
        drifted.append("(prediction)")
    return {
        "drift": bool(drifted),
        "drifted": drifted,
        "reference_rows": int(len(reference)),
        "current_rows": int(len(current)),
        "per_test_alpha": float(f"{alpha:.4g}"),
        "thresholds": cfg.model_dump(),
        "features": columns,
        "prediction": prediction,
    }
