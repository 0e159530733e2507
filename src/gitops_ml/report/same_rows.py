"""Both models scored on the same evaluation rows, none of which either model trained on.

The PR's test split is always scored; when the data changed, the base's test split too, each
labelled. A row is left out of a set when its content (every column, the target included) equals
a row either model trained on: when the split moved (another seed, new data), a row of the PR's
test split may be in the base model's training split, and a model is never judged on a row it
has seen. Rows are matched by content, not position, because positions change with the data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gitops_ml import metrics as mx
from gitops_ml.errors import UserError
from gitops_ml.modeling import class_scores, model_frame
from gitops_ml.report import comparison
from gitops_ml.report.comparison import Comparison
from gitops_ml.report.uncertainty import Settings

PR_SPLIT = "the PR's test split"
BASE_SPLIT = "the base's test split"


@dataclass(frozen=True)
class RowSet:
    """One set of evaluation rows: a test split, named for the report."""

    label: str                   # PR_SPLIT or BASE_SPLIT
    rows: pd.DataFrame


@dataclass(frozen=True)
class Outcome:
    """What the same-row comparison found: one comparison per set, or why there is none."""

    comparisons: tuple[Comparison, ...] = ()
    left_out: tuple[int, ...] = ()          # per comparison: rows dropped as seen in training
    skipped: tuple[str, ...] = ()           # sets not compared, with the reason
    source: str = ""                        # where the base model came from
    problem: str = ""                       # why nothing was compared (no base model ...)
    # The PR's model alone on its whole test split, when rows were left out of the paired
    # comparison: a floor is about this model, and none of these rows trained it, so it is
    # judged on all of them (a moved split leaves a fifth of them for the comparison).
    own: Comparison | None = None

    @property
    def gated(self) -> Comparison | None:
        """The comparison the metric gates judge: the PR's test split (always the first set)."""
        first = self.comparisons[0] if self.comparisons else None
        return first if first is not None and first.rows_label == PR_SPLIT else None

    @property
    def floor_estimates(self) -> dict[str, Any] | None:
        """What the floors judge: the PR's model on its whole test split (`own`, else the gated
        comparison, whose head intervals are the same when nothing was left out)."""
        judged = self.own or self.gated
        return None if judged is None else {m.estimate.metric: m.estimate
                                            for m in judged.metrics}

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the JSON report."""
        return {"comparisons": [c.as_dict() | {"left_out": n}
                                for c, n in zip(self.comparisons, self.left_out, strict=True)],
                "own": None if self.own is None else self.own.as_dict(),
                "skipped": list(self.skipped), "source": self.source or None,
                "problem": self.problem or None}


def row_keys(df: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's content, by column name (column order does not matter)."""
    ordered = df[sorted(df.columns, key=str)]
    return pd.util.hash_pandas_object(ordered, index=False).to_numpy()


def unseen(rows: pd.DataFrame, trained_on: Sequence[pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    """The rows whose content is in none of the training sets, and how many were left out.

    Only columns the evaluation rows have are compared, so a training set with an extra column
    (new data) still matches the same row.
    """
    seen: set[int] = set()
    for train in trained_on:
        common = [c for c in rows.columns if c in train.columns]
        if len(common) == len(rows.columns):
            seen.update(row_keys(train[common]).tolist())
    if not seen:
        return rows, 0
    keep = ~np.isin(row_keys(rows), np.fromiter(seen, dtype=np.uint64, count=len(seen)))
    return rows[keep], int((~keep).sum())


def _scores(bundle: dict[str, Any], df: pd.DataFrame, classes: list[Any],
            ) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Predicted labels (as codes into `classes`), class scores and whether they are
    probabilities, exactly as the evaluate stage computes them."""
    X = model_frame(df, bundle["contract"])
    pipeline = bundle["pipeline"]
    if bundle["task"] == "regression":
        return np.asarray(pipeline.predict(X), dtype=np.float64), None, False
    scores, probabilistic = class_scores(pipeline, X, list(pipeline.classes_))
    own = list(pipeline.classes_)
    pred = pipeline.classes_[scores.argmax(axis=1)] if probabilistic else pipeline.predict(X)
    # columns in `classes` order, so both models' column i scores the same class
    scores = scores[:, [own.index(c) for c in classes]]
    return mx.encode(pred, classes), scores, probabilistic


def compatible(base: dict[str, Any], head: dict[str, Any]) -> str | None:
    """Why the two models cannot be compared on the same rows, or None."""
    if base["task"] != head["task"]:
        return f"the base model is {base['task']}, this PR's is {head['task']}"
    if base["target"] != head["target"]:
        return f"the base model predicts {base['target']!r}, this PR's {head['target']!r}"
    if head["task"] != "regression" and \
            [mx.plain(c) for c in base["pipeline"].classes_] != \
            [mx.plain(c) for c in head["pipeline"].classes_]:
        return "the two models predict different sets of classes"
    return None


def compare_on(rows: RowSet, base: dict[str, Any], head: dict[str, Any], *,
               positive_class: Any, settings: Settings) -> Comparison:
    """Score both models on `rows` and compare them (`gitops_ml.report.comparison`)."""
    df, target = rows.rows, head["target"]
    y = df[target]
    if head["task"] == "regression":
        base_pred, _, _ = _scores(base, df, [])
        head_pred, _, _ = _scores(head, df, [])
        return comparison.regression(rows.label, y.to_numpy(dtype=np.float64), base_pred,
                                     head_pred, settings=settings)
    classes = list(head["pipeline"].classes_)
    positive = 1
    if head["task"] == "binary":
        counts = head.get("class_counts") or y.value_counts().to_dict()
        positive = mx.positive_index(classes, positive_class, counts)
    yc = mx.encode(y, classes)
    known = yc >= 0                      # a label neither model knows cannot be scored
    base_pred, base_scores, base_prob = _scores(base, df[known], classes)
    head_pred, head_scores, head_prob = _scores(head, df[known], classes)
    return comparison.classification(
        rows.label, yc[known], base_pred, head_pred, n_classes=len(classes), positive=positive,
        settings=settings, base_scores=base_scores, head_scores=head_scores,
        probabilistic=base_prob and head_prob)


def compare(sets: Sequence[RowSet], base: dict[str, Any], head: dict[str, Any],
            trained_on: Sequence[pd.DataFrame], *, positive_class: Any,
            settings: Settings, source: str = "") -> Outcome:
    """Each set of rows, less those either model trained on, scored by both models."""
    reason = compatible(base, head)
    if reason:
        return Outcome(skipped=tuple(f"{s.label}: {reason}" for s in sets), source=source)
    comparisons, left_out, skipped = [], [], []
    own = None
    for s in sets:
        rows, dropped = unseen(s.rows, trained_on)
        if s.label == PR_SPLIT and dropped:
            with contextlib.suppress(UserError):      # the paired comparison says why
                own = compare_on(s, head, head, positive_class=positive_class,
                                 settings=settings)
        if len(rows) == 0:
            skipped.append(f"{s.label}: every row is in a model's training split")
            continue
        try:
            result = compare_on(RowSet(s.label, rows), base, head,
                                positive_class=positive_class, settings=settings)
        except UserError as exc:          # e.g. a feature column the other data lacks
            skipped.append(f"{s.label}: {exc}")
            continue
        comparisons.append(result)
        left_out.append(dropped)
    return Outcome(tuple(comparisons), tuple(left_out), tuple(skipped), source=source, own=own)
