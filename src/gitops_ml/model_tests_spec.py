"""The behavioural tests file (model_tests.yaml): a strict schema, read once, errors in one line.

Three kinds, after the CheckList paper (Ribeiro et al., 2020, https://arxiv.org/abs/2005.04118):
invariance (changing a column within a set or range must not move the prediction beyond a
tolerance), directional expectation (raising a column must not lower, or raise, a score) and
minimum functionality (named example rows with the label or value range they must get).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from gitops_ml.errors import UserError

KINDS = ("invariance", "directional", "minimum_functionality")
# Invariance and directional tests: share of test rows allowed to break one (0 makes it strict).
DEFAULT_MAX_FAILURE_RATE = 0.02


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("YAML reads yes/no/true/false as a boolean; quote it ('yes')")
    return value


def _label(value: Any) -> Any:
    value = _no_bool(value)
    return str(value) if isinstance(value, int) else value   # class 0/1 is "0"/"1" in model.json


Value = Annotated[str | float | None, BeforeValidator(_no_bool)]
Label = Annotated[str, BeforeValidator(_label)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class _Test(_Strict):
    name: str = Field(min_length=1)
    warn_only: bool = False            # reported, but a failure does not block the merge


class Invariance(_Test):
    """Setting `column` to each of `values`, or to `points` values across `range`, changes no
    class probability (regression: the value) of a test row by more than `tolerance`."""

    kind: Literal["invariance"]
    column: str
    values: list[Value] | None = Field(None, min_length=1)
    range: tuple[float, float] | None = None
    points: int = Field(5, ge=2, le=100)
    tolerance: float = Field(0.05, ge=0)
    # share of rows allowed to break it, judged with a small-sample allowance (the failure
    # rate's 95% lower bound): a few rows near a decision boundary are noise, not behaviour
    max_failure_rate: float = Field(DEFAULT_MAX_FAILURE_RATE, ge=0, le=1)

    @model_validator(mode="after")
    def _one_domain(self) -> Invariance:
        if (self.values is None) == (self.range is None):
            raise ValueError("give exactly one of values or range")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError("range must be [low, high] with low <= high")
        return self


class Directional(_Test):
    """Adding `change` to `column` moves the score of `score_of` (a class; regression: omit it,
    the predicted value) in the `expect`ed direction, or by no more than `tolerance` the other
    way."""

    kind: Literal["directional"]
    column: str
    change: float
    expect: Literal["increase", "decrease"]
    score_of: Label | None = None
    # not 0: ONNX computes in float32, so an unchanged score can still move by ~1e-7
    tolerance: float = Field(1e-6, ge=0)
    max_failure_rate: float = Field(DEFAULT_MAX_FAILURE_RATE, ge=0, le=1)

    @model_validator(mode="after")
    def _nonzero(self) -> Directional:
        if self.change == 0:
            raise ValueError("change must not be 0")
        return self


class Example(_Strict):
    """One named row: the features it sets (the rest come from the test set's typical row) and
    the label it must get, or the range its predicted value must fall in."""

    name: str = Field(min_length=1)
    features: dict[str, Value] = Field(min_length=1)
    label: Label | None = None
    range: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _one_expectation(self) -> Example:
        if (self.label is None) == (self.range is None):
            raise ValueError("give exactly one of label (classification) or range (regression)")
        return self


class MinimumFunctionality(_Test):
    """Every example gets its expected label or value range."""

    kind: Literal["minimum_functionality"]
    examples: list[Example] = Field(min_length=1)


Test = Annotated[Invariance | Directional | MinimumFunctionality, Field(discriminator="kind")]


class ModelTests(_Strict):
    """The whole file."""

    tests: list[Test] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ModelTests:
        seen: set[str] = set()
        for t in self.tests:
            if t.name in seen:
                raise ValueError(f"test name {t.name!r} is used twice")
            seen.add(t.name)
        return self


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in KINDS and i > 0 and isinstance(loc[i - 1], int):
            continue            # the discriminated union's tag, not a key of the file
        else:
            out += f".{part}" if out else str(part)
    return out


def _one_line(exc: ValidationError) -> str:
    errors = exc.errors()
    # an unknown key first: a typo'd key is the likeliest cause of every other error beside it
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    where = _where(tuple(first["loc"]))
    if first["type"] == "extra_forbidden":
        what = "unknown key"
    elif first["type"] == "missing":
        what = "required but missing"
    elif first["type"] == "union_tag_invalid":
        what = f"unknown kind {first['input'].get('kind')!r} (known: {', '.join(KINDS)})" \
            if isinstance(first.get("input"), dict) else first["msg"]
    elif first["type"] == "union_tag_not_found":
        what = f"kind: required but missing (one of {', '.join(KINDS)})"
    else:
        what = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {what}{more}" if where else f"{what}{more}"


def parse(data: Any, where: str = "model_tests.yaml") -> ModelTests:
    """Validate already-parsed YAML; an empty file means no tests."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{where}: must be a mapping with a `tests:` list, got "
                        f"{type(data).__name__}")
    try:
        return ModelTests.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{where}: {_one_line(exc)}") from None


def load(path: str | Path) -> ModelTests:
    """Read and validate the behavioural tests file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--tests: file not found: {p} (`gitops-ml init` writes a starter)")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{p}: not valid YAML: {' '.join(str(exc).split())}") from None
    return parse(data, str(p))
