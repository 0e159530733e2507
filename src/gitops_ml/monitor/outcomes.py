"""Logged predictions as one row per (request, row, model), joined to labels that arrived later.

A prediction log line (see `predlog`) carries the request id, the role of the model that answered
(`champion` or `challenger`), its predictions and, for classifiers, its class probabilities in
`classes` order; in shadow mode also `shadow`, the other model's output for the same rows. Lines
written before request ids were logged have none, and cannot be joined to labels.

Labels are a CSV or Parquet file with `request_id`, an optional `row` (the record's position in
its request, 0 when absent: one record per request) and the target column.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from gitops_ml.errors import UserError

KEY = ["request_id", "row"]


def _rows(record: dict[str, Any], part: dict[str, Any], served: bool) -> dict[str, list[Any]]:
    n = len(part["predictions"])
    positions = record.get("row_numbers") or list(range(n))
    return {
        "request_id": [record.get("request_id")] * n, "row": positions,
        "ts": [record["ts"]] * n, "model": [part.get("model")] * n,
        "version": [part.get("version")] * n, "role": [part.get("role", "champion")] * n,
        "served": [served] * n, "prediction": list(part["predictions"]),
        "probabilities": list(part.get("probabilities") or [None] * n),
    }


def frame(records: Iterable[dict[str, Any]]) -> Any:
    """One row per logged prediction: served ones, and shadow ones (`served` false).

    Refused requests (status 422) carry no prediction and are left out. `classes` is attached
    as `frame.attrs["classes"]` (the served model's, from the first line that has it).
    """
    import pandas as pd

    columns: dict[str, list[Any]] = {k: [] for k in (
        "request_id", "row", "ts", "model", "version", "role", "served", "prediction",
        "probabilities")}
    classes = None
    for record in records:
        if record.get("status") not in (None, 200):
            continue
        parts = [(record, True)]
        if isinstance(record.get("shadow"), dict) and "predictions" in record["shadow"]:
            parts.append((record["shadow"], False))
        for part, served in parts:
            for key, values in _rows(record, part, served).items():
                columns[key].extend(values)
        classes = classes or record.get("classes")
    df = pd.DataFrame(columns)
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    df.attrs["classes"] = [str(c) for c in classes] if classes else None
    return df


def read_labels(path: Path, target: str) -> Any:
    """The labels file as request_id, row, label; duplicates and missing columns are errors."""
    from gitops_ml.io import read_table

    df = read_table(path, key="--labels")
    missing = [c for c in ("request_id", target) if c not in df.columns]
    if missing:
        raise UserError(f"--labels: column(s) missing: {', '.join(missing)} (expected "
                        f"request_id, an optional row and the target {target!r})")
    out = df[["request_id", target]].rename(columns={target: "label"})
    label = out["label"]
    if label.dtype.kind == "f" and bool((label.dropna() % 1 == 0).all()):
        # integer classes with a gap read as floats (1.0); the log has them as "1"
        out["label"] = label.astype("Int64").astype(object)
    out["request_id"] = out["request_id"].astype(str)
    out["row"] = df["row"].astype(int) if "row" in df.columns else 0
    duplicated = out.duplicated(KEY)
    if duplicated.any():
        first = out[duplicated].iloc[0]
        raise UserError(f"--labels: request {first['request_id']!r} row {first['row']} "
                        "is labelled more than once")
    return out[out["label"].notna()]


def join(predictions: Any, labels: Any) -> Any:
    """The logged predictions that have a label (inner join on request id and row)."""
    logged = predictions[predictions["request_id"].notna()].copy()
    logged["request_id"] = logged["request_id"].astype(str)
    joined = logged.merge(labels, on=KEY, how="inner", validate="many_to_one")
    joined.attrs = dict(predictions.attrs)
    return joined


def probability_matrix(df: Any, classes: list[str]) -> np.ndarray | None:
    """The `probabilities` column as an [n, classes] array, or None when any row lacks them."""
    values = df["probabilities"].tolist()
    if not values or any(v is None for v in values):
        return None
    matrix = np.asarray(values, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] != len(classes):
        return None
    return matrix


def labelled_inputs(records: Iterable[dict[str, Any]], labels: Any, target: str) -> Any:
    """The served rows' inputs, as logged, with their labels as `target`: a batch to retrain on."""
    import pandas as pd

    frames = []
    for record in records:
        if record.get("status") not in (None, 200) or record.get("request_id") is None:
            continue
        part = pd.DataFrame(record["inputs"])
        part["request_id"] = str(record["request_id"])
        part["row"] = record.get("row_numbers") or list(range(len(part)))
        frames.append(part)
    if not frames:
        return pd.DataFrame()
    inputs = pd.concat(frames, ignore_index=True)
    joined = inputs.merge(labels, on=KEY, how="inner")
    return joined.drop(columns=KEY).rename(columns={"label": target})
