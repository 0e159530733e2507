"""The data contract: a committed YAML file, inferred once from data, enforced with pandera."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gitops_ml.errors import UserError

DTYPES = ("float", "integer", "string", "boolean")
EXAMPLES = 5
BOOLEAN_LEVELS = ("False", "True")  # how a boolean reaches the model: a two-level category
# Inference excludes a column, and says why, when it cannot be a feature of new rows:
MIN_ID_ROWS = 20            # a distinct value on every row of at least this many rows is an ID
FREE_TEXT_SHARE = 0.5       # a text column with more distinct values than this share of its rows
FREE_TEXT_MIN = 50          # ... and more than this many is free text (names, comments)
MOSTLY_NUMERIC = 0.9        # a text column whose values are numbers at this share or more
DATE_SAMPLE = 200          # distinct values of a text column looked at to call it a date
DATE = re.compile(r"^(?:\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                  r"(?:Z|[+-]\d{2}:?\d{2})?)?|\d{1,2}/\d{1,2}/\d{2,4}|\d{4}/\d{1,2}/\d{1,2})$")
ID_NAME = re.compile(r"(^|[^a-z])(id|ids|uuid|guid|rownames?|index)$|^(name|full_?name)$",
                     re.IGNORECASE)


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
        if self.categories is not None and self.dtype != "boolean":
            out["categories"] = list(self.categories)
        return out


@dataclass(frozen=True)
class MissingLevel:
    """A string read as missing (`data.na_values`) in a text column, where it may be a level.

    Found by inference, reported (by `gitops-ml init` and `contract infer`), never written to the
    contract: the team decides whether `NA` in a column of country codes is Namibia.
    """

    column: str
    token: str
    rows: int
    target: bool = False

    @property
    def note(self) -> str:
        what = "rows become unlabelled and are dropped" if self.target else "cells are missing"
        return (f"{self.column!r}: {self.rows} cell(s) hold {self.token!r}, read as missing "
                f"(data.na_values), so those {what}; if {self.token!r} is a level of this text "
                "column, remove it from data.na_values in params.yaml")


@dataclass(frozen=True)
class Contract:
    """Feature columns plus the target; `target.categories` set means classification labels.

    `excluded` maps columns the data may carry but the model never sees (IDs, free text,
    `data.exclude`) to the reason; they are neither checked nor used. `missing_levels` are
    inference's findings for the reader (see MissingLevel); they are not part of the file.
    """

    target: ColumnSpec
    features: tuple[ColumnSpec, ...]
    min_rows: int = 1
    excluded: tuple[tuple[str, str], ...] = ()
    missing_levels: tuple[MissingLevel, ...] = ()

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]

    @property
    def numeric(self) -> list[str]:
        return [c.name for c in self.features if c.is_numeric]

    @property
    def categorical(self) -> list[str]:
        return [c.name for c in self.features if not c.is_numeric]

    @property
    def excluded_names(self) -> list[str]:
        return [name for name, _ in self.excluded]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "min_rows": self.min_rows,
            "target": {"name": self.target.name, **self.target.to_dict()},
            "features": {c.name: c.to_dict() for c in self.features},
        }
        if self.excluded:
            out["excluded"] = dict(self.excluded)
        return out


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
    if dtype == "boolean":
        cats = list(BOOLEAN_LEVELS)
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
    excluded_raw = raw.get("excluded") or {}
    if not isinstance(excluded_raw, dict):
        raise UserError(f"{p}: excluded: must map column names to the reason, "
                        f"got {excluded_raw!r}")
    return Contract(
        target=_spec_from_dict(target_raw["name"], target_raw, f"{p}: target"),
        features=tuple(_spec_from_dict(str(n), s, f"{p}: features.{n}")
                       for n, s in features_raw.items()),
        min_rows=int(raw.get("min_rows", 1)),
        excluded=tuple((str(n), str(r)) for n, r in excluded_raw.items()),
    )


def dump(contract: Contract, path: str | Path) -> None:
    """Write a contract file with a header that says how it is used."""
    from gitops_ml.io import atomic_path

    header = (
        "# Data contract enforced by the `validate` stage (pandera). Edit it deliberately:\n"
        "# ranges, categories and nullability here are what the pipeline and the serving\n"
        "# app accept. Regenerate a first draft with `gitops-ml contract infer`.\n"
        "# `excluded:` columns may be in the data but never reach the model (IDs, free text,\n"
        "# `data.exclude` in params.yaml); move one under `features:` to use it.\n"
    )
    raw = contract.to_dict()
    excluded = raw.pop("excluded", None)
    body = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True,
                          default_flow_style=None, width=100)
    if excluded:  # one line per column, so the reasons read as a list
        body += yaml.safe_dump({"excluded": excluded}, sort_keys=False, allow_unicode=True,
                               default_flow_style=False, width=1000)
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


def _is_boolean(series: Any) -> bool:
    """True/False, possibly with missing values (pandas keeps those as object)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return True
    values = series.dropna()
    return series.dtype == object and len(values) > 0 and bool(
        values.map(lambda v: isinstance(v, bool | np.bool_)).all())


