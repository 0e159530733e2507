"""The one loader from params.yaml to typed, validated config objects; errors name the dotted key.

Every section is a pydantic model with `extra="forbid"`, so a typo anywhere in params.yaml
(`split.test_sise`) fails with one line naming the key and the nearest known one, instead of
silently running on the default. Validation is strict: a string where a number belongs, or
`true` where an integer belongs, is an error, not a conversion.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gitops_ml.errors import UserError
from gitops_ml.io import NA_VALUES

TASKS = ("auto", "binary", "multiclass", "regression")
RESULT_MODES = ("fail", "warn")


def _in_range(low: float, high: float, *, open_low: bool = False) -> AfterValidator:
    def check(value: float) -> float:
        if value < low or value > high or (open_low and value == low):
            bracket = "(" if open_low else "["
            raise ValueError(f"must be in {bracket}{low}, {high}], got {value!r}")
        return value
    return AfterValidator(check)


def _as_tuple(value: Any) -> Any:
    # YAML gives lists; the config keeps tuples so it stays hashable and immutable.
    return tuple(value) if isinstance(value, list) else value


class _KeyedError(ValueError):
    """A cross-key check whose message already starts with the key it names."""


Names = Annotated[tuple[str, ...], BeforeValidator(_as_tuple)]


class _Section(BaseModel):
    """Strict, closed, immutable; a key left empty in YAML (`key:`) means its default."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    def __init__(self, /, *args: Any, **kwargs: Any) -> None:
        # positional arguments in field order, as the dataclasses these replaced accepted
        if len(args) > len(type(self).model_fields):
            raise TypeError(f"{type(self).__name__} takes at most "
                            f"{len(type(self).model_fields)} positional arguments")
        kwargs.update(zip(type(self).model_fields, args, strict=False))
        super().__init__(**kwargs)

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data

    @classmethod
    def _validate_section(cls, value: Any, prefix: str) -> Any:
        try:
            return cls.model_validate({} if value is None else value)
        except ValidationError as exc:
            raise UserError(_message(exc, cls, prefix)) from None


class SyntheticConfig(_Section):
    """Shape of a generated dataset (`data.source: synthetic`)."""

    rows: Annotated[int, _in_range(1, 10**9)] = 2000
    numeric: Annotated[int, _in_range(1, 10_000)] = 8
    categorical: Annotated[int, _in_range(0, 10_000)] = 2
    categories: Annotated[int, _in_range(2, 10_000)] = 5
    missing_rate: Annotated[float, _in_range(0.0, 0.9)] = 0.02
    classes: Annotated[int, _in_range(0, 1000)] = 2

    @field_validator("classes")
    @classmethod
    def _not_one_class(cls, value: int) -> int:
        if value == 1:
            raise ValueError("must be 0 (regression) or at least 2, got 1")
        return value

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> SyntheticConfig:
        """Validate the `data.synthetic` mapping itself."""
        return cls._validate_section(section, "data.synthetic")


class DataConfig(_Section):
    """Where the data comes from, which column is the target, which columns to ignore."""

    source: str
    target: str
    synthetic: SyntheticConfig = SyntheticConfig()
    # Columns dropped before contract inference and training (IDs, names, leaky columns).
    exclude: Names = ()
    # The strings a CSV cell is read as missing (exactly these; see gitops_ml.io.NA_VALUES).
    na_values: Names = NA_VALUES

    @model_validator(mode="after")
    def _exclude_is_not_target(self) -> DataConfig:
        if self.target in self.exclude:
            raise _KeyedError(f"data.exclude: lists the target {self.target!r}")
        return self

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DataConfig:
        return cls._validate_section(params.get("data"), "data")


class SplitConfig(_Section):
    """How the data is split into train and test."""

    test_size: Annotated[float, _in_range(0.0, 0.9, open_low=True)] = 0.2
    # A date (or number) column: the test set is the latest `test_size` share of rows by it,
    # not a random draw, so the model is judged on data newer than any it learned from.
    order_by: str | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SplitConfig:
        return cls._validate_section(params.get("split"), "split")


