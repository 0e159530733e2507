"""A paired, seeded bootstrap: every metric of two models on the same rows, and their difference.

Each resample draws rows with replacement (within each true class, for classification, so every
resample keeps the class counts of the evaluation rows) and scores *both* models on that same
resample, so the interval of a difference reflects how much the two models disagree, not how
hard the rows are. The interval is the percentile interval of the resampled values.

A resample is a vector of row weights (how often each row was drawn); every metric is computed
from weights, so the cost is a few passes over a (resamples x rows) weight matrix, in chunks.
ROC AUC is computed exactly per resample up to `EXACT_AUC_ROWS` rows; above, from its linear
projection (DeLong's placement values, DeLong et al. 1988, Biometrics 44:837), which differs from
the exact resampled AUC by O(1/rows) and turns AUC into a weighted mean like the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

CONFIDENCE = 0.95
RESAMPLES = 1000
# Above this many rows the exact resampled AUC (sort order, tie groups, cumulative sums per
# resample) costs seconds per 1000 resamples; its linear projection costs one matrix product.
EXACT_AUC_ROWS = 10_000
# Weights held at once (resamples x rows); 8M float64 is 64 MB.
_CHUNK_WEIGHTS = 8_000_000


@dataclass(frozen=True)
class Interval:
    """A two-sided interval at `confidence`."""

    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        """Plain data for the JSON report."""
        return {"low": self.low, "high": self.high}


@dataclass(frozen=True)
class Estimate:
    """One metric of the base and head models on the same rows, and the paired difference."""

    metric: str
    base: float
    head: float
    base_interval: Interval
    head_interval: Interval
    delta_interval: Interval     # of head - base

    @property
    def delta(self) -> float:
        return self.head - self.base

    def as_dict(self) -> dict[str, object]:
        """Plain data for the JSON report."""
        return {"metric": self.metric, "base": self.base, "head": self.head, "delta": self.delta,
                "base_interval": self.base_interval.as_dict(),
                "head_interval": self.head_interval.as_dict(),
                "delta_interval": self.delta_interval.as_dict()}


@dataclass(frozen=True)
class Settings:
    """How the bootstrap runs; the same settings and rows give the same intervals."""

    seed: int
    resamples: int = RESAMPLES
    confidence: float = CONFIDENCE

    def __post_init__(self) -> None:
        if self.resamples < 1:
            raise ValueError(f"resamples must be at least 1, got {self.resamples}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")


# A metric as a function of row weights (chunk x rows) -> values (chunk,), for base and head.
_PairFn = Callable[[np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]


def _run(pair_fn: _PairFn, strata: list[int], settings: Settings) -> list[Estimate]:
    """Point values (all weights 1) and percentile intervals over stratified resamples.

    `strata` are the sizes of consecutive blocks of rows resampled separately.
    """
    n = sum(strata)
    if n == 0:
        raise ValueError("no evaluation rows to compare the models on")
    point = pair_fn(np.ones((1, n)))
    rng = np.random.default_rng(settings.seed)
    chunk = max(1, min(settings.resamples, _CHUNK_WEIGHTS // n))
    drawn: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {name: [] for name in point}
    done = 0
    while done < settings.resamples:
        size = min(chunk, settings.resamples - done)
        values = pair_fn(_weights(rng, strata, size))
        for name, pair in values.items():
            drawn[name].append(pair)
        done += size
    tail = (1 - settings.confidence) / 2
    out = []
    for name, (base_point, head_point) in point.items():
        base = np.concatenate([b for b, _ in drawn[name]])
        head = np.concatenate([h for _, h in drawn[name]])
        out.append(Estimate(name, float(base_point[0]), float(head_point[0]),
                            _interval(base, tail), _interval(head, tail),
                            _interval(head - base, tail)))
    return out


def _interval(values: np.ndarray, tail: float) -> Interval:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Interval(math.nan, math.nan)
    low, high = np.quantile(finite, [tail, 1 - tail])
    return Interval(float(low), float(high))


def _weights(rng: np.random.Generator, strata: list[int], size: int) -> np.ndarray:
    """`size` resamples as row weights: each block of rows drawn with replacement on its own."""
    out = np.empty((size, sum(strata)))
    start = 0
    for rows in strata:
        draws = rng.integers(0, rows, size=(size, rows))
        draws += np.arange(size)[:, None] * rows       # one bincount for the whole chunk
        out[:, start:start + rows] = np.bincount(draws.ravel(),
                                                 minlength=size * rows).reshape(size, rows)
        start += rows
    return out


# --- classification ---------------------------------------------------------------------------

def _cells(y: np.ndarray, pred: np.ndarray, k: int) -> sparse.csr_matrix:
    """Each row's confusion cell (true, predicted), one-hot: (k * k, rows)."""
    n = len(y)
    return sparse.csr_matrix((np.ones(n), (y * k + pred, np.arange(n))), shape=(k * k, n))


