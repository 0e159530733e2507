"""Metric deltas that respect each metric's direction, and the diff of flattened params."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# The one table of metric directions: +1 means higher is better, -1 lower is better. Its order is
# the order of the report's metrics table; the first metric a task produces is the headline.
DIRECTIONS: dict[str, int] = {
    "roc_auc": 1,
    "accuracy": 1,
    "balanced_accuracy": 1,
    "f1_macro": 1,
    "f1": 1,
    "precision": 1,
    "recall": 1,
    "log_loss": -1,
    "rmse": -1,
    "mae": -1,
    "r2": 1,
}


@dataclass(frozen=True)
class MetricDelta:
    """One metric of the base and head models and how it moved."""

    name: str
    base: float | None
    head: float | None
    abs_delta: float | None
    rel_delta: float | None      # abs_delta / |base|; None when base is missing or zero
    direction: int               # +1 higher is better, -1 lower is better, 0 unknown
    change: str                  # better | worse | same | new | removed | changed

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the JSON report."""
        return dict(self.__dict__)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def metric_deltas(base: dict[str, Any] | None, head: dict[str, Any]) -> list[MetricDelta]:
    """Compare two flat metrics mappings; known metrics first, in `DIRECTIONS` order."""
    base = base or {}
    names = [m for m in DIRECTIONS if m in head or m in base]
    names += sorted((set(head) | set(base)) - set(DIRECTIONS))
    out = []
    for name in names:
        b, h = _number(base.get(name)), _number(head.get(name))
        direction = DIRECTIONS.get(name, 0)
        if h is None and b is None:
            continue
        if b is None:
            out.append(MetricDelta(name, None, h, None, None, direction, "new"))
            continue
        if h is None:
            out.append(MetricDelta(name, b, None, None, None, direction, "removed"))
            continue
        delta = h - b
        rel = delta / abs(b) if b != 0 else None
        if delta == 0:
            change = "same"
        elif direction == 0:
            change = "changed"
        else:
            change = "better" if delta * direction > 0 else "worse"
        out.append(MetricDelta(name, b, h, delta, rel, direction, change))
    return out


def flatten(params: Any, prefix: str = "") -> dict[str, Any]:
    """`{"model": {"params": {"C": 1}}}` -> `{"model.params.C": 1}`; lists stay whole values."""
    if not isinstance(params, dict):
        return {prefix: params} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


@dataclass(frozen=True)
class ParamChange:
    """One params key that differs between base and head."""

    key: str
    base: Any
    head: Any
    kind: str                    # changed | added | removed

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the JSON report."""
        return dict(self.__dict__)


def params_diff(base: dict[str, Any] | None, head: dict[str, Any]) -> list[ParamChange]:
    """The flattened keys whose values differ, sorted by key."""
    b, h = flatten(base or {}), flatten(head)
    changes = []
    for key in sorted(set(b) | set(h)):
        if key not in b:
            changes.append(ParamChange(key, None, h[key], "added"))
        elif key not in h:
            changes.append(ParamChange(key, b[key], None, "removed"))
        elif b[key] != h[key]:
            changes.append(ParamChange(key, b[key], h[key], "changed"))
    return changes
