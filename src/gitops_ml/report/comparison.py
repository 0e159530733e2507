"""Two models on the same rows, as plain data any renderer can show, and as a Markdown table.

One `Comparison` per set of evaluation rows (the PR's test split; the base's too when the data
changed): per metric the base, the PR, the difference with its interval and one word; the rows
whose prediction changed; and, once the gates have judged it, which gate decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from gitops_ml.report import paired, uncertainty
from gitops_ml.report.diff import DIRECTIONS
from gitops_ml.report.formatting import cell, num, signed
from gitops_ml.report.gates import GateResult
from gitops_ml.report.paired import Differences, Flips
from gitops_ml.report.uncertainty import Estimate, Settings

WORDS = ("better", "worse", "no detectable change")


def word(metric: str, estimate: Estimate) -> str:
    """better / worse when the whole interval of the difference is on one side of 0."""
    low, high = estimate.delta_interval.low, estimate.delta_interval.high
    direction = DIRECTIONS.get(metric, 0)
    if direction == 0 or not (low > 0 or high < 0):    # nan bounds compare False: no claim
        return "no detectable change"
    return "better" if (low > 0) == (direction > 0) else "worse"


@dataclass(frozen=True)
class MetricRow:
    """One metric: both models on the same rows, the difference and what it means."""

    estimate: Estimate
    word: str                    # better | worse | no detectable change

    def as_dict(self) -> dict[str, object]:
        """Plain data for the JSON report."""
        return self.estimate.as_dict() | {"word": self.word}


@dataclass(frozen=True)
class Comparison:
    """The base and PR models scored on one set of rows."""

    rows_label: str              # which rows, e.g. "the PR's test split"
    rows: int
    settings: Settings
    metrics: tuple[MetricRow, ...]
    flips: Flips | None = None                  # classification
    differences: Differences | None = None      # regression
    gates: tuple[GateResult, ...] = ()          # the gates judged on these rows

    @property
    def deciding(self) -> GateResult | None:
        """The gate that stops the merge (a failure before an inconclusive non-inferiority),
        or None when none does."""
        blocking = [g for g in self.gates if g.blocks_merge]
        failed = [g for g in blocking if g.status != "inconclusive"]
        return (failed or blocking or [None])[0]

    def with_gates(self, results: Sequence[GateResult]) -> Comparison:
        """This comparison with the metric gates' verdicts on it."""
        keys = ("gates.floors.", "gates.max_regression.")
        return replace(self, gates=tuple(g for g in results if g.key.startswith(keys)))

    def as_dict(self) -> dict[str, object]:
        """Plain data for the JSON report."""
        deciding = self.deciding
        return {
            "rows_label": self.rows_label, "rows": self.rows, "seed": self.settings.seed,
            "resamples": self.settings.resamples, "confidence": self.settings.confidence,
            "metrics": [m.as_dict() for m in self.metrics],
            "flips": None if self.flips is None else self.flips.as_dict(),
            "differences": None if self.differences is None else self.differences.as_dict(),
            "gates": [g.as_dict() for g in self.gates],
            "deciding": None if deciding is None else deciding.key,
        }


def _rows(estimates: list[Estimate]) -> tuple[MetricRow, ...]:
    order = {m: i for i, m in enumerate(DIRECTIONS)}
    ranked = sorted(estimates, key=lambda e: order.get(e.metric, len(order)))
    return tuple(MetricRow(e, word(e.metric, e)) for e in ranked)


def classification(rows_label: str, y: np.ndarray, base_pred: np.ndarray,
                   head_pred: np.ndarray, *, n_classes: int, positive: int, settings: Settings,
                   base_scores: np.ndarray | None = None, head_scores: np.ndarray | None = None,
                   probabilistic: bool = True) -> Comparison:
    """Compare two classifiers on the same rows; labels as codes 0..n_classes-1."""
    estimates = uncertainty.classification(
        y, base_pred, head_pred, n_classes=n_classes, positive=positive, settings=settings,
        base_scores=base_scores, head_scores=head_scores, probabilistic=probabilistic)
    return Comparison(rows_label, len(y), settings, _rows(estimates),
                      flips=paired.flips(y, base_pred, head_pred))


def regression(rows_label: str, y: np.ndarray, base_pred: np.ndarray, head_pred: np.ndarray,
               *, settings: Settings) -> Comparison:
    """Compare two regressors on the same rows."""
    estimates = uncertainty.regression(y, base_pred, head_pred, settings=settings)
    return Comparison(rows_label, len(y), settings, _rows(estimates),
                      differences=paired.differences(base_pred, head_pred))


# --- Markdown ---------------------------------------------------------------------------------

def markdown(comparison: Comparison) -> str:
    """The comparison as a GitHub-flavoured Markdown table with the lines that explain it."""
    c = comparison
    level = f"{c.settings.confidence * 100:g}%"
    lines = [f"| Metric | Base | PR | Δ ({level} interval) | |", "|---|---:|---:|---|---|"]
    for row in c.metrics:
        e = row.estimate
        lines.append(f"| {e.metric} | {num(e.base)} | {num(e.head)} | {signed(e.delta)} "
                     f"[{signed(e.delta_interval.low)}, {signed(e.delta_interval.high)}] | "
                     f"{row.word} |")
    lines += ["", f"Both models on the same {c.rows:,} rows ({cell(c.rows_label, 80)}); "
                  f"intervals from a paired bootstrap over the rows"
                  f"{', within each class' if c.flips is not None else ''} "
                  f"({c.settings.resamples:,} resamples, seed {c.settings.seed})."]
    if c.flips is not None:
        f = c.flips
        lines.append(f"Predictions changed on {f.changed:,} of {f.rows:,} rows: "
                     f"{f.newly_wrong:,} correct → wrong, {f.newly_right:,} wrong → correct"
                     + (f", {f.still_wrong:,} wrong → another wrong class" if f.still_wrong
                        else "")
                     + f" (McNemar's exact test on the {f.newly_wrong + f.newly_right:,} "
                       f"that changed correctness: p = {f.mcnemar_p:.3g}).")
    if c.differences is not None:
        q = c.differences.quantiles
        lines.append(f"Predictions moved on {c.differences.changed:,} of "
                     f"{c.differences.rows:,} rows; PR − base: median {signed(q[0.5])}, "
                     f"middle 90% [{signed(q[0.05])}, {signed(q[0.95])}], "
                     f"range [{signed(q[0.0])}, {signed(q[1.0])}].")
    if c.gates:
        deciding = c.deciding
        if deciding is None:
            lines.append("No metric gate blocks the merge.")
        else:
            lines.append(f"Decided by `{deciding.key}` ({deciding.gate}, rule "
                         f"{cell(deciding.rule, 120)}): {deciding.status}, "
                         f"{cell(deciding.detail, 200)}.")
    return "\n".join(lines) + "\n"