class ModelConfig(_Section):
    """The estimator (by import path), its params, and the task."""

    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)
    task: Literal["auto", "binary", "multiclass", "regression"] = "auto"

    @field_validator("estimator")
    @classmethod
    def _import_path(cls, value: str) -> str:
        if "." not in value:
            raise ValueError("expected an import path such as "
                             f"sklearn.linear_model.LogisticRegression, got {value!r}")
        return value

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ModelConfig:
        return cls._validate_section(params.get("model"), "model")


def _label(value: Any) -> Any:
    if isinstance(value, str | int) and not isinstance(value, float):
        return value
    raise ValueError(f"expected a class label (a string, integer or true/false), got {value!r}")


class EvaluateConfig(_Section):
    """What the evaluate stage computes beyond the headline metrics."""

    slices: Names = ()
    slice_bins: Annotated[int, _in_range(2, 100)] = 4
    importance_repeats: Annotated[int, _in_range(0, 100)] = 5
    importance_max_rows: Annotated[int, _in_range(10, 10**8)] = 5000
    curve_points: Annotated[int, _in_range(3, 10_000)] = 101
    # Binary tasks: the class precision, recall and ROC AUC are about. None: see
    # `gitops_ml.metrics.default_positive_class`.
    positive_class: Annotated[Any, AfterValidator(_label)] = None
    # Fairness (stage model_tests): columns whose groups are compared; they need not be features.
    protected: Names = ()
    # Groups smaller than this are reported with their interval, marked, and left out of the gaps.
    min_group_size: Annotated[int, _in_range(1, 10**9)] = 30

    @field_validator("protected")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({c for c in value if value.count(c) > 1})
        if twice:
            raise ValueError(f"lists {twice[0]!r} twice")
        return value

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> EvaluateConfig:
        return cls._validate_section(params.get("evaluate"), "evaluate")


class RobustnessConfig(_Section):
    """The perturbation check of the `model_tests` stage (`robustness:`)."""

    # Gaussian noise on numeric features, as a share of each one's standard deviation.
    noise: Annotated[float, _in_range(0.0, 10.0)] = 0.05
    # Share of rows whose category is swapped for the most frequent other one.
    category_swap: Annotated[float, _in_range(0.0, 1.0)] = 0.1
    # Perturbed copies of the test set; the flip rate is their mean. 0 turns the check off.
    repeats: Annotated[int, _in_range(0, 100)] = 3
    # Regression: a prediction "flips" when it moves by more than this × std(predictions).
    value_tolerance: Annotated[float, _in_range(0.0, 100.0)] = 0.1

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RobustnessConfig:
        return cls._validate_section(params.get("robustness"), "robustness")


class ExportConfig(_Section):
    """Tolerances of the ONNX parity check."""

    min_label_agreement: Annotated[float, _in_range(0.0, 1.0)] = 1.0
    max_abs_diff: Annotated[float, _in_range(0.0, 1e6)] = 1e-3

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ExportConfig:
        return cls._validate_section(params.get("export"), "export")


class MonitorConfig(_Section):
    """When a batch of production data counts as drifted from the training data (`monitor:`)."""

    alpha: Annotated[float, _in_range(0.0, 0.5, open_low=True)] = 0.05
    psi_threshold: Annotated[float, _in_range(0.0, 10.0, open_low=True)] = 0.2
    bins: Annotated[int, _in_range(2, 100)] = 10
    missing_rate_delta: Annotated[float, _in_range(0.0, 1.0)] = 0.05
    max_unseen_share: Annotated[float, _in_range(0.0, 1.0)] = 0.01
    min_rows: Annotated[int, _in_range(1, 10**9)] = 100

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> MonitorConfig:
        return cls._validate_section(params.get("monitor"), "monitor")


