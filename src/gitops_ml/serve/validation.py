"""Request validation compiled from the feature schema; errors name row and field, never values.

Plain Python rather than pydantic on the hot path: a scoring request is a few type checks per value,
and the OpenAPI schema (schema.py) is generated from the same features, so docs and checks agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from types import NoneType
from typing import Any, NamedTuple

import numpy as np

from gitops_ml.serve.model import Feature

MAX_PROBLEMS = 100  # a 10,000-row file of bad rows should not become a 10,000-entry error body
_NUMBER_OR_NONE = {int, float, NoneType}


def _fits_float(v: int) -> bool:
    try:
        float(v)
    except OverflowError:
        return False
    return True


class Problem(NamedTuple):
    """One bad field: `row` is the record's index (None when the fault is not in one row)."""

    row: int | None
    field: str | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "error": self.error}


class InvalidInput(Exception):
    """The request (or file chunk) breaks the feature schema; carries every problem found."""

    def __init__(self, problems: list[Problem], status_code: int = 422) -> None:
        self.problems = problems
        self.status_code = status_code
        super().__init__(summary(problems))

    def body(self) -> dict[str, Any]:
        shown = self.problems[:MAX_PROBLEMS]
        out: dict[str, Any] = {"error": summary(self.problems),
                               "errors": [p.to_dict() for p in shown]}
        if len(self.problems) > len(shown):
            out["errors_truncated"] = len(self.problems) - len(shown)
        return out


def summary(problems: Sequence[Problem]) -> str:
    n = len(problems)
    return f"invalid input: {n} problem{'s' if n != 1 else ''}"


def _by_row(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: -1 if p.row is None else p.row)


def _field_name(key: Any) -> str:
    # An unexpected key is the caller's own field name; shorten it so it cannot carry a payload.
    text = key if isinstance(key, str) else repr(type(key).__name__)
    return text if len(text) <= 64 else text[:61] + "..."


class Validator:
    """Turns records or columns into ONNX feeds: float32 [n, 1] numbers, object [n, 1] strings."""

    def __init__(self, features: Sequence[Feature], *, reject_unknown_categories: bool) -> None:
        self.features = tuple(features)
        self.names = tuple(f.name for f in self.features)
        self._name_set = frozenset(self.names)
        self._numeric = tuple(f for f in self.features if f.is_number)
        self._closed = {f.name: frozenset(f.categories) for f in self.features
                        if not f.is_number and f.categories is not None
                        and reject_unknown_categories}

    # -- records: the /predict body -------------------------------------------------------------

    def records(self, body: Any, max_rows: int) -> tuple[dict[str, np.ndarray], int]:
        """Validate a JSON list of {feature: value} objects; return feeds and the row count."""
        if not isinstance(body, list):
            raise InvalidInput([Problem(None, None, "expected a JSON array of records")])
        if not body:
            raise InvalidInput([Problem(None, None, "expected at least one record")])
        if len(body) > max_rows:
            raise InvalidInput([Problem(None, None, f"too many records: the limit is {max_rows}")],
                               status_code=413)
        names, name_set = self.names, self._name_set
        if any(type(rec) is not dict for rec in body):
            raise InvalidInput([Problem(i, None, "expected an object")
                                for i, rec in enumerate(body) if type(rec) is not dict])
        # Absent keys read as None, so a missing feature is reported with the column checks.
        unexpected = [Problem(i, _field_name(k), "unexpected field")
                      for i, rec in enumerate(body) if rec.keys() != name_set
                      for k in rec if k not in name_set]
        columns = {name: [rec.get(name) for rec in body] for name in names}
        try:
            feeds = self.columns(columns, len(body))
        except InvalidInput as exc:
            raise InvalidInput(_by_row(unexpected + exc.problems)) from None
        if unexpected:
            raise InvalidInput(unexpected)
        return feeds, len(body)

    # -- columns: shared by /predict, the v2 protocol and batch scoring -------------------------

    def columns(self, columns: dict[str, Sequence[Any]], n: int,
                row_offset: int = 0) -> dict[str, np.ndarray]:
        """Validate one list of values per feature (None = missing); rows count from row_offset."""
        problems: list[Problem] = []
        feeds = self._number_block(columns, n)
        for f in self.features:
            if f.name in feeds:
                continue
            values = columns[f.name]
            if f.is_number:
                feeds[f.name] = self._numbers(f, values, n, problems, row_offset)
            else:
                feeds[f.name] = self._categories(f, values, n, problems, row_offset)
        if problems:
            raise InvalidInput(_by_row(problems))
        return feeds

    def _number_block(self, columns: dict[str, Sequence[Any]], n: int) -> dict[str, np.ndarray]:
        """The common case in one conversion: every numeric column clean, as [n, 1] views.

        Returns {} (or leaves out a column) whenever a value needs a closer look; `_numbers`
        then checks that column value by value.
        """
        if not self._numeric:
            return {}
        lists = [columns[f.name] for f in self._numeric]
        types = set(chain.from_iterable(map(type, values) for values in lists))
        if not types <= _NUMBER_OR_NONE:
            return {}
        try:
            block = np.array(lists, dtype=np.float32)  # [features, rows]: each row contiguous
        except (OverflowError, ValueError):  # a huge integer, or ragged columns
            return {}
        holes = np.isnan(block).any(axis=1) if (float in types or NoneType in types) else None
        return {f.name: block[j].reshape(n, 1) for j, f in enumerate(self._numeric)
                if holes is None or f.nullable or not holes[j]}

    @staticmethod
    def _numbers(f: Feature, values: Sequence[Any], n: int, problems: list[Problem],
                 offset: int) -> np.ndarray:
        found = len(problems)
        for i, v in enumerate(values):
            t = type(v)
            if v is None or (t is float and v != v):
                if not f.nullable:
                    problems.append(Problem(offset + i, f.name, "missing"))
            elif t is not int and t is not float:  # type(), not isinstance: keeps bools out
                problems.append(Problem(offset + i, f.name, "expected a number"))
            elif t is int and not _fits_float(v):
                problems.append(Problem(offset + i, f.name, "number out of range"))
        if len(problems) > found:
            return np.empty((0, 1), np.float32)
        return np.array(values, dtype=np.float32).reshape(n, 1)

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


