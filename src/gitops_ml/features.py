"""The feature schema: records, columns, v2 tensors or a table in, ONNX Runtime feeds out.

Every path that gives the model rows goes through here: the export stage's parity check, the
server's `/predict` and v2 `infer`, `gitops-ml predict`, the smoke test and the drift check. So
one set of rules decides what a value may be, and a value is either fed to the model or rejected
with a problem naming its row and field:

- number: an int or float (not a bool), finite and within float32's range (the model's inputs are
  float32; 3.5e38 would become infinity); missing (null, absent, NaN) only when nullable;
- category: a string; "" and null are missing (only when nullable); with closed categories, a
  value outside the training set is rejected rather than scored as "none of the above";
- boolean: true or false; fed as 1.0/0.0 or "True"/"False", whichever the model was trained on.

Needs numpy only (the serving image has no pandas); `frame()` imports pandas when called.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from types import NoneType
from typing import Any, NamedTuple

import numpy as np

KINDS = ("number", "category", "boolean")
FLOAT32_MAX = float(np.finfo(np.float32).max)
SCORABLE = 1e6  # a number may be this many times the largest training magnitude (Feature.limit)
MAX_PROBLEMS = 100  # a 10,000-row file of bad rows should not become a 10,000-entry error body
_PER_CHECK = 1000  # problems kept per field and check in a table; the rest are only counted
_NUMBER_OR_NONE = frozenset({int, float, NoneType})
_NUMERIC_V2 = frozenset({"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64",
                         "UINT8", "UINT16", "UINT32", "UINT64"})
V2_DATATYPES = _NUMERIC_V2 | {"BYTES", "BOOL"}


@dataclass(frozen=True)
class Feature:
    """One model input, as model.json describes it."""

    name: str
    kind: str  # "number" | "category" | "boolean"
    dtype: str = ""
    nullable: bool = False
    categories: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    # The ONNX input's element type: "float" or "string" (a boolean may be either).
    tensor: str = "float"
    # The ONNX input's name: skl2onnx renames columns it cannot use as a name (`Min.Price` ->
    # `Min_Price`); clients send `name`, the session gets `input`. Empty means `name`.
    input: str = ""

    @property
    def onnx_input(self) -> str:
        return self.input or self.name

    @property
    def is_number(self) -> bool:
        return self.kind == "number"

    @property
    def limit(self) -> float:
        """The largest magnitude this number feature takes (its schema's minimum and maximum).

        float32's range when training saw no range; otherwise SCORABLE times the largest
        magnitude (or spread) seen in training, capped by float32: far beyond any real row, yet
        short of where the model's own arithmetic overflows (a scaler dividing 3e38 by a small
        spread is infinity), so every schema-valid row is scored and none is refused for that.
        """
        if self.min is None or self.max is None:
            return FLOAT32_MAX
        scale = max(abs(self.min), abs(self.max), self.max - self.min, 1.0)
        return min(FLOAT32_MAX, SCORABLE * scale)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Feature:
        kind = raw["type"]
        if kind not in KINDS:
            raise ValueError(f"feature {raw.get('name')!r}: type must be one of {', '.join(KINDS)}")
        cats = raw.get("categories")
        default = "string" if kind == "category" else "float"
        tensor = str(raw.get("tensor", default))
        if tensor not in ("float", "string") or (kind != "boolean" and tensor != default):
            raise ValueError(f"feature {raw.get('name')!r}: tensor {tensor!r} does not fit {kind}")
        return cls(name=str(raw["name"]), kind=kind, dtype=str(raw.get("dtype", "")),
                   nullable=bool(raw.get("nullable", False)),
                   categories=tuple(str(c) for c in cats) if cats is not None else None,
                   min=raw.get("min"), max=raw.get("max"), tensor=tensor,
                   input=str(raw.get("input") or ""))


class Problem(NamedTuple):
    """One bad field: `row` is the record's index (None when the fault is not in one row)."""

    row: int | None
    field: str | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "error": self.error}