class QualityConfig(_Section):
    """`quality:`: metrics of logged predictions once their labels arrive, and when to alarm.

    A window breaks a floor of `gates.floors` when its metric is on the wrong side of it; the
    alarm goes off when `breaches` of the last `of_last` judged windows break one.
    """

    window: str = "1d"
    breaches: Annotated[int, _in_range(1, 1000)] = 2
    of_last: Annotated[int, _in_range(1, 1000)] = 3
    min_rows: Annotated[int, _in_range(1, 10**9)] = 30
    confidence: Annotated[float, _in_range(0.5, 0.999)] = 0.95
    bootstrap: Annotated[int, _in_range(0, 100_000)] = 200

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        if not re.fullmatch(r"[1-9][0-9]*[mhd]", value):
            raise ValueError(f"expected a width such as 30m, 6h or 1d, got {value!r}")
        return value

    @model_validator(mode="after")
    def _k_of_n(self) -> QualityConfig:
        if self.breaches > self.of_last:
            raise _KeyedError(f"quality.breaches: {self.breaches} is more than "
                              f"quality.of_last ({self.of_last})")
        return self

    @property
    def window_seconds(self) -> int:
        return int(self.window[:-1]) * {"m": 60, "h": 3600, "d": 86400}[self.window[-1]]

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> QualityConfig:
        return cls._validate_section(params.get("quality"), "quality")


EXPERIMENT_METRICS = ("accuracy", "log_loss", "brier", "mae", "mse")


class ExperimentConfig(_Section):
    """`experiment:`: the decision rule between the champion and a challenger."""

    metric: Literal["accuracy", "log_loss", "brier", "mae", "mse"] = "accuracy"
    min_samples: Annotated[int, _in_range(2, 10**9)] = 500
    min_lift: Annotated[float, _in_range(0.0, 1e9, open_low=True)] = 0.02
    alpha: Annotated[float, _in_range(0.0, 0.5, open_low=True)] = 0.05
    power: Annotated[float, _in_range(0.5, 0.999)] = 0.8

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ExperimentConfig:
        return cls._validate_section(params.get("experiment"), "experiment")


NonNegative = Annotated[float, _in_range(0.0, float("inf"))]


# How a gate judges the interval of what it checks (`gitops_ml.report.gates` says what each means):
# shown_worse fails only when the interval lies wholly beyond the limit; non_inferiority fails
# unless it lies wholly within it.
GateRule = Literal["shown_worse", "non_inferiority"]
# The defaults differ by what a gate guards. A move against main is noise until shown otherwise
# (a reseeded refit must pass); a floor is an absolute requirement, met only when shown met
# (acceptance testing: the interval's worse bound must clear it), so a model whose interval
# reaches below the floor has not shown it is good enough.
REGRESSION_RULE: GateRule = "shown_worse"
FLOOR_RULE: GateRule = "non_inferiority"


class RegressionLimit(_Section):
    """`gates.max_regression.<metric>`: how much worse than main a metric may get, and the rule."""

    abs: NonNegative | None = None
    rel: NonNegative | None = None
    rule: GateRule = REGRESSION_RULE

    @model_validator(mode="after")
    def _some_limit(self) -> RegressionLimit:
        if self.abs is None and self.rel is None:
            raise ValueError("give abs and/or rel, e.g. {abs: 0.01}")
        return self


def _bare_bound(value: Any) -> Any:
    # `floors: {roc_auc: 0.95}` (the shape before rules existed) is `{bound: 0.95}`, judged by
    # FLOOR_RULE; `{bound: 0.95, rule: shown_worse}` keeps a floor that only a shown breach fails.
    if isinstance(value, dict):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"bound": value}
    raise ValueError(f"expected a number, got {value!r}")


class FloorLimit(_Section):
    """`gates.floors.<metric>`: a bound on the head's metric (a ceiling when lower is better)."""

    bound: float
    rule: GateRule = FLOOR_RULE


class SliceGapGate(_Section):
    """`gates.max_slice_gap`: the largest spread of a metric between slices of one column."""

    metric: str
    column: str
    max: NonNegative


