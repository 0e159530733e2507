"""Champion and challenger in one server: which model answers a request, and the shadow scorer.

Canary assignment hashes the request id (SHA-256, first 8 bytes, modulo 10 000), so a caller that
sends the same `X-Request-ID` (or a user id as the request key) meets the same model every time,
and two servers agree without sharing state. Shadow scoring runs in the prediction log's writer
thread on the rows the log keeps, so the champion's response never waits for the challenger.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitops_ml.errors import UserError
from gitops_ml.features import FeatureSchema
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


def shadow_scorer(arm: Arm, columns: Mapping[str, Sequence[Any]],
                  n: int) -> Callable[[list[int] | None], dict[str, Any]]:
    """Score the kept rows of a request with the challenger (called in the log's thread)."""
    def score(keep: list[int] | None) -> dict[str, Any]:
        assert arm.model is not None
        if keep is None:
            picked, rows = columns, n
        else:
            picked = {k: [v[i] for i in keep] for k, v in columns.items()}
            rows = len(keep)
        predictions, probabilities = outputs_for_log(
            arm.meta, arm.model.score(arm.schema.columns(picked, rows), arm.schema))
        out = {"model": arm.meta.name, "version": arm.meta.version, "role": arm.role,
               "predictions": predictions}
        if probabilities is not None:
            out["probabilities"] = probabilities.tolist()
        return out
    return score


def experiment_line(arm: Arm, rid: str, outputs: Mapping[str, Any],
                    shadow: Arm | None, columns: Mapping[str, Sequence[Any]],
                    n: int) -> Experiment:
    """What the log line of a scored request carries beyond inputs and predictions."""
    _, probabilities = outputs_for_log(arm.meta, outputs)
    return Experiment(
        request_id=rid, role=arm.role, model=arm.meta.name, version=arm.meta.version,
        probabilities=probabilities, classes=arm.meta.classes,
        shadow=shadow_scorer(shadow, columns, n) if shadow is not None else None)