def _confusion(weights: np.ndarray, cells: sparse.csr_matrix, k: int) -> np.ndarray:
    """Weighted confusion matrices, (chunk, true, predicted)."""
    return np.asarray(cells @ weights.T).T.reshape(-1, k, k)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (scikit-learn's `zero_division=0`)."""
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _label_metrics(cm: np.ndarray, positive: int) -> dict[str, np.ndarray]:
    """What `gitops_ml.metrics.classification_metrics` reports from labels, per confusion."""
    tp = np.diagonal(cm, axis1=1, axis2=2)
    support, predicted = cm.sum(axis=2), cm.sum(axis=1)
    recall, precision = _ratio(tp, support), _ratio(tp, predicted)
    f1 = _ratio(2 * tp, support + predicted)
    present = support[0] > 0            # stratified: the same classes in every resample
    out = {
        "accuracy": tp.sum(axis=1) / cm.sum(axis=(1, 2)),
        "balanced_accuracy": recall[:, present].mean(axis=1),
        "f1_macro": f1.mean(axis=1),
    }
    if cm.shape[1] == 2:
        out |= {"precision": precision[:, positive], "recall": recall[:, positive],
                "f1": f1[:, positive]}
    else:
        out |= {"precision": precision.mean(axis=1), "recall": recall.mean(axis=1)}
    return out


@dataclass(frozen=True)
class _Ranked:
    """One score column sorted once, for the AUC of one class against the rest."""

    order: np.ndarray
    starts: np.ndarray           # first position of each run of tied scores
    positive: np.ndarray         # sorted rows of the class, as 0/1
    linear: np.ndarray           # per row: its placement value / class size (DeLong)
    auc: float

    @classmethod
    def of(cls, scores: np.ndarray, is_positive: np.ndarray) -> _Ranked:
        order = np.argsort(scores, kind="stable")
        s = scores[order]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        positive = is_positive[order].astype(np.float64)
        pos_g = np.add.reduceat(positive, starts)
        neg_g = np.add.reduceat(1 - positive, starts)
        n_pos, n_neg = pos_g.sum(), neg_g.sum()
        below = np.cumsum(neg_g) - neg_g                  # negatives scored lower
        above = n_pos - np.cumsum(pos_g)                  # positives scored higher
        auc = float((pos_g * (below + 0.5 * neg_g)).sum() / (n_pos * n_neg))
        group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(s)]))
        placement = np.where(positive == 1, (below + 0.5 * neg_g)[group] / n_neg,
                             (above + 0.5 * pos_g)[group] / n_pos)
        linear = np.empty_like(placement)
        linear[order] = placement / np.where(positive == 1, n_pos, n_neg)
        return cls(order, starts, positive, linear, auc)

    def exact(self, weights: np.ndarray) -> np.ndarray:
        w = weights[:, self.order]
        pos_g = np.add.reduceat(w * self.positive, self.starts, axis=1)
        neg_g = np.add.reduceat(w * (1 - self.positive), self.starts, axis=1)
        below = np.cumsum(neg_g, axis=1) - neg_g
        return (pos_g * (below + 0.5 * neg_g)).sum(axis=1) / (pos_g.sum(1) * neg_g.sum(1))


def _ranked(y: np.ndarray, scores: np.ndarray, positive: int) -> list[_Ranked]:
    k = scores.shape[1]
    classes = [positive] if k == 2 else range(k)
    return [_Ranked.of(scores[:, i], y == i) for i in classes]