class FairnessGate(_Section):
    """One entry of `gates.fairness`: a bound on one gap of one protected column (which of max
    or min a metric takes is checked in `gitops_ml.report.gates`)."""

    column: str
    metric: str
    max: NonNegative | None = None
    min: NonNegative | None = None


class GatesSection(_Section):
    """The shape of `gates:`; metric names and gate semantics are checked in
    `gitops_ml.report.gates`, which turns this section into verdicts."""

    floors: dict[str, Annotated[FloorLimit, BeforeValidator(_bare_bound)]] = \
        Field(default_factory=dict)
    max_regression: dict[str, RegressionLimit] = Field(default_factory=dict)
    # The intervals the metric gates judge: paired bootstrap over the evaluation rows.
    confidence: Annotated[float, _in_range(0.5, 0.999)] = 0.95
    bootstrap: Annotated[int, _in_range(100, 100_000)] = 1000
    onnx_parity: bool = False
    data_contract: bool = False
    max_slice_gap: SliceGapGate | None = None
    model_tests: bool = False
    max_flip_rate: Annotated[float, _in_range(0.0, 1.0)] | None = None
    fairness: Annotated[tuple[FairnessGate, ...], BeforeValidator(_as_tuple)] = ()
    warn_only: Names = ()

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GatesSection:
        return cls._validate_section(params.get("gates"), "gates")


class ResultsSection(_Section):
    """The shape of `results:`; read by `gitops_ml.report.consistency`."""

    metrics_tolerance: NonNegative = 1e-6
    on_mismatch: Literal["fail", "warn"] = "fail"


class Params(_Section):
    """All of params.yaml."""

    seed: Annotated[int, _in_range(0, 2**32 - 1)] = 42
    data: DataConfig
    split: SplitConfig = SplitConfig()
    model: ModelConfig
    evaluate: EvaluateConfig = EvaluateConfig()
    export: ExportConfig = ExportConfig()
    robustness: RobustnessConfig = RobustnessConfig()
    gates: GatesSection = GatesSection()
    monitor: MonitorConfig = MonitorConfig()
    quality: QualityConfig = QualityConfig()
    experiment: ExperimentConfig = ExperimentConfig()
    results: ResultsSection = ResultsSection()

    @model_validator(mode="after")
    def _slices_are_features(self) -> Params:
        if self.data is None:  # a partial file (see `read_params`)
            return self
        dropped = [c for c in self.evaluate.slices if c in self.data.exclude]
        if dropped:
            raise _KeyedError(f"evaluate.slices: {dropped[0]!r} is listed in data.exclude")
        if self.data.target in self.evaluate.protected:
            raise _KeyedError(f"evaluate.protected: {self.data.target!r} is the target, "
                              "not a group column")
        if self.data.target in self.evaluate.slices:
            raise _KeyedError(f"evaluate.slices: {self.data.target!r} is the target, "
                             "not a feature")
        return self


class _PartialParams(Params):
    """params.yaml as `read_params` checks it: every key present is checked, but a reader that
    needs only some sections (the model card reads `gates:`) accepts a file without the rest;
    the section loaders still require their own keys."""

    data: DataConfig | None = None  # type: ignore[assignment]
    model: ModelConfig | None = None  # type: ignore[assignment]


def parse(params: dict[str, Any]) -> Params:
    """Validate a whole params mapping; the first problem is raised as one line."""
    return Params._validate_section(params, "")


def read_params(path: str | Path) -> dict[str, Any]:
    """Read params.yaml, check every key and value in it, and return the mapping."""
    params = _read_yaml(path)
    _PartialParams._validate_section(params, "")
    return params


