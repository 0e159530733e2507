"""The prediction log: scored and rejected rows as JSON Lines, written off the request path.

One file per server process, `predictions-<host>-<pid>-<start time>.jsonl` in the configured
directory, so processes never interleave lines and a crash can only cut a file's last line (which
the reader skips). One line per request (the rows it kept after sampling), column by column:

    {"ts": "2026-11-22T10:00:00Z", "model": "model", "version": "v1.2.0", "rows": 2,
     "inputs": {"size": [9.5, null], "colour": ["red", null]}, "predictions": ["high", "low"]}

Values are logged as the client sent them (JSON numbers round-trip exactly; the float32 cast is
the model's business, not the log's), so the drift check compares like with like. Missing values
are null. A request refused with 422 is logged too, with `"status": 422`, null predictions and
its `errors`; values that do not fit the feature's type are logged as null, the others (an
unknown category, say) as sent, so drift can see what was refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from gitops_ml.errors import UserError
from gitops_ml.features import Feature, Problem

log = logging.getLogger("gitops_ml.predlog")
_FITS = {"number": (int, float), "category": (str,), "boolean": (bool,)}


def log_file_name(when: float | None = None) -> str:
    """This process's file: host and pid keep processes apart, the start time keeps restarts."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if when is None else when))
    return f"predictions-{socket.gethostname()}-{os.getpid()}-{stamp}.jsonl"


def _open(destination: str) -> tuple[TextIO, str]:
    if destination == "-":
        return sys.stdout, "-"
    folder = Path(destination)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / log_file_name()
        return open(path, "a", encoding="utf-8"), str(path)  # noqa: SIM115 (closed in close())
    except OSError as exc:
        raise UserError(f"GITOPS_ML_PREDICTION_LOG: cannot write a log file in {folder} "
                        f"({exc.strerror or exc}); mount a writable directory there or unset "
                        "the variable") from None


def _accepted(f: Feature, values: Sequence[Any]) -> list[Any]:
    # "" is the schema's missing category; the training data spells missing as null.
    if f.kind == "category":
        return [None if v == "" else v for v in values]
    return list(values)


def _as_sent(f: Feature, values: Sequence[Any]) -> list[Any]:
    """A refused request's values: those of the feature's type as sent, anything else null."""
    types = _FITS[f.kind]
    out = []
    for v in values:
        ok = type(v) in types and not (type(v) is float and not math.isfinite(v))
        out.append(v if ok and v != "" else None)
    return out


@dataclass
class Experiment:
    """What an online experiment adds to a request's log line (see `outcomes` for the reader).

    `request_id` joins the line to labels that arrive later; `role`, `model` and `version` say
    which model answered; `probabilities` (classifiers, in `classes` order) let quality and
    experiments compute probability metrics. `shadow`, called in the writer thread with the
    sampled row positions, scores those rows with the challenger and returns its output.
    """

    request_id: str
    role: str = "champion"
    model: str | None = None
    version: str | None = None
    probabilities: Any = None  # [n, classes] array or nested lists
    classes: Sequence[str] | None = None
    shadow: Callable[[list[int] | None], dict[str, Any]] | None = None

    def annotate(self, record: dict[str, Any], keep: list[int] | None,
                 rows: Callable[[Sequence[Any]], list[Any]]) -> None:
        record["request_id"] = self.request_id
        record["role"] = self.role
        if self.model is not None:
            record["model"], record["version"] = self.model, self.version
        if keep is not None:
            record["row_numbers"] = keep
        if self.probabilities is not None:
            # an array from the request thread; turned into lists here, off the request path
            probabilities = self.probabilities
            record["classes"] = list(self.classes or ())
            record["probabilities"] = [list(map(float, p)) for p in rows(probabilities)]
        if self.shadow is not None and record.get("status") is None:
            try:
                record["shadow"] = self.shadow(keep)
            except Exception as exc:  # noqa: BLE001 (a challenger failure must not stop the log)
                record["shadow"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}


