"""The one loader from params.yaml to typed, validated config objects; errors name the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitops_ml.errors import UserError

TASKS = ("auto", "binary", "multiclass", "regression")
_MISSING = object()


def read_params(path: str | Path) -> dict[str, Any]:
    """Read params.yaml into a mapping."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"params file not found: {p}")
    try:
        params = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{p}: not valid YAML: {exc}") from exc
    if not isinstance(params, dict):
        raise UserError(f"{p}: must be a mapping of sections, got {type(params).__name__}")
    return params


def _section(params: dict[str, Any], key: str) -> dict[str, Any]:
    value = params.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{key}: must be a mapping, got {value!r}")
    return value


def _value(section: dict[str, Any], prefix: str, key: str, kind: type | tuple[type, ...],
           default: Any = _MISSING) -> Any:
    """Read `section[key]`, checking its type; the error names `prefix.key`."""
    name = f"{prefix}.{key}" if prefix else key
    if key not in section or section[key] is None:
        if default is _MISSING:
            raise UserError(f"{name}: required but missing")
        return default
    value = section[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python; a YAML `true` where a number belongs is a mistake.
    if isinstance(value, bool) and bool not in kinds:
        raise UserError(f"{name}: expected {_describe(kinds)}, got {value!r}")
    if float in kinds and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kinds):
        raise UserError(f"{name}: expected {_describe(kinds)}, got {value!r}")
    return value


