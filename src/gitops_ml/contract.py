"""The data contract: a committed YAML file, inferred once from data, enforced with pandera."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_ml.errors import UserError

DTYPES = ("float", "integer", "string")
EXAMPLES = 5


@dataclass(frozen=True)
class ColumnSpec:
    """What one column may hold."""

    name: str
    dtype: str
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[Any, ...] | None = None

    @property
    def is_numeric(self) -> bool:
        return self.dtype in ("float", "integer")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype, "nullable": self.nullable}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.categories is not None:
            out["categories"] = list(self.categories)
        return out


@dataclass(frozen=True)
class Contract:
    """Feature columns plus the target; `target.categories` set means classification labels."""

    target: ColumnSpec
    features: tuple[ColumnSpec, ...]
    min_rows: int = 1

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]

    @property
    def numeric(self) -> list[str]:
        return [c.name for c in self.features if c.is_numeric]

    @property
    def categorical(self) -> list[str]:
        return [c.name for c in self.features if not c.is_numeric]

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_rows": self.min_rows,
            "target": {"name": self.target.name, **self.target.to_dict()},
            "features": {c.name: c.to_dict() for c in self.features},
        }


def _spec_from_dict(name: str, raw: Any, where: str) -> ColumnSpec:
    if not isinstance(raw, dict):
        raise UserError(f"{where}: must be a mapping, got {raw!r}")
    dtype = raw.get("dtype")
    if dtype not in DTYPES:
        raise UserError(f"{where}.dtype: must be one of {', '.join(DTYPES)}, got {dtype!r}")
    cats = raw.get("categories")
    if cats is not None and not isinstance(cats, list):
        raise UserError(f"{where}.categories: must be a list, got {cats!r}")
    for bound in ("min", "max"):
        value = raw.get(bound)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise UserError(f"{where}.{bound}: must be a number, got {value!r}")
    return ColumnSpec(name=name, dtype=dtype, nullable=bool(raw.get("nullable", False)),
                      min=raw.get("min"), max=raw.get("max"),
                      categories=tuple(cats) if cats is not None else None)


def load(path: str | Path) -> Contract:
    """Read a contract file; errors name the file and the key."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"contract file not found: {p} "
                        "(draft one with `gitops-ml contract infer`)")
    raw = yaml.safe_load(p.read_text()) or {}
    if not isinstance(raw, dict) or "target" not in raw or "features" not in raw:
        raise UserError(f"{p}: a contract needs `target:` and `features:`")
    target_raw = raw["target"]
    if not isinstance(target_raw, dict) or not isinstance(target_raw.get("name"), str):
        raise UserError(f"{p}: target.name: required")
    features_raw = raw["features"]
    if not isinstance(features_raw, dict) or not features_raw:
        raise UserError(f"{p}: features: must map at least one column name to its spec")
    return Contract(
        target=_spec_from_dict(target_raw["name"], target_raw, f"{p}: target"),
        features=tuple(_spec_from_dict(str(n), s, f"{p}: features.{n}")
                       for n, s in features_raw.items()),
        min_rows=int(raw.get("min_rows", 1)),
    )


def dump(contract: Contract, path: str | Path) -> None:
    """Write a contract file with a header that says how it is used."""
    from gitops_ml.io import atomic_path

    header = (
        "# Data contract enforced by the `validate` stage (pandera). Edit it deliberately:\n"
        "# ranges, categories and nullability here are what the pipeline and the serving\n"
        "# app accept. Regenerate a first draft with `gitops-ml contract infer`.\n"
    )
    body = yaml.safe_dump(contract.to_dict(), sort_keys=False, allow_unicode=True,
                          default_flow_style=None, width=100)
    with atomic_path(path) as tmp:
        tmp.write_text(header + body)


def _widen(lo: float, hi: float, margin: float, integer: bool) -> tuple[float, float]:
    span = hi - lo
    new_lo, new_hi = lo - margin * span, hi + margin * span
    if lo >= 0:  # a quantity that was never negative stays non-negative
        new_lo = max(new_lo, 0.0)
    if integer:
        return float(math.floor(new_lo)), float(math.ceil(new_hi))
    return float(f"{new_lo:.6g}"), float(f"{new_hi:.6g}")