class PredictionLog:
    """Samples rows and writes them from a background thread (the request never waits).

    `destination` is a directory (this process's file is created in it, at once, so a path that
    cannot be written stops the server at start-up) or "-" for stdout. When the queue is full the
    rows are dropped and counted, rather than slowing the request down.
    """

    def __init__(self, destination: str, *, features: Sequence[Feature], sample_rate: float,
                 model: str, version: str | None, max_queue: int = 10_000,
                 seed: int | None = None) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise UserError(f"prediction log sample rate must be in [0, 1], got {sample_rate}")
        self.features = tuple(features)
        self.sample_rate = sample_rate
        self.model, self.version = model, version
        self.dropped = 0
        self.written = 0
        self._out, self.path = _open(destination)
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(max_queue)
        self._random = random.Random(seed)
        self._failed = False
        self._thread = threading.Thread(target=self._drain, name="prediction-log", daemon=True)
        self._thread.start()

    def _sample(self, n: int) -> list[int] | None | bool:
        if self.sample_rate <= 0 or n == 0:
            return False
        if self.sample_rate >= 1:
            return None
        keep = [i for i in range(n) if self._random.random() < self.sample_rate]
        return keep or False

    def _put(self, item: tuple[Any, ...], rows: int) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += rows

    def record(self, columns: Mapping[str, Sequence[Any]], predictions: Sequence[Any],
               experiment: Experiment | None = None) -> None:
        """Queue a sample of one scored request: its values as received, and its predictions.

        Only sampling and a queue put happen here; formatting and I/O (and, in shadow mode, the
        challenger's scoring) happen in the writer thread.
        """
        keep = self._sample(len(predictions))
        if keep is False:
            return
        rows = len(predictions) if keep is None else len(keep)  # type: ignore[arg-type]
        self._put((time.time(), columns, predictions, keep, None, experiment), rows)

    def rejected(self, columns: Mapping[str, Sequence[Any]], n: int,
                 problems: Sequence[Problem], status: int = 422,
                 experiment: Experiment | None = None) -> None:
        """Queue a refused request's rows (sampled like the others) with why it was refused."""
        keep = self._sample(n)
        if keep is False:
            return
        rows = n if keep is None else len(keep)  # type: ignore[arg-type]
        errors = [p.to_dict() for p in problems[:100]]
        self._put((time.time(), columns, [None] * n, keep, (status, errors), experiment), rows)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued within `timeout` seconds, then stop; never hangs longer."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            log.error("prediction log: %d queued request(s) not written within %.0f s of "
                      "shutdown", self._queue.qsize(), timeout)
        elif self._out is not sys.stdout:
            self._out.close()

    def _format(self, when: float, columns: Mapping[str, Sequence[Any]],
                predictions: Sequence[Any], keep: list[int] | None,
                refused: tuple[int, list[dict[str, Any]]] | None,
                experiment: Experiment | None = None) -> tuple[str, int]:
        def rows(values: Sequence[Any]) -> list[Any]:
            return list(values) if keep is None else [values[i] for i in keep]

        shape = _as_sent if refused is not None else _accepted
        kept = rows(predictions)
        record: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
            "model": self.model, "version": self.version, "rows": len(kept),
            "inputs": {f.name: shape(f, rows(columns[f.name])) for f in self.features
                       if f.name in columns},
            "predictions": kept,
        }
        if refused is not None:
            record["status"], record["errors"] = refused
        if experiment is not None:
            experiment.annotate(record, keep, rows)
        return json.dumps(record, allow_nan=False, separators=(",", ":")), len(kept)

    def _batches(self) -> Iterator[list[tuple[Any, ...]]]:
        """What is queued, a batch at a time (waiting for the first item); ends at the stop mark."""
        while True:
            batch = [self._queue.get()]
            while batch[-1] is not None and len(batch) < 256:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = batch[-1] is None
            yield [item for item in batch if item is not None]
            if stop:
                return

    @staticmethod
    def _score_shadows(batch: list[tuple[Any, ...]]) -> None:
        """Let a shadow scorer that can (serve/challenger.py) score a batch's rows in one call."""
        jobs = [(item[5].shadow, item[3]) for item in batch
                if item[5] is not None and item[5].shadow is not None and item[4] is None]
        together = getattr(jobs[0][0], "score_together", None) if jobs else None
        if together is not None:
            try:
                together(jobs)
            except Exception:  # noqa: BLE001 (each line then scores, or reports, on its own)
                log.debug("shadow batch failed; scoring request by request", exc_info=True)

    def _drain(self) -> None:
        out = self._out
        for batch in self._batches():
            self._score_shadows(batch)
            for i, item in enumerate(batch, 1):
                self._write(out, item, flush=i == len(batch) and self._queue.empty())
        with contextlib.suppress(OSError):
            out.flush()

    def _write(self, out: TextIO, item: tuple[Any, ...], flush: bool) -> None:
        try:
            line, rows = self._format(*item)
        except (TypeError, ValueError, IndexError, KeyError):
            # an unloggable request must not stop the writer
            self.dropped += len(item[2]) if item[3] is None else len(item[3])
            return
        try:
            out.write(line + "\n")
            if flush:
                out.flush()
        except OSError as exc:  # disk full, volume gone: say so once, keep serving
            self.dropped += rows
            if not self._failed:
                self._failed = True
                log.error("prediction log: cannot write %s (%s); dropping rows", self.path,
                          exc.strerror or exc)
            return
        self.written += rows


def log_files(path: Path) -> list[Path]:
    """The .jsonl files at `path` (a file, or every *.jsonl under a directory, sorted)."""
    if path.is_dir():
        files = sorted(path.rglob("*.jsonl"))
        if not files:
            raise UserError(f"--current: no *.jsonl prediction logs under {path}")
        return files
    return [path]


def _parse(line: str) -> dict[str, Any]:
    record = json.loads(line)
    inputs, predictions = record["inputs"], record["predictions"]
    if not isinstance(inputs, dict) or not isinstance(predictions, list) or not all(
            isinstance(v, list) and len(v) == len(predictions) for v in inputs.values()):
        raise ValueError("inputs must map features to one value per prediction")
    return record  # type: ignore[no-any-return]


def read_records(files: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Parsed log lines; a malformed line is an error naming the file and line number.

    A last line without its newline is what a killed writer leaves; it is skipped with a warning.
    """
    for file in files:
        with open(file, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        last = len(lines)  # after the final "\n" comes "", or the cut-off line
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = _parse(line)
            except (ValueError, KeyError, TypeError) as exc:
                if number == last:
                    log.warning("%s:%d: skipping a cut-off last line", file, number)
                    print(f"drift: {file}:{number}: skipped a cut-off last line", file=sys.stderr)
                    continue
                raise UserError(f"{file}:{number}: not a prediction log record ({exc})") \
                    from None
            yield record


def to_frame(records: Iterable[dict[str, Any]]) -> tuple[Any, Any]:
    """Every logged input as one DataFrame, and the predictions (null for refused rows)."""
    import pandas as pd

    frames, predictions = [], []
    for r in records:
        frames.append(pd.DataFrame(r["inputs"]))
        predictions.extend(r["predictions"])
    inputs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return inputs, pd.Series(predictions, name="prediction", dtype=object)