class InvalidInput(Exception):
    """The input breaks the feature schema; carries the problems found (a 422)."""

    def __init__(self, problems: list[Problem], status_code: int = 422, uncounted: int = 0) -> None:
        self.problems = problems
        self.status_code = status_code
        self.uncounted = uncounted  # further problems found in a table but not listed
        super().__init__(summary(len(problems) + uncounted))

    @property
    def count(self) -> int:
        return len(self.problems) + self.uncounted

    def body(self) -> dict[str, Any]:
        shown = self.problems[:MAX_PROBLEMS]
        # the first problem in the message too: clients that show only `error` (tritonclient,
        # say) still name the field; values are never echoed
        first = shown[0] if shown else None
        where = [] if first is None else [
            *([f"row {first.row}"] if first.row is not None else []),
            *([first.field] if first.field is not None else [])]
        lead = f" ({', '.join(where)}: {first.error})" if first is not None and where else (
            f" ({first.error})" if first is not None else "")
        out: dict[str, Any] = {"error": summary(self.count) + lead,
                               "errors": [p.to_dict() for p in shown]}
        if self.count > len(shown):
            out["errors_truncated"] = self.count - len(shown)
        return out


def summary(n: int) -> str:
    return f"invalid input: {n} problem{'s' if n != 1 else ''}"


def _by_row(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: -1 if p.row is None else p.row)


def field_name(key: Any) -> str:
    """An unexpected key is the caller's own text; shortened so it cannot carry a payload."""
    text = key if isinstance(key, str) else repr(type(key).__name__)
    return text if len(text) <= 64 else text[:61] + "..."


def out_of_range(limit: float) -> str:
    if limit >= FLOAT32_MAX:
        return "number out of range (float32 holds up to 3.4e38)"
    return f"number out of range (this model takes magnitudes up to {limit:.3g})"


def _number_error(v: Any, limit: float = FLOAT32_MAX) -> str | None:
    """Why a present value cannot be a number feature, or None if it can."""
    t = type(v)
    if t is not int and t is not float:  # type(), not isinstance: keeps bools out
        return "expected a number"
    try:
        x = float(v)
    except OverflowError:  # an integer too large for a float
        return out_of_range(limit)
    if not math.isfinite(x):
        return "not a finite number"
    if abs(x) > limit:
        return out_of_range(limit)
    return None


def _missing(v: Any) -> bool:
    return v is None or (type(v) is float and v != v)


