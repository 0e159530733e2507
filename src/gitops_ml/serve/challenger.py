"""Champion and challenger in one server: which model answers a request, and the shadow scorer.

Canary assignment hashes the request id (SHA-256, first 8 bytes, modulo 10 000), so a caller that
sends the same `X-Request-ID` (or a user id as the request key) meets the same model every time,
and two servers agree without sharing state. Shadow scoring runs in the prediction log's writer
thread on the rows the log keeps, a batch of requests per ONNX Runtime call, so the champion's
response never waits for the challenger.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitops_ml.errors import UserError
from gitops_ml.features import FeatureSchema, InvalidInput
from gitops_ml.monitor.predlog import Experiment
from gitops_ml.serve.model import ModelMeta, OnnxModel

BUCKETS = 10_000


@dataclass
class Arm:
    """One model of the experiment: its description, feature schema and (once loaded) session."""

    role: str
    meta: ModelMeta
    schema: FeatureSchema
    model: OnnxModel | None = None


def check_compatible(champion: ModelMeta, challenger: ModelMeta) -> None:
    """The challenger must take the same requests and answer the same task."""
    if [f.name for f in champion.features] != [f.name for f in challenger.features]:
        raise UserError("GITOPS_ML_CHALLENGER_DIR: the challenger's features differ from the "
                        "champion's; an experiment compares models on the same requests")
    if (champion.task, champion.classes) != (challenger.task, challenger.classes):
        raise UserError("GITOPS_ML_CHALLENGER_DIR: the challenger's task or classes differ "
                        f"from the champion's ({challenger.task} vs {champion.task})")


def bucket(request_id: str) -> int:
    """A stable number in [0, 10 000) for a request id."""
    digest = hashlib.sha256(request_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def to_challenger(request_id: str, percent: float) -> bool:
    """Whether the canary answers this request: `percent` of ids, always the same ones."""
    return bucket(request_id) < percent * BUCKETS / 100


# Marks an id the server made (no header came): v2 prefers the body's `id` over it.
MADE = "\x00"


def request_id(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> tuple[str, bool]:
    """The request id header's value, or a new random one; and whether the caller sent it."""
    for key, value in headers:
        if key == name:
            text = value.decode("latin-1").strip()
            if text:
                return text[:200], True
    return f"{_PREFIX}{next(_COUNT):016x}", False


# Ids the server makes (32 hex digits, as a uuid4): a random prefix per process and a counter,
# unique without asking the operating system for randomness on every request.
_PREFIX = uuid.uuid4().hex[:16]
_COUNT = itertools.count(1)


def outputs_for_log(meta: ModelMeta, outputs: Mapping[str, Any]) -> tuple[list[Any], Any]:
    """Predictions as logged (labels or values) and class probabilities (None: a regressor)."""
    if meta.is_classifier:
        return ([str(v) for v in outputs["label"].ravel().tolist()],
                outputs.get("probabilities"))
    return outputs["value"].ravel().tolist(), None


class ShadowScore:
    """The challenger's output for the kept rows of one request, computed in the log's thread.

    Called with the kept row positions (None: all). The log's writer first hands a batch of
    these to `score_together`, which scores all their rows in one ONNX Runtime call; a call then
    returns the stored answer. Alone (or when the batch holds a row the challenger refuses), a
    request's rows are scored by themselves, so one bad row never costs another its output.
    """

    def __init__(self, arm: Arm, columns: Mapping[str, Sequence[Any]], n: int) -> None:
        self.arm, self.columns, self.n = arm, columns, n
        self._done: tuple[list[int] | None, dict[str, Any]] | None = None

    def rows(self, keep: list[int] | None) -> tuple[dict[str, Sequence[Any]], int]:
        if keep is None:
            return {f: self.columns[f] for f in self.arm.schema.names}, self.n
        return {f: [self.columns[f][i] for i in keep] for f in self.arm.schema.names}, len(keep)

    def __call__(self, keep: list[int] | None) -> dict[str, Any]:
        if self._done is not None and self._done[0] == keep:
            return self._done[1]
        assert self.arm.model is not None
        picked, rows = self.rows(keep)
        return self.answer(self.arm.model.score(self.arm.schema.columns(picked, rows),
                                                self.arm.schema))

    def answer(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        meta = self.arm.meta
        predictions, probabilities = outputs_for_log(meta, outputs)
        out = {"model": meta.name, "version": meta.version, "role": self.arm.role,
               "predictions": predictions}
        if probabilities is not None:
            out["probabilities"] = probabilities.tolist()
        return out

    @staticmethod
    def score_together(jobs: Sequence[tuple[ShadowScore, list[int] | None]]) -> None:
        """Score the kept rows of many requests in one call and store each request's answer."""
        arms: dict[int, list[tuple[ShadowScore, list[int] | None]]] = {}
        for job in jobs:
            arms.setdefault(id(job[0].arm), []).append(job)
        for group in arms.values():
            arm = group[0][0].arm
            assert arm.model is not None
            merged: dict[str, list[Any]] = {f: [] for f in arm.schema.names}
            sizes = []
            for score, keep in group:
                picked, rows = score.rows(keep)
                for f, values in picked.items():
                    merged[f].extend(values)
                sizes.append(rows)
            try:
                outputs = arm.model.score(arm.schema.columns(merged, sum(sizes)), arm.schema)
            except InvalidInput:
                continue  # each request is scored alone when its line is written
            start = 0
            for (score, keep), rows in zip(group, sizes, strict=True):
                part = {role: array[start:start + rows] for role, array in outputs.items()}
                score._done = (keep, score.answer(part))
                start += rows


def experiment_line(arm: Arm, rid: str, outputs: Mapping[str, Any],
                    shadow: Arm | None, columns: Mapping[str, Sequence[Any]],
                    n: int) -> Experiment:
    """What the log line of a scored request carries beyond inputs and predictions."""
    _, probabilities = outputs_for_log(arm.meta, outputs)
    return Experiment(
        request_id=rid, role=arm.role, model=arm.meta.name, version=arm.meta.version,
        probabilities=probabilities, classes=arm.meta.classes,
        shadow=ShadowScore(shadow, columns, n) if shadow is not None else None)