def _dtype_of(series: Any) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "string"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "float"
    return "string"


def infer(df: Any, target: str, *, margin: float = 0.1, task: str = "auto") -> Contract:
    """Draft a contract from data: observed dtypes and categories, ranges widened by `margin`."""
    if target not in df.columns:
        raise UserError(f"data.target: column {target!r} not in the data "
                        f"(columns: {', '.join(map(str, df.columns[:20]))})")
    features = []
    for name in df.columns:
        if name == target:
            continue
        s = df[name]
        dtype = _dtype_of(s)
        nullable = bool(s.isna().any())
        if dtype == "string":
            cats = tuple(sorted(str(v) for v in s.dropna().unique()))
            features.append(ColumnSpec(str(name), dtype, nullable, categories=cats))
        else:
            lo, hi = (float(s.min()), float(s.max())) if s.notna().any() else (None, None)
            if lo is not None:
                lo, hi = _widen(lo, hi, margin, dtype == "integer")
            features.append(ColumnSpec(str(name), dtype, nullable, lo, hi))
    if not features:
        raise UserError(f"data.target: {target!r} is the only column; there are no features")
    y = df[target]
    ydtype = _dtype_of(y)
    from gitops_ml.task import detect_task

    resolved = detect_task(y, task)
    if resolved == "regression":
        spec = ColumnSpec(target, ydtype, False, float(y.min()), float(y.max()))
    else:
        values = sorted(y.dropna().unique().tolist(), key=str)
        spec = ColumnSpec(target, ydtype, False, categories=tuple(
            v if ydtype != "string" else str(v) for v in values))
    return Contract(target=spec, features=tuple(features), min_rows=1)


def _pandera_schema(contract: Contract) -> Any:
    import pandera.pandas as pa

    def column(spec: ColumnSpec) -> Any:
        checks = []
        if spec.min is not None:
            checks.append(pa.Check.ge(spec.min))
        if spec.max is not None:
            checks.append(pa.Check.le(spec.max))
        if spec.categories is not None:
            checks.append(pa.Check.isin(list(spec.categories)))
        dtype = {"float": "float64", "integer": "int64", "string": str}[spec.dtype]
        return pa.Column(dtype, checks, nullable=spec.nullable, coerce=False)

    columns = {c.name: column(c) for c in (*contract.features, contract.target)}
    return pa.DataFrameSchema(columns, strict=True, ordered=False)


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, int | float | str | bool) else str(value)


def validate(df: Any, contract: Contract) -> dict[str, Any]:
    """Check every rule at once; return a report (no exception) listing each failed check."""
    import pandera.pandas as pa

    failures: list[dict[str, Any]] = []
    if len(df) < contract.min_rows:
        failures.append({"column": None, "check": f"at least {contract.min_rows} rows",
                         "failing": 1, "examples": [len(df)]})
    try:
        _pandera_schema(contract).validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases.assign(column=cases["column"].astype(object).where(cases["column"].notna(),
                                                                         None))
        for (col, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
            examples = [_jsonable(v) for v in group["failure_case"].head(EXAMPLES)]
            # a missing/unexpected column is reported by pandera with the name as the case
            failures.append({"column": None if col is None or col != col else str(col),
                             "check": str(check), "failing": int(len(group)),
                             "examples": examples})
    failures.sort(key=lambda f: (f["column"] or "", f["check"]))
    return {
        "passed": not failures,
        "rows": int(len(df)),
        "columns": int(df.shape[1]),
        "failed_checks": len(failures),
        "failures": failures,
    }


def describe_failures(report: dict[str, Any]) -> str:
    """One line per failed check, for the stage's error message."""
    lines = []
    for f in report["failures"]:
        where = f"column {f['column']!r}" if f["column"] else "dataframe"
        lines.append(f"  {where}: {f['check']} failed for {f['failing']} value(s), "
                     f"e.g. {', '.join(map(repr, f['examples'][:3]))}")
    return "\n".join(lines)