def load(path: str | Path) -> Params:
    """Read and validate params.yaml into the typed config."""
    return parse(_read_yaml(path))


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with the scalars of YAML 1.2, as DVC reads and writes params.yaml.

    `dvc exp run -S` rewrites params.yaml with ruamel.yaml (YAML 1.2), which drops the quotes
    of `positive_class: 'Yes'`; YAML 1.1 (PyYAML's default) would then read True. In YAML 1.2
    only true/false are booleans, `yes`/`no`/`on`/`off` are strings, `010` is ten and `1e-3` a
    number (https://yaml.org/spec/1.2.2/#1032-tag-resolution); like ruamel.yaml, numbers may
    group digits with `_` and integers may be written 0b/0o/0x.
    """


_BOOL, _INT, _FLOAT = (f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "float"))
Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Yaml12Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
Yaml12Loader.add_implicit_resolver(
    _INT, re.compile(r"^[-+]?(?:[0-9][0-9_]*|0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"))
Yaml12Loader.add_implicit_resolver(
    _FLOAT, re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+|[0-9][0-9_]*(?=[eE]))"
                       r"(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"))


def _yaml12_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text[0] == "-" else 1
    digits = text.lstrip("+-")
    base = {"0b": 2, "0o": 8, "0x": 16}.get(digits[:2])
    return sign * (int(digits[2:], base) if base else int(digits, 10))


Yaml12Loader.add_constructor(_INT, _yaml12_int)


def parse_yaml(text: str) -> Any:
    """Parse params.yaml text as DVC does (YAML 1.2 scalars); raises yaml.YAMLError."""
    return yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 (a SafeLoader subclass)


def _read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"params file not found: {p}")
    try:
        params = parse_yaml(p.read_text()) or {}
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())
        raise UserError(f"{p}: not valid YAML: {first}") from None
    if not isinstance(params, dict):
        raise UserError(f"{p}: must be a mapping of sections, got {type(params).__name__}")
    return params


class _Seed(_Section):
    seed: Annotated[int, _in_range(0, 2**32 - 1)] = 42


def seed(params: dict[str, Any]) -> int:
    """The one seed that reaches every random step."""
    return _Seed._validate_section({"seed": params.get("seed")}, "").seed


# --- one-line messages from pydantic's errors -------------------------------------------------

_EXPECTED = {
    "float_type": "expected a number", "int_type": "expected an integer",
    "string_type": "expected a string", "bool_type": "expected true or false",
    "list_type": "expected a list", "tuple_type": "expected a list",
    "dict_type": "expected a mapping", "model_type": "must be a mapping",
    "finite_number": "expected a finite number",
}


def _dotted(prefix: str, loc: tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The section model that holds the key at `loc` (walking mappings and optionals)."""
    current: Any = model
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
        while True:
            origin = typing.get_origin(current)
            if origin is Annotated:
                current = typing.get_args(current)[0]
            elif origin in (typing.Union, types.UnionType):
                current = next(a for a in typing.get_args(current) if a is not type(None))
            elif origin is dict and parts:
                parts.pop(0)           # the mapping's own key, e.g. a metric name
                current = typing.get_args(current)[1]
            elif origin in (tuple, list) and parts and isinstance(parts[0], int):
                parts.pop(0)           # a list's index, e.g. gates.fairness[0]
                current = typing.get_args(current)[0]
            else:
                break
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _message(exc: ValidationError, model: type[BaseModel], prefix: str) -> str:
    err = exc.errors(include_url=False)[0]
    kind, loc, value = err["type"], tuple(err["loc"]), err.get("input")
    key = _dotted(prefix, loc)
    if kind == "extra_forbidden":
        holder = _model_at(model, loc[:-1])
        known = sorted(holder.model_fields) if holder else []
        near = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        if near:
            return f"{key}: unknown key; did you mean {_dotted(prefix, (*loc[:-1], near[0]))}?"
        return f"{key}: unknown key (known: {', '.join(known)})"
    if kind == "missing":
        return f"{key}: required but missing"
    if kind == "literal_error":
        return f"{key}: must be one of {err['ctx']['expected'].replace(' or ', ', ')}, " \
               f"got {value!r}"
    if kind in _EXPECTED:
        return f"{key or 'params'}: {_EXPECTED[kind]}, got {value!r}"
    if kind in ("value_error", "assertion_error"):
        error = err["ctx"]["error"]
        return str(error) if isinstance(error, _KeyedError) else f"{key}: {error}"
    return f"{key}: {err['msg']}"
