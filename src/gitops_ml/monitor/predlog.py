"""The prediction log: scored rows as JSON Lines, written off the request path, read for drift.

One line per row: {"ts": ISO-8601 UTC, "model": name, "version": v, "inputs": {feature: value},
"prediction": label or value}. Missing values are null.
"""

from __future__ import annotations

import json
import math
import queue
import random
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from gitops_ml.errors import UserError


def _clean(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalar -> Python
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value == "":  # a missing category travels as "" into the model
        return None
    return value


class PredictionLog:
    """Samples scored rows and writes them from a background thread (the request never waits).

    `destination` is a file path (appended to) or "-" for stdout. When the queue is full the
    row is dropped and counted, rather than slowing the request down.
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

    def record(self, feeds: dict[str, Any], predictions: Sequence[Any]) -> None:
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

    def _format(self, when: float, feeds: dict[str, Any], predictions: Sequence[Any],
                keep: list[int] | None) -> list[str]:
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
        rows = range(len(predictions)) if keep is None else keep
        return [json.dumps({"ts": ts, "model": self.model, "version": self.version,
                            "inputs": {f: _clean(v[i][0]) for f, v in feeds.items()},
                            "prediction": _clean(predictions[i])}, allow_nan=False)
                for i in rows]

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
                    lines = self._format(*item)
                except (TypeError, ValueError):  # an unloggable row must not stop the writer
                    self.dropped += len(item[2]) if item[3] is None else len(item[3])
                    continue
                out.write("\n".join(lines) + "\n")
                self.written += len(lines)
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
                    if not isinstance(record.get("inputs"), dict):
                        raise ValueError("no inputs object")
                except (ValueError, AttributeError) as exc:
                    raise UserError(f"{file}:{number}: not a prediction log record ({exc})") \
                        from None
                yield record


def to_frame(records: Iterable[dict[str, Any]]) -> tuple[Any, Any]:
    """The logged inputs as a DataFrame, and the logged predictions as a Series."""
    import pandas as pd

    records = list(records)
    inputs = pd.DataFrame.from_records([r["inputs"] for r in records])
    predictions = pd.Series([r.get("prediction") for r in records], name="prediction")
    return inputs, predictions