def _dtype_of(series: Any) -> str:
    import pandas as pd

    if _is_boolean(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "float"
    return "string"


def _is_date(values: Any) -> bool:
    """A datetime column, or text whose values (a sample of the distinct ones) all read as
    dates: 2024-01-31, 2024-01-31T09:30:00Z, 31/01/2024."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    if _dtype_of(values) != "string":
        return False
    sample = pd.Series(pd.unique(values.astype(str))[:DATE_SAMPLE])
    if not sample.str.match(DATE).all():
        return False
    return bool(pd.to_datetime(sample, errors="coerce", format="mixed").notna().all())


def exclusion_reason(series: Any) -> str | None:
    """Why a column cannot be a feature of new rows, or None when it can.

    An ID on every row teaches the model nothing and makes every new row an unknown category;
    free text (names) likewise; a numeric column with a few stray strings would silently become
    a category per number, so it is held back until the strays are cleaned.
    """
    import pandas as pd

    values = series.dropna()
    n, distinct = len(values), int(values.nunique())
    name = str(series.name)
    if n == 0:
        return "empty: no values"
    if _is_date(values):
        example = values.iloc[0]
        return (f"date: values such as {str(example)!r}; a model that learns calendar dates "
                "cannot judge new ones (derive features such as the month instead), and "
                "`split.order_by` can order the train/test split by it")
    dtype = _dtype_of(series)
    if dtype == "boolean" or (dtype == "float" and not bool(((values % 1) == 0).all())):
        return None
    if ID_NAME.search(name) and distinct > FREE_TEXT_SHARE * n:
        return f"identifier: named like one, {distinct} distinct values in {n} rows"
    if dtype == "integer" or dtype == "float":
        if distinct == n >= MIN_ID_ROWS and values.is_monotonic_increasing:
            return f"identifier: a distinct, increasing number on each of {n} rows"
        return None
    numbers = pd.to_numeric(values.astype(str), errors="coerce")
    stray = values[numbers.isna()]
    if len(stray) and len(stray) <= (1 - MOSTLY_NUMERIC) * n:
        examples = ", ".join(repr(v) for v in stray.astype(str).unique()[:3])
        return (f"mostly numeric: {len(stray)} of {n} values are not numbers (e.g. {examples}); "
                "make those empty in the data and infer again to use it as a number")
    if distinct == n >= MIN_ID_ROWS:
        return f"identifier: a distinct value on each of {n} rows"
    if distinct > max(FREE_TEXT_MIN, FREE_TEXT_SHARE * n):
        return f"free text: {distinct} distinct values in {n} rows"
    return None


def _missing_levels(df: Any, target: str,
                    missing_tokens: Mapping[str, Mapping[str, int]]) -> tuple[MissingLevel, ...]:
    """The tokens read as missing in columns whose other values are text, where a word such as
    `NA` or `null` may be a level; spreadsheet error codes (`#N/A`, `-1.#IND`) never are."""
    found = []
    for column, counts in missing_tokens.items():
        if column not in df.columns or df[column].notna().sum() == 0 \
                or _dtype_of(df[column].dropna()) != "string":
            continue
        found.extend(MissingLevel(str(column), token, int(rows), target=column == target)
                     for token, rows in counts.items()
                     if token.strip() and "#" not in token and rows > 0)
    return tuple(sorted(found, key=lambda m: (not m.target, m.column, -m.rows)))


def infer(df: Any, target: str, *, margin: float = 0.1, task: str = "auto",
          exclude: tuple[str, ...] | list[str] = (),
          missing_tokens: Mapping[str, Mapping[str, int]] | None = None) -> Contract:
    """Draft a contract from data: observed dtypes and categories, ranges widened by `margin`.

    Columns named in `exclude` (`data.exclude`) and those `exclusion_reason` rejects are listed
    as excluded, not features. Rows without a target are unlabelled data, so the target's
    categories and range come from the labelled rows. `missing_tokens` (per column, how many
    cells held each string read as missing: `sources.missing_tokens`) become `missing_levels`
    where the column is text.
    """
    if target not in df.columns:
        raise UserError(f"data.target: column {target!r} not in the data "
                        f"(columns: {', '.join(map(str, df.columns[:20]))})")
    for name in exclude:
        if name == target:
            raise UserError(f"data.exclude: {name!r} is the target (data.target)")
        if name not in df.columns:
            raise UserError(f"data.exclude: column {name!r} not in the data "
                            f"(columns: {', '.join(map(str, df.columns[:20]))})")
    features = []
    excluded: list[tuple[str, str]] = []
    for name in df.columns:
        if name == target:
            continue
        s = df[name]
        reason = "data.exclude" if name in exclude else exclusion_reason(s)
        if reason is not None:
            excluded.append((str(name), reason))
            continue
        dtype = _dtype_of(s)
        nullable = bool(s.isna().any())
        if dtype == "boolean":
            features.append(ColumnSpec(str(name), dtype, nullable, categories=BOOLEAN_LEVELS))
        elif dtype == "string":
            cats = tuple(sorted(str(v) for v in s.dropna().unique()))
            features.append(ColumnSpec(str(name), dtype, nullable, categories=cats))
        else:
            lo, hi = (float(s.min()), float(s.max())) if s.notna().any() else (None, None)
            if lo is not None:
                lo, hi = _widen(lo, hi, margin, dtype == "integer")
            features.append(ColumnSpec(str(name), dtype, nullable, lo, hi))
    if not features:
        dropped = f" ({', '.join(n for n, _ in excluded)} excluded)" if excluded else ""
        raise UserError(f"data.target: {target!r} is the only usable column{dropped}; "
                        "there are no features")
    y = df[target].dropna()
    if y.empty:
        raise UserError(f"data.target: column {target!r} has no values")
    ydtype = _dtype_of(y)
    from gitops_ml.task import detect_task

    resolved = detect_task(df[target], task)   # counts the unlabelled rows it names
    if resolved == "regression":
        # the next labelled batch may reach past today's extremes, as any feature may
        lo, hi = _widen(float(y.min()), float(y.max()), margin, ydtype == "integer")
        spec = ColumnSpec(target, ydtype, False, lo, hi)
    elif ydtype == "boolean":
        spec = ColumnSpec(target, ydtype, False, categories=BOOLEAN_LEVELS)
    else:
        values = sorted(y.unique().tolist(), key=str)
        spec = ColumnSpec(target, ydtype, False, categories=tuple(
            v if ydtype != "string" else str(v) for v in values))
    return Contract(target=spec, features=tuple(features), min_rows=1, excluded=tuple(excluded),
                    missing_levels=_missing_levels(df, target, missing_tokens or {}))


def _passing_missing(name: str, argument: Any, test: Callable[[Any], Any]) -> Any:
    """pandera's built-in check `name(argument)`, with missing values passing instead of dropped.

    A built-in check drops a column's missing values first (`ignore_na`), a copy of the column
    per check: 0.3 s of `validate` at a million rows. Whether a value may be missing is the
    column's `nullable`, checked separately either way. The name and error are the built-in's
    (https://pandera.readthedocs.io/en/stable/reference/generated/pandera.api.checks.Check.html),
    so a failure reads as before: `greater_than_or_equal_to(0.5)`, `isin(['a', 'b'])`.
    """
    import pandera.pandas as pa

    return pa.Check(lambda s: s.isna() | test(s), name=name, error=f"{name}({argument})",
                    ignore_na=False)


def _pandera_schema(contract: Contract) -> Any:
    import pandera.pandas as pa

    def column(spec: ColumnSpec, nullable: bool) -> Any:
        if spec.dtype == "boolean":
            # bool, or object when some are missing: the values themselves must be True/False
            # (isin would take 1 and 0 too, since 1 == True)
            is_bool = pa.Check(lambda v: isinstance(v, bool | np.bool_), element_wise=True,
                               name="is_boolean")
            return pa.Column(None, [is_bool], nullable=nullable)
        checks = []
        if spec.min is not None:
            checks.append(_passing_missing("greater_than_or_equal_to", spec.min,
                                           lambda s, v=spec.min: s >= v))
        if spec.max is not None:
            checks.append(_passing_missing("less_than_or_equal_to", spec.max,
                                           lambda s, v=spec.max: s <= v))
        if spec.categories is not None:
            allowed = list(spec.categories)
            checks.append(_passing_missing("isin", allowed, lambda s, v=allowed: s.isin(v)))
        dtype = {"float": "float64", "integer": "int64", "string": str}[spec.dtype]
        if nullable and spec.dtype == "integer":
            dtype = None  # an integer column with missing values reads as float
            checks.append(pa.Check(lambda v: float(v) % 1 == 0, element_wise=True,
                                   name="is_integer"))
        return pa.Column(dtype, checks, nullable=nullable, coerce=False)

    columns = {c.name: column(c, c.nullable) for c in contract.features}
    # rows without a target are unlabelled data, counted and dropped, never a contract failure
    columns[contract.target.name] = column(contract.target, True)
    columns.update({name: pa.Column(None, nullable=True, required=False)
                    for name in contract.excluded_names})
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
    target = contract.target.name
    unlabelled = int(df[target].isna().sum()) if target in df.columns else 0
    if len(df) - unlabelled < contract.min_rows:
        failures.append({"column": None, "check": f"at least {contract.min_rows} labelled rows",
                         "failing": 1, "examples": [len(df) - unlabelled]})
    try:
        # inplace: pandera otherwise copies the whole frame first (0.3 s at a million rows);
        # the schema neither coerces, adds, fills nor drops columns, so nothing is changed
        _pandera_schema(contract).validate(df, lazy=True, inplace=True)
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
    report = {
        "passed": not failures,
        "rows": int(len(df)),
        "columns": int(df.shape[1]),
        "failed_checks": len(failures),
        "failures": failures,
    }
    if unlabelled:
        report["unlabelled_rows_dropped"] = unlabelled
    if contract.excluded:
        report["excluded_columns"] = [n for n in contract.excluded_names if n in df.columns]
    return report


def describe_failures(report: dict[str, Any]) -> str:
    """One line per failed check, for the stage's error message."""
    lines = []
    for f in report["failures"]:
        where = f"column {f['column']!r}" if f["column"] else "dataframe"
        lines.append(f"  {where}: {f['check']} failed for {f['failing']} value(s), "
                     f"e.g. {', '.join(map(repr, f['examples'][:3]))}")
    return "\n".join(lines)