def _describe(kinds: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
             list: "a list", dict: "a mapping"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _in_range(name: str, value: float, low: float, high: float, *, open_low: bool = False) -> None:
    if value < low or value > high or (open_low and value == low):
        bracket = "(" if open_low else "["
        raise UserError(f"{name}: must be in {bracket}{low}, {high}], got {value!r}")


@dataclass(frozen=True)
class SyntheticConfig:
    """Shape of a generated dataset (`data.source: synthetic`)."""

    rows: int = 2000
    numeric: int = 8
    categorical: int = 2
    categories: int = 5
    missing_rate: float = 0.02
    classes: int = 2

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> SyntheticConfig:
        p = "data.synthetic"
        cfg = cls(
            rows=_value(section, p, "rows", int, cls.rows),
            numeric=_value(section, p, "numeric", int, cls.numeric),
            categorical=_value(section, p, "categorical", int, cls.categorical),
            categories=_value(section, p, "categories", int, cls.categories),
            missing_rate=_value(section, p, "missing_rate", float, cls.missing_rate),
            classes=_value(section, p, "classes", int, cls.classes),
        )
        _in_range(f"{p}.rows", cfg.rows, 1, 10**9)
        _in_range(f"{p}.numeric", cfg.numeric, 1, 10_000)
        _in_range(f"{p}.categorical", cfg.categorical, 0, 10_000)
        _in_range(f"{p}.categories", cfg.categories, 2, 10_000)
        _in_range(f"{p}.missing_rate", cfg.missing_rate, 0.0, 0.9)
        _in_range(f"{p}.classes", cfg.classes, 0, 1000)
        if cfg.classes == 1:
            raise UserError(f"{p}.classes: must be 0 (regression) or at least 2, got 1")
        return cfg


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and which column is the target."""

    source: str
    target: str
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    exclude: tuple[str, ...] = ()   # columns never used as features (IDs, free text)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DataConfig:
        section = _section(params, "data")
        synthetic = section.get("synthetic") or {}
        if not isinstance(synthetic, dict):
            raise UserError(f"data.synthetic: must be a mapping, got {synthetic!r}")
        exclude = _value(section, "data", "exclude", list, [])
        for i, name in enumerate(exclude):
            if not isinstance(name, str):
                raise UserError(f"data.exclude[{i}]: expected a column name, got {name!r}")
        return cls(
            source=_value(section, "data", "source", str),
            target=_value(section, "data", "target", str),
            synthetic=SyntheticConfig.from_params(synthetic),
            exclude=tuple(exclude),
        )


@dataclass(frozen=True)
class SplitConfig:
    """How the data is split into train and test."""

    test_size: float = 0.2

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SplitConfig:
        section = _section(params, "split")
        test_size = _value(section, "split", "test_size", float, cls.test_size)
        _in_range("split.test_size", test_size, 0.0, 0.9, open_low=True)
        return cls(test_size=test_size)


@dataclass(frozen=True)
class ModelConfig:
    """The estimator (by import path), its params, and the task."""

    estimator: str
    params: dict[str, Any]
    task: str = "auto"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ModelConfig:
        section = _section(params, "model")
        task = _value(section, "model", "task", str, "auto")
        if task not in TASKS:
            raise UserError(f"model.task: must be one of {', '.join(TASKS)}, got {task!r}")
        estimator = _value(section, "model", "estimator", str)
        if "." not in estimator:
            raise UserError(
                f"model.estimator: expected an import path such as "
                f"sklearn.linear_model.LogisticRegression, got {estimator!r}"
            )
        return cls(estimator=estimator, params=_value(section, "model", "params", dict, {}),
                   task=task)


@dataclass(frozen=True)
class EvaluateConfig:
    """What the evaluate stage computes beyond the headline metrics."""

    slices: tuple[str, ...] = ()
    slice_bins: int = 4
    importance_repeats: int = 5
    importance_max_rows: int = 5000
    curve_points: int = 101

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> EvaluateConfig:
        section = _section(params, "evaluate")
        slices = _value(section, "evaluate", "slices", list, [])
        for i, s in enumerate(slices):
            if not isinstance(s, str):
                raise UserError(f"evaluate.slices[{i}]: expected a column name, got {s!r}")
        cfg = cls(
            slices=tuple(slices),
            slice_bins=_value(section, "evaluate", "slice_bins", int, cls.slice_bins),
            importance_repeats=_value(section, "evaluate", "importance_repeats", int,
                                      cls.importance_repeats),
            importance_max_rows=_value(section, "evaluate", "importance_max_rows", int,
                                       cls.importance_max_rows),
            curve_points=_value(section, "evaluate", "curve_points", int, cls.curve_points),
        )
        _in_range("evaluate.slice_bins", cfg.slice_bins, 2, 100)
        _in_range("evaluate.importance_repeats", cfg.importance_repeats, 0, 100)
        _in_range("evaluate.importance_max_rows", cfg.importance_max_rows, 10, 10**8)
        _in_range("evaluate.curve_points", cfg.curve_points, 3, 10_000)
        return cfg


@dataclass(frozen=True)
class ExportConfig:
    """Tolerances of the ONNX parity check."""

    min_label_agreement: float = 1.0
    max_abs_diff: float = 1e-3

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ExportConfig:
        section = _section(params, "export")
        cfg = cls(
            min_label_agreement=_value(section, "export", "min_label_agreement", float,
                                       cls.min_label_agreement),
            max_abs_diff=_value(section, "export", "max_abs_diff", float, cls.max_abs_diff),
        )
        _in_range("export.min_label_agreement", cfg.min_label_agreement, 0.0, 1.0)
        _in_range("export.max_abs_diff", cfg.max_abs_diff, 0.0, 1e6)
        return cfg


def seed(params: dict[str, Any]) -> int:
    """The one seed that reaches every random step."""
    value = _value(params, "", "seed", int, 42)
    _in_range("seed", value, 0, 2**32 - 1)
    return value


@dataclass(frozen=True)
class MonitorConfig:
    """When a batch of production data counts as drifted from the training data (`monitor:`)."""

    alpha: float = 0.05
    psi_threshold: float = 0.2
    bins: int = 10
    missing_rate_delta: float = 0.05
    max_unseen_share: float = 0.01
    min_rows: int = 100

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> MonitorConfig:
        section = _section(params, "monitor")
        p = "monitor"
        cfg = cls(
            alpha=_value(section, p, "alpha", float, cls.alpha),
            psi_threshold=_value(section, p, "psi_threshold", float, cls.psi_threshold),
            bins=_value(section, p, "bins", int, cls.bins),
            missing_rate_delta=_value(section, p, "missing_rate_delta", float,
                                      cls.missing_rate_delta),
            max_unseen_share=_value(section, p, "max_unseen_share", float, cls.max_unseen_share),
            min_rows=_value(section, p, "min_rows", int, cls.min_rows),
        )
        _in_range(f"{p}.alpha", cfg.alpha, 0.0, 0.5, open_low=True)
        _in_range(f"{p}.psi_threshold", cfg.psi_threshold, 0.0, 10.0, open_low=True)
        _in_range(f"{p}.bins", cfg.bins, 2, 100)
        _in_range(f"{p}.missing_rate_delta", cfg.missing_rate_delta, 0.0, 1.0)
        _in_range(f"{p}.max_unseen_share", cfg.max_unseen_share, 0.0, 1.0)
        _in_range(f"{p}.min_rows", cfg.min_rows, 1, 10**9)
        return cfg
