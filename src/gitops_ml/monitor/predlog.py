"""The prediction log: scored rows as JSON Lines, written off the request path, read for drift.

One line per request (the rows it kept after sampling), column by column, which costs one
`json.dumps` of arrays rather than a dict per row:

    {"ts": "2026-11-22T10:00:00Z", "model": "model", "version": "v1.2.0", "rows": 2,
     "inputs": {"size": [9.5, null], "colour": ["red", null]}, "predictions": ["high", "low"]}

Missing values are null.
"""

from __future__ import annotations

import json
import queue
import random
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from gitops_ml.errors import UserError


def _column(values: np.ndarray) -> list[Any]:
    """A feed column as JSON-ready values: NaN and "" (the model's missing markers) -> None."""
    if values.dtype.kind == "f":
        return np.where(np.isnan(values), None, values.astype(object)).tolist()
    return np.where(values == "", None, values).tolist()


class PredictionLog:
    """Samples scored rows and writes them from a background thread (the request never waits).

    `destination` is a file path (appended to) or "-" for stdout. When the queue is full the
    rows are dropped and counted, rather than slowing the request down.
    """

    def __init__(self, destination: str, *, sample_rate: float, model: str,
                 version: str | None, max_queue: int = 10_000, seed: int | None = None) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise UserError(f"prediction log sample rate must be in [0, 1], got {sample_rate}")
        self.destination = destination
        self.sample_rate = sample_rate
        self.model, self.version = model, version
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(max_queue)
        self._random = random.Random(seed)
        self._thread = threading.Thread(target=self._drain, name="prediction-log", daemon=True)
        self._thread.start()

    def record(self, feeds: dict[str, np.ndarray], predictions: Sequence[Any]) -> None:
        """Queue a sample of one request's rows: model inputs ([n, 1] arrays) and predictions.

        Only sampling and a queue put happen here; formatting and I/O happen in the writer thread.
        """
        n = len(predictions)
        if self.sample_rate <= 0 or n == 0:
            return
        keep = None
        if self.sample_rate < 1:
            keep = [i for i in range(n) if self._random.random() < self.sample_rate]
            if not keep:
                return
        try:
            self._queue.put_nowait((time.time(), feeds, predictions, keep))
        except queue.Full:
            self.dropped += n if keep is None else len(keep)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _format(self, when: float, feeds: dict[str, np.ndarray], predictions: Sequence[Any],
                keep: list[int] | None) -> tuple[str, int]:
        rows = slice(None) if keep is None else np.asarray(keep)
        kept = list(predictions) if keep is None else [predictions[i] for i in keep]
        record = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
            "model": self.model, "version": self.version, "rows": len(kept),
            "inputs": {name: _column(np.asarray(v)[rows, 0]) for name, v in feeds.items()},
            "predictions": _column(np.asarray(kept)),
        }
        return json.dumps(record, allow_nan=False), len(kept)

    def _drain(self) -> None:
        out: TextIO
        if self.destination == "-":
            out = sys.stdout
        else:
            Path(self.destination).parent.mkdir(parents=True, exist_ok=True)
            out = open(self.destination, "a", encoding="utf-8")  # noqa: SIM115 (thread-owned)
        try:
            while (item := self._queue.get()) is not None:
                try:
                    line, rows = self._format(*item)
                except (TypeError, ValueError):  # an unloggable batch must not stop the writer
                    self.dropped += len(item[2]) if item[3] is None else len(item[3])
                    continue
                out.write(line + "\n")
                self.written += rows
                if self._queue.empty():
                    out.flush()
        finally:
            out.flush()
            if out is not sys.stdout:
                out.close()


def log_files(path: Path) -> list[Path]:
    """The .jsonl files at `path` (a file, or every *.jsonl under a directory, sorted)."""
    if path.is_dir():
        files = sorted(path.rglob("*.jsonl"))
        if not files:
            raise UserError(f"--current: no *.jsonl prediction logs under {path}")
        return files
    return [path]


def read_records(files: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Parsed log lines; a malformed line is an error naming the file and line number."""
    for file in files:
        with open(file, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    inputs, predictions = record["inputs"], record["predictions"]
                    if not isinstance(inputs, dict) or not all(
                            isinstance(v, list) and len(v) == len(predictions)
                            for v in inputs.values()):
                        raise ValueError("inputs must map features to one value per prediction")
                except (ValueError, KeyError, TypeError) as exc:
                    raise UserError(f"{file}:{number}: not a prediction log record ({exc})") \
                        from None
                yield record


def to_frame(records: Iterable[dict[str, Any]]) -> tuple[Any, Any]:
    """The logged inputs as one DataFrame, and the logged predictions as a Series."""
    import pandas as pd

    frames, predictions = [], []
    for r in records:
        frames.append(pd.DataFrame(r["inputs"]))
        predictions.extend(r["predictions"])
    inputs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return inputs, pd.Series(predictions, name="prediction")