_NUMERIC_V2 = frozenset({"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64",
                         "UINT8", "UINT16", "UINT32", "UINT64"})


def _flatten(data: list[Any]) -> list[Any]:
    if not any(type(v) is list for v in data):
        return data
    flat: list[Any] = []
    for v in data:
        flat.extend(_flatten(v) if type(v) is list else (v,))
    return flat


def v2_columns(validator: Validator, inputs: Any,
               max_rows: int) -> tuple[dict[str, np.ndarray], int]:
    """Validate v2 `inputs` (one tensor per feature, first dimension the batch) into feeds.

    https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
    """
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput([Problem(None, "inputs", "expected a non-empty list of tensors")])
    problems: list[Problem] = []
    columns: dict[str, list[Any]] = {}
    batch: int | None = None
    by_name = {f.name: f for f in validator.features}
    for tensor in inputs:
        name = tensor.get("name") if isinstance(tensor, dict) else None
        if not isinstance(name, str):
            problems.append(Problem(None, "inputs", "every tensor needs a string name"))
            continue
        f = by_name.get(name)
        if f is None:
            problems.append(Problem(None, _field_name(name), "unexpected input"))
            continue
        if name in columns:
            problems.append(Problem(None, name, "input given twice"))
            continue
        datatype, shape, data = tensor.get("datatype"), tensor.get("shape"), tensor.get("data")
        if datatype not in (_NUMERIC_V2 if f.is_number else {"BYTES"}):
            want = "a numeric datatype (FP32, FP64, INT64, ...)" if f.is_number else "BYTES"
            problems.append(Problem(None, name, f"datatype must be {want}"))
            continue
        if (not isinstance(shape, list) or not shape or len(shape) > 2
                or not all(type(d) is int and d >= 0 for d in shape)
                or (len(shape) == 2 and shape[1] != 1)):
            problems.append(Problem(None, name, "shape must be [batch] or [batch, 1]"))
            continue
        if not isinstance(data, list):
            problems.append(Problem(None, name, "data must be a list"))
            continue
        flat = _flatten(data)
        if len(flat) != shape[0]:
            problems.append(Problem(None, name, "data length does not match shape"))
            continue
        if batch is None:
            batch = shape[0]
        elif shape[0] != batch:
            problems.append(Problem(None, name, "batch size differs from the other inputs"))
            continue
        columns[name] = flat
    problems.extend(Problem(None, f.name, "missing") for f in validator.features
                    if f.name not in columns and not any(p.field == f.name for p in problems))
    if problems:
        raise InvalidInput(problems)
    n = batch or 0
    if n == 0:
        raise InvalidInput([Problem(None, "inputs", "expected at least one row")])
    if n > max_rows:
        raise InvalidInput([Problem(None, "inputs", f"too many rows: the limit is {max_rows}")],
                           status_code=413)
    return validator.columns(columns, n), n