class LazyColumns(Mapping[str, list[Any]]):
    """Columns as the client sent them (lists of Python values), each built on first use.

    The request path never needs them (feeds are built straight from the body); the prediction
    log does, in its writer thread, so the work happens there. `column(name)` reads the parsed
    request, which nothing changes after parsing.
    """

    def __init__(self, names: Sequence[str], column: Callable[[str], list[Any]]) -> None:
        self._names = tuple(names)
        self._column = column
        self._columns: dict[str, list[Any]] = {}

    def __getitem__(self, name: str) -> list[Any]:
        values = self._columns.get(name)
        if values is None:
            if name not in self._names:
                raise KeyError(name)
            values = self._columns[name] = self._column(name)
        return values

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class FeatureSchema:
    """Turns records, columns, v2 tensors or a table into feeds: one [n, 1] array per feature."""

    def __init__(self, features: Sequence[Feature], *, reject_unknown_categories: bool,
                 ignored: Sequence[str] = ()) -> None:
        self.features = tuple(features)
        # Columns of the training data the model does not take (the target, the columns the
        # contract excludes): a row copied from the training file carries them, so a record or
        # a file may too; they are accepted and ignored. Any other name is refused.
        self.ignored = frozenset(ignored) - {f.name for f in self.features}
        self.names = tuple(f.name for f in self.features)
        self._name_set = frozenset(self.names)
        self._by_name = {f.name: f for f in self.features}
        self._getter = operator.itemgetter(*self.names)
        self._numeric = tuple(f for f in self.features if f.is_number)
        # Records of numbers only, two or more (itemgetter returns a tuple then): one conversion
        self._fast_records = len(self._numeric) == len(self.features) > 1
        self._required = np.array([not f.nullable for f in self.features])
        self._limits = np.array([f.limit if f.is_number else FLOAT32_MAX for f in self.features])
        self._numeric_limits = np.array([f.limit for f in self._numeric]).reshape(-1, 1)
        self._closed = {f.name: frozenset(f.categories) for f in self.features
                        if f.kind == "category" and f.categories is not None
                        and reject_unknown_categories}

    # -- records: the /predict body -------------------------------------------------------------

    def record_columns(self, body: Any, max_rows: int) -> LazyColumns:
        """A JSON list of {feature: value} objects, seen as one list per feature (absent -> None).

        Raises for a body that is not a list of objects, is empty, or has more than `max_rows`
        records (a 422 like any other schema violation: the OpenAPI says `maxItems`). The columns
        are built on first use (by the prediction log, in its own thread), not here.
        """
        if not isinstance(body, list):
            raise InvalidInput([Problem(None, None, "expected a JSON array of records")])
        _check_count(len(body), max_rows)
        if set(map(type, body)) != {dict}:  # one pass in C, not a generator step per record
            raise InvalidInput([Problem(i, None, "expected an object")
                                for i, rec in enumerate(body) if type(rec) is not dict])
        return LazyColumns(self.names, lambda name: [rec.get(name) for rec in body])

    def records(self, body: Any, max_rows: int) -> tuple[dict[str, np.ndarray], int]:
        """Validate a JSON list of records; return feeds and the row count."""
        columns = self.record_columns(body, max_rows)
        return self.record_feeds(body, columns), len(body)

    def record_feeds(self, body: list[dict[str, Any]],
                     columns: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray]:
        """Feeds for records checked by `record_columns`; unexpected keys are problems.

        The common case (every record holds exactly the features, every number clean) is one
        conversion of all numeric values at once; anything else is checked column by column.
        """
        n = len(body)
        if self._fast_records:
            feeds = self._record_block(body, n)
            if feeds is not None:
                return feeds
        name_set, ignored = self._name_set, self.ignored
        unexpected = [Problem(i, field_name(key), "unexpected field")
                      for i, rec in enumerate(body) if rec.keys() != name_set
                      for key in rec if key not in name_set and key not in ignored]
        try:
            feeds = self.columns(columns, n)
        except InvalidInput as exc:
            raise InvalidInput(_by_row(unexpected + exc.problems)) from None
        if unexpected:
            raise InvalidInput(unexpected)
        return feeds

    def clean_record_feeds(self, body: list[dict[str, Any]]) -> dict[str, np.ndarray] | None:
        """Feeds for records that need no closer look (see `_record_block`), else None.

        For records already checked by `record_columns`: several requests scored together.
        """
        return self._record_block(body, len(body)) if self._fast_records else None

    def _record_block(self, body: list[dict[str, Any]], n: int) -> dict[str, np.ndarray] | None:
        """Feeds for records of numbers only, in one conversion; None when any needs a closer look.

        Takes every feature from every record in C (itemgetter), checks the types in one pass
        and the float32 range in one reduction; a record with a missing or extra key, a value of
        another type or at float32's edge goes the long way, which names the problem.
        """
        k = len(self.names)
        if set(map(len, body)) != {k}:
            return None
        try:
            rows = list(map(self._getter, body))
        except KeyError:
            return None
        if not set(map(type, chain.from_iterable(rows))) <= _NUMBER_OR_NONE:
            return None
        return self._row_block(rows)

    # -- rows: records of numbers, decoded in feature order ----------------------------------------

    def row_columns(self, rows: list[tuple[Any, ...]], max_rows: int) -> LazyColumns:
        """`record_columns` for records decoded as rows: one tuple of ints, floats or None per
        record, in feature order (serve/records.py reads a /predict body of numbers so)."""
        _check_count(len(rows), max_rows)
        index = {name: j for j, name in enumerate(self.names)}
        return LazyColumns(self.names,
                           lambda name: list(map(operator.itemgetter(index[name]), rows)))

    def row_feeds(self, rows: list[tuple[Any, ...]],
                  columns: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray]:
        """`record_feeds` for rows checked by `row_columns`: one conversion when every value is
        clean, else the column checks, which name each problem."""
        feeds = self._row_block(rows)
        return feeds if feeds is not None else self.columns(columns, len(rows))

    def clean_row_feeds(self, rows: list[tuple[Any, ...]]) -> dict[str, np.ndarray] | None:
        """Feeds for rows that need no closer look, else None (`clean_record_feeds` for rows)."""
        return self._row_block(rows)

    @property
    def numbers_only(self) -> bool:
        """Every feature is a number (records can then be read as rows of numbers)."""
        return len(self._numeric) == len(self.features)

    def _row_block(self, rows: list[tuple[Any, ...]]) -> dict[str, np.ndarray] | None:
        """Rows of ints, floats and None (already type-checked) as feeds in one conversion; None
        when a value needs a closer look (missing where required, at or beyond a limit)."""
        try:
            block = np.array(rows, dtype=np.float64)  # [rows, features]; null -> NaN
        except OverflowError:  # an integer beyond float64
            return None
        # NaN compares False, so a null also takes the closer look (fine where nullable)
        magnitude = np.abs(block).max(axis=0)
        if not (magnitude < self._limits).all():
            holes = np.isnan(magnitude)
            if (magnitude[~holes] >= self._limits[~holes]).any() or (holes & self._required).any():
                return None
        # [features, rows, 1] in one copy; iterating it yields each feature's [n, 1] view in C
        return dict(zip(self.names, block.T.astype(np.float32)[:, :, None], strict=True))

    def unknown_columns(self, names: Sequence[str]) -> list[str]:
        """The names that are neither features nor columns the model ignores."""
        return [name for name in names if name not in self._name_set and name not in self.ignored]

    # -- columns: one list of values per feature --------------------------------------------------

    def columns(self, columns: Mapping[str, Sequence[Any]], n: int,
                row_offset: int = 0) -> dict[str, np.ndarray]:
        """Validate one list of values per feature (None = missing); rows count from row_offset."""
        problems: list[Problem] = []
        feeds = self._number_block(columns, n)
        for f in self.features:
            if f.name in feeds:
                continue
            feeds[f.name] = self._feed(f, columns[f.name], n, problems, row_offset)
        if problems:
            raise InvalidInput(_by_row(problems))
        return feeds

    def _feed(self, f: Feature, values: Sequence[Any], n: int, problems: list[Problem],
              row_offset: int) -> np.ndarray:
        """One feature's values checked and converted by its kind (the one dispatch)."""
        if f.kind == "number":
            return self._numbers(f, values, n, problems, row_offset)
        if f.kind == "category":
            return self._categories(f, values, n, problems, row_offset)
        return self._booleans(f, values, n, problems, row_offset)

    def _number_block(self, columns: Mapping[str, Sequence[Any]],
                      n: int) -> dict[str, np.ndarray]:
        """The common case in one conversion: every numeric column clean, as [n, 1] views.

        Leaves a column out whenever a value needs a closer look (a missing value in a required
        column, anything beyond float32); `_numbers` then checks that column value by value.
        """
        if not self._numeric:
            return {}
        lists = [columns[f.name] for f in self._numeric]
        types = set(chain.from_iterable(map(type, values) for values in lists))
        if not types <= _NUMBER_OR_NONE:
            return {}
        try:
            # float64 for the checks: float32 rounding could bring a value beyond a feature's
            # limit back inside it
            wide = np.array(lists, dtype=np.float64)  # [features, rows]: rows contiguous
        except (OverflowError, ValueError, TypeError):  # a huge integer, or ragged columns
            return {}
        if wide.shape != (len(lists), n):
            return {}
        # At the limit: infinity, or a value at or beyond it (checked value by value)
        edge = np.abs(wide) >= self._numeric_limits
        holes = np.isnan(wide).any(axis=1)
        if not edge.any() and not holes.any():
            block = wide.astype(np.float32)  # below every limit, so below float32's largest
            return {f.name: block[j].reshape(n, 1) for j, f in enumerate(self._numeric)}
        # NaN (from None or NaN) is fine in a nullable column; a column with a value at the edge
        # is not cast (beyond float32 it would overflow) but checked value by value.
        ok = ~edge.any(axis=1)
        return {f.name: wide[j].astype(np.float32).reshape(n, 1)
                for j, f in enumerate(self._numeric) if ok[j] and (f.nullable or not holes[j])}

    @staticmethod
    def _numbers(f: Feature, values: Sequence[Any], n: int, problems: list[Problem],
                 offset: int) -> np.ndarray:
        found = len(problems)
        for i, v in enumerate(values):
            if _missing(v):
                if not f.nullable:
                    problems.append(Problem(offset + i, f.name, "missing"))
            elif (error := _number_error(v, f.limit)) is not None:
                problems.append(Problem(offset + i, f.name, error))
        if len(problems) > found:
            return np.empty((0, 1), np.float32)
        return np.array([np.nan if v is None else v for v in values],
                        dtype=np.float32).reshape(n, 1)

    def _categories(self, f: Feature, values: Sequence[Any], n: int, problems: list[Problem],
                    offset: int) -> np.ndarray:
        closed = self._closed.get(f.name)
        types = set(map(type, values))
        bad = False
        if not types <= {str, NoneType}:
            bad = True
        elif NoneType in types or "" in values:
            if not f.nullable:
                bad = True
            else:
                values = ["" if v is None else v for v in values]
        if closed is not None and not bad:
            bad = any(v not in closed and v != "" for v in values)
        if not bad:
            arr = np.empty((n, 1), dtype=object)
            arr[:, 0] = values
            return arr
        for i, v in enumerate(values):
            if v is None or v == "":
                if not f.nullable:
                    problems.append(Problem(offset + i, f.name, "missing"))
            elif type(v) is not str:
                problems.append(Problem(offset + i, f.name, "expected a string"))
            elif closed is not None and v not in closed:
                problems.append(Problem(offset + i, f.name, "unknown category"))
        return np.empty((0, 1), object)

    @staticmethod
    def _booleans(f: Feature, values: Sequence[Any], n: int, problems: list[Problem],
                  offset: int) -> np.ndarray:
        found = len(problems)
        for i, v in enumerate(values):
            if v is None:
                if not f.nullable:
                    problems.append(Problem(offset + i, f.name, "missing"))
            elif type(v) is not bool:
                problems.append(Problem(offset + i, f.name, "expected true or false"))
        if len(problems) > found:
            return np.empty((0, 1), np.float32 if f.tensor == "float" else object)
        if f.tensor == "float":
            return np.array([np.nan if v is None else float(v) for v in values],
                            dtype=np.float32).reshape(n, 1)
        arr = np.empty((n, 1), dtype=object)
        # str(True) == "True": how the training frame spells a boolean as a category
        arr[:, 0] = ["" if v is None else str(v) for v in values]
        return arr

    # -- v2 tensors -----------------------------------------------------------------------------

    def tensor_columns(self, inputs: Any, max_rows: int,
                       binary: Sequence[Any] | None = None) -> tuple[dict[str, Any], int]:
        """v2 `inputs` (one tensor per feature, first dimension the batch) as columns.

        https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
        `binary` holds, input by input, the data the binary extension carried (a numpy array, a
        list of strings for BYTES) or None where the data is in the JSON.
        """
        if not isinstance(inputs, list) or not inputs:
            raise InvalidInput([Problem(None, "inputs", "expected a non-empty list of tensors")])
        problems: list[Problem] = []
        columns: dict[str, list[Any]] = {}
        batch: int | None = None
        for position, tensor in enumerate(inputs):
            name = tensor.get("name") if isinstance(tensor, dict) else None
            if not isinstance(name, str):
                problems.append(Problem(None, "inputs", "every tensor needs a string name"))
                continue
            f = self._by_name.get(name)
            if f is None:
                problems.append(Problem(None, field_name(name), "unexpected input"))
                continue
            if name in columns:
                problems.append(Problem(None, name, "input given twice"))
                continue
            datatype, shape, data = (tensor.get("datatype"), tensor.get("shape"),
                                     tensor.get("data"))
            wanted = {"number": _NUMERIC_V2, "category": {"BYTES"}, "boolean": {"BOOL"}}[f.kind]
            if not isinstance(datatype, str) or datatype not in wanted:
                want = {"number": "a numeric datatype (FP32, FP64, INT64, ...)",
                        "category": "BYTES", "boolean": "BOOL"}[f.kind]
                problems.append(Problem(None, name, f"datatype must be {want}"))
                continue
            if (not isinstance(shape, list) or not shape or len(shape) > 2
                    or not all(type(d) is int and d >= 0 for d in shape)
                    or (len(shape) == 2 and shape[1] != 1)):
                problems.append(Problem(None, name, "shape must be [batch] or [batch, 1]"))
                continue
            raw = binary[position] if binary is not None else None
            if raw is None and not isinstance(data, list):
                problems.append(Problem(None, name, "data must be a list"))
                continue
            flat = _flatten(data) if raw is None else raw
            if len(flat) != shape[0]:
                problems.append(Problem(None, name, "data length does not match shape"))
                continue
            if batch is None:
                batch = shape[0]
            elif shape[0] != batch:
                problems.append(Problem(None, name, "batch size differs from the other inputs"))
                continue
            columns[name] = flat
        problems.extend(Problem(None, f.name, "missing") for f in self.features
                        if f.name not in columns and not any(p.field == f.name for p in problems))
        if problems:
            raise InvalidInput(problems)
        n = batch or 0
        if n == 0:
            raise InvalidInput([Problem(None, "inputs", "expected at least one row")])
        if n > max_rows:
            raise InvalidInput([Problem(None, "inputs", f"too many rows: the limit is {max_rows}")])
        return columns, n

    def tensors(self, inputs: Any, max_rows: int) -> tuple[dict[str, np.ndarray], int]:
        """Validate v2 `inputs` into feeds; return feeds and the batch size."""
        columns, n = self.tensor_columns(inputs, max_rows)
        return self.columns(columns, n), n

    # -- tables: numpy arrays, a pandas DataFrame ------------------------------------------------

    def arrays(self, columns: Mapping[str, np.ndarray], n: int,
               row_offset: int = 0) -> dict[str, np.ndarray]:
        """Validate one numpy array per feature (a table's columns) with vectorised checks.

        Float arrays use NaN for missing; object arrays hold Python values (None or NaN for
        missing) and are checked value by value, as JSON would be.
        """
        problems: list[Problem] = []
        uncounted = 0
        feeds = self._array_block(columns, n)
        for f in self.features:
            if f.name in feeds:
                continue
            arr = np.asarray(columns[f.name]).reshape(-1)
            if len(arr) != n:
                raise ValueError(f"column {f.name!r} has {len(arr)} values, expected {n}")
            if f.kind == "number" and arr.dtype.kind in "iuf":
                x = arr.astype(np.float64)
                checks = [(np.isinf(x), "not a finite number"),
                          (np.isfinite(x) & (np.abs(x) > f.limit), out_of_range(f.limit))]
                if not f.nullable:
                    checks.insert(0, (np.isnan(x), "missing"))
                found = False
                for mask, error in checks:
                    rows = np.flatnonzero(mask)
                    if len(rows):
                        found = True
                        problems.extend(Problem(row_offset + int(i), f.name, error)
                                        for i in rows[:_PER_CHECK])
                        uncounted += max(0, len(rows) - _PER_CHECK)
                if not found:
                    feeds[f.name] = x.astype(np.float32).reshape(n, 1)
                continue
            if f.kind == "category" and (feed := self._clean_categories(f, arr)) is not None:
                feeds[f.name] = feed
                continue
            if f.kind == "boolean" and arr.dtype.kind == "b":
                values: list[Any] = arr.tolist()
            else:
                values = [None if _missing(v) or _is_na(v)
                          else v.item() if isinstance(v, np.generic) else v
                          for v in arr.tolist()]
            feeds[f.name] = self._feed(f, values, n, problems, row_offset)
        if problems:
            raise InvalidInput(_by_row(problems), uncounted=uncounted)
        return feeds

    def _clean_categories(self, f: Feature, arr: np.ndarray) -> np.ndarray | None:
        """A category array in the common case (strings, and missing values where nullable) as
        its feed, in a few whole-array passes; None when any value needs naming, so that the
        value-by-value path (`_categories`) reports it. Same feed as that path: "" for missing.

        A million-row export spent a second converting and checking category values one by one.
        """
        if arr.dtype.kind == "U":
            arr = arr.astype(object)
        if arr.dtype != object:
            return None
        types = Counter(map(type, arr.tolist()))
        if not types.keys() <= {str, NoneType, float}:
            return None  # numpy scalars, pandas.NA, numbers: the long way converts or names them
        missing = arr == ""
        if types[NoneType]:
            missing |= np.equal(arr, None)
        if types[float]:
            nan = arr != arr  # only NaN differs from itself
            if int(nan.sum()) != types[float]:
                return None  # a float that is not NaN is not a category
            missing |= nan
        if not f.nullable and missing.any():
            return None
        closed = self._closed.get(f.name)
        if closed is not None and not set(arr[~missing].tolist()) <= closed:
            return None
        return np.where(missing, "", arr).astype(object, copy=False).reshape(-1, 1)

    def _array_block(self, columns: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        """Every numeric feature's array checked at once, when all are clean (the common case).

        Returns {} when a value needs naming (infinity, beyond float32, missing where required)
        or a column is not a numeric array; `arrays` then checks feature by feature.
        """
        if not self._numeric:
            return {}
        arrays = [np.asarray(columns[f.name]).reshape(-1) for f in self._numeric]
        if any(a.dtype.kind not in "iuf" or len(a) != n for a in arrays):
            return {}
        block = np.array(arrays, dtype=np.float64)  # [features, rows]
        if not (np.abs(block) <= self._numeric_limits).all():  # NaN (missing) too
            if (np.abs(np.nan_to_num(block, nan=0.0)) > self._numeric_limits).any():
                return {}  # infinity or beyond the limit: named feature by feature
            required = np.array([not f.nullable for f in self._numeric])
            if (np.isnan(block).any(axis=1) & required).any():
                return {}
        return dict(zip((f.name for f in self._numeric), block.astype(np.float32)[:, :, None],
                        strict=True))

    def frame(self, df: Any, row_offset: int = 0) -> dict[str, np.ndarray]:
        """Validate a pandas DataFrame's feature columns (missing columns are a UserError)."""
        from gitops_ml.errors import UserError

        absent = [name for name in self.names if name not in df.columns]
        if absent:
            raise UserError(f"data: feature column(s) missing: {', '.join(absent)}")
        columns = {}
        for f in self.features:
            col = df[f.name]
            if f.kind == "number" and col.dtype.kind in "iufb":
                columns[f.name] = col.to_numpy()
            elif f.kind == "number" and str(col.dtype) in ("Float64", "Float32", "Int64",
                                                           "Int32", "Int16", "Int8"):
                columns[f.name] = col.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                columns[f.name] = col.to_numpy(dtype=object)
        return self.arrays(columns, len(df), row_offset)

    def records_of(self, df: Any) -> list[dict[str, Any]]:
        """A table's rows as the JSON records a client sends (after the same checks as `frame`).

        The inverse of `records` for the smoke test and the benchmark: numbers as floats,
        missing values as null, so the server sees exactly the rows the pipeline scored.
        """
        self.frame(df)
        columns = []
        for f in self.features:
            values = df[f.name].to_numpy(dtype=object).tolist()
            cast = {"number": float, "category": str, "boolean": bool}[f.kind]
            columns.append([None if _missing(v) or _is_na(v) else cast(v) for v in values])
        return [dict(zip(self.names, row, strict=True)) for row in zip(*columns, strict=True)]

    # -- outputs --------------------------------------------------------------------------------

    def unscorable(self, rows: Sequence[int], feeds: Mapping[str, np.ndarray],
                   row_offset: int = 0) -> InvalidInput:
        """The error for rows the model scored as NaN or infinity (values it cannot combine).

        Names the numeric fields of each row that lie outside the training range; those are what
        drove the arithmetic to infinity.
        """
        problems = []
        for i in rows[:MAX_PROBLEMS]:
            named = False
            for f in self._numeric:
                v = float(feeds[f.name][i, 0])
                if f.min is not None and f.max is not None and not f.min <= v <= f.max:
                    problems.append(Problem(row_offset + int(i), f.name,
                                            "too extreme to score (training range "
                                            f"{f.min} to {f.max})"))
                    named = True
            if not named:
                problems.append(Problem(row_offset + int(i), None,
                                        "the model cannot score this row"))
        return InvalidInput(problems, uncounted=max(0, len(rows) - MAX_PROBLEMS))


def _check_count(n: int, max_rows: int) -> None:
    if not n:
        raise InvalidInput([Problem(None, None, "expected at least one record")])
    if n > max_rows:
        raise InvalidInput([Problem(None, None, f"too many records: the limit is {max_rows}")])


def _is_na(v: Any) -> bool:
    # pandas.NA and NaT without importing pandas: both refuse to be compared to themselves
    name = type(v).__name__
    return name in ("NAType", "NaTType")


def _flatten(data: list[Any]) -> list[Any]:
    if not any(type(v) is list for v in data):
        return data
    flat: list[Any] = []
    for v in data:
        flat.extend(_flatten(v) if type(v) is list else (v,))
    return flat


def non_finite_rows(outputs: Mapping[str, np.ndarray]) -> list[int]:
    """Rows with a NaN or infinite float output (probabilities or value)."""
    bad: set[int] = set()
    for array in outputs.values():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            finite = np.isfinite(array.reshape(len(array), -1)).all(axis=1)
            bad.update(np.flatnonzero(~finite).tolist())
    return sorted(bad)