def _log_loss_rows(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    # scikit-learn's `log_loss` clips to the float's eps (sklearn.metrics.log_loss, >= 1.5)
    eps = np.finfo(proba.dtype).eps
    return -np.log(np.clip(proba[np.arange(len(y)), y], eps, 1 - eps))


def classification(y: np.ndarray, base_pred: np.ndarray, head_pred: np.ndarray, *, n_classes: int,
                   positive: int, settings: Settings, base_scores: np.ndarray | None = None,
                   head_scores: np.ndarray | None = None, probabilistic: bool = True,
                   ) -> list[Estimate]:
    """Every classification metric of both models, with intervals; labels as codes 0..k-1.

    Scores (one column per class) add ROC AUC, and log loss when they are probabilities; AUC is
    left out when a class has no row, as `gitops_ml.metrics` does.
    """
    y, base_pred, head_pred = (np.asarray(a, dtype=np.int64) for a in (y, base_pred, head_pred))
    order = np.argsort(y, kind="stable")          # classes in blocks, resampled separately
    y, base_pred, head_pred = y[order], base_pred[order], head_pred[order]
    strata = [int(c) for c in np.bincount(y, minlength=n_classes) if c > 0]
    n = len(y)
    with_scores = base_scores is not None and head_scores is not None
    columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    ranked: tuple[list[_Ranked], list[_Ranked]] | None = None
    if with_scores:
        bs, hs = np.asarray(base_scores)[order], np.asarray(head_scores)[order]
        if probabilistic:
            columns["log_loss"] = (_log_loss_rows(y, bs), _log_loss_rows(y, hs))
        if len(strata) == n_classes:
            ranked = (_ranked(y, bs, positive), _ranked(y, hs, positive))
            if n > EXACT_AUC_ROWS:
                columns["roc_auc"] = tuple(
                    np.mean([r.linear for r in side], axis=0) for side in ranked)
    names = list(columns)
    matrix = np.column_stack([c for pair in columns.values() for c in pair]) if names else None
    aucs = None if ranked is None else tuple(np.mean([r.auc for r in s]) for s in ranked)

    cells = (_cells(y, base_pred, n_classes), _cells(y, head_pred, n_classes))

    def pair_fn(weights: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        base = _label_metrics(_confusion(weights, cells[0], n_classes), positive)
        head = _label_metrics(_confusion(weights, cells[1], n_classes), positive)
        out = {name: (base[name], head[name]) for name in base}
        if matrix is not None:
            sums = weights @ matrix
            for i, name in enumerate(names):
                b, h = sums[:, 2 * i], sums[:, 2 * i + 1]
                if name == "log_loss":
                    out[name] = (b / n, h / n)
                else:                     # linear AUC: sum of placements minus the AUC
                    out[name] = (b - aucs[0], h - aucs[1])
        if ranked is not None and n <= EXACT_AUC_ROWS:
            out["roc_auc"] = tuple(np.mean([r.exact(weights) for r in side], axis=0)
                                   for side in ranked)
        return out

    return _run(pair_fn, strata, settings)


# --- regression -------------------------------------------------------------------------------

def regression(y: np.ndarray, base_pred: np.ndarray, head_pred: np.ndarray, *,
               settings: Settings) -> list[Estimate]:
    """RMSE, MAE and R² of both models, with intervals, over plain (unstratified) resamples."""
    y, base_pred, head_pred = (np.asarray(a, dtype=np.float64) for a in (y, base_pred, head_pred))
    n = len(y)
    matrix = np.column_stack([y, y * y, (base_pred - y) ** 2, (head_pred - y) ** 2,
                              np.abs(base_pred - y), np.abs(head_pred - y)])

    def pair_fn(weights: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        s = weights @ matrix
        total = s[:, 1] - s[:, 0] ** 2 / n
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = (1 - s[:, 2] / total, 1 - s[:, 3] / total)   # nan when y is constant
        return {"rmse": (np.sqrt(s[:, 2] / n), np.sqrt(s[:, 3] / n)),
                "mae": (s[:, 4] / n, s[:, 5] / n), "r2": r2}

    return _run(pair_fn, [n], settings)
