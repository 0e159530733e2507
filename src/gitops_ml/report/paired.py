"""Which rows two models on the same rows disagree on: flips with McNemar's test, or differences.

McNemar's exact test asks whether the rows the head got newly right and newly wrong are as
likely as each other: under that hypothesis the newly-right count is Binomial(discordant, 1/2),
so the two-sided p-value is min(1, 2 * P[X <= min(b, c)]), the definition of statsmodels'
`mcnemar(exact=True)` (statsmodels.stats.contingency_tables.mcnemar) and equal to
`scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue` for p = 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


def mcnemar_exact(newly_wrong: int, newly_right: int) -> float:
    """Two-sided exact p-value for the discordant counts; 1.0 when there are none."""
    n = newly_wrong + newly_right
    if n == 0:
        return 1.0
    return float(min(1.0, 2 * stats.binom.cdf(min(newly_wrong, newly_right), n, 0.5)))


@dataclass(frozen=True)
class Flips:
    """How the head's predictions changed from the base's, row by row (classification)."""

    rows: int
    unchanged: int               # same prediction
    newly_wrong: int             # base right, head wrong
    newly_right: int             # base wrong, head right
    still_wrong: int             # both wrong, different predictions (multiclass)
    mcnemar_p: float             # exact test on newly_wrong vs newly_right

    @property
    def changed(self) -> int:
        return self.rows - self.unchanged

    def as_dict(self) -> dict[str, float]:
        """Plain data for the JSON report."""
        return dict(self.__dict__) | {"changed": self.changed}


def flips(y: np.ndarray, base_pred: np.ndarray, head_pred: np.ndarray) -> Flips:
    """Count the rows whose prediction changed, by whether it was and is right."""
    y, base_pred, head_pred = np.asarray(y), np.asarray(base_pred), np.asarray(head_pred)
    base_ok, head_ok = base_pred == y, head_pred == y
    same = base_pred == head_pred
    wrong, right = int((base_ok & ~head_ok).sum()), int((~base_ok & head_ok).sum())
    return Flips(len(y), int(same.sum()), wrong, right, int((~same & ~base_ok & ~head_ok).sum()),
                 mcnemar_exact(wrong, right))


@dataclass(frozen=True)
class Differences:
    """How far the head's predictions moved from the base's (regression), head - base."""

    rows: int
    changed: int                 # rows whose prediction moved at all
    quantiles: dict[float, float]

    def as_dict(self) -> dict[str, object]:
        """Plain data for the JSON report."""
        return {"rows": self.rows, "changed": self.changed,
                "quantiles": {f"{q:g}": v for q, v in self.quantiles.items()}}


def differences(base_pred: np.ndarray, head_pred: np.ndarray) -> Differences:
    """The distribution of head - base over the rows, as quantiles (0 and 1 are min and max)."""
    diff = np.asarray(head_pred, dtype=np.float64) - np.asarray(base_pred, dtype=np.float64)
    values = np.quantile(diff, QUANTILES) if len(diff) else [np.nan] * len(QUANTILES)
    return Differences(len(diff), int(np.count_nonzero(diff)),
                       {q: float(v) for q, v in zip(QUANTILES, values, strict=True)})
