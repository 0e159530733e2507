"""Serving settings, read from the environment once at start-up; a bad value names its variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitops_ml.errors import UserError

PREFIX = "GITOPS_ML_"


@dataclass(frozen=True)
class Settings:
    """Everything an operator may set; the defaults suit a container on a laptop."""

    model_dir: Path = Path("models")
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1_048_576
    max_rows: int = 1000
    # OneHotEncoder ignores categories it never saw, so an unknown one silently scores as
    # "none of the above"; reject by default so a typo is an error, not a quiet prediction.
    reject_unknown_categories: bool = True
    # Seconds between SIGTERM (readiness turns 503) and closing the listener, so a load balancer
    # sees the pod leave before its connections are refused. Kubernetes: keep it below
    # terminationGracePeriodSeconds.
    drain_seconds: float = 0.0
    # ONNX Runtime threads per worker. One suits small models under concurrent load (parallelism
    # comes from requests and workers); raise it for heavy models with few callers.
    ort_threads: int = 1
    log_level: str = "info"
    access_log: bool = False
    # Where scored rows are logged as JSON Lines for drift monitoring: a directory (each process
    # writes its own file there), "-" for stdout, or "" (the default) for off. Written by a
    # background thread, off the request path; formatting still takes CPU, so by default one row
    # in ten is kept.
    prediction_log: str = ""
    prediction_log_sample: float = 0.1
    # A second model (same layout as model_dir) in an online experiment: `shadow` scores every
    # logged row with it off the request path; `canary` lets it answer canary_percent of
    # requests, chosen by a hash of the request id so one caller always meets one model.
    challenger_dir: Path | None = None
    challenger_mode: str = ""
    canary_percent: float = 0.0
    # The header that carries the request id (echoed back; one is made when absent).
    request_id_header: str = "x-request-id"
    # This server's model's role in the prediction log: `challenger` for a canary Deployment
    # beside prod (deploy/overlays/canary), so one experiment reads both Deployments' logs.
    role: str = "champion"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        d = cls()
        workers = env.get(f"{PREFIX}WORKERS", "1").strip()
        if workers != "1":
            # One process per container: Prometheus counters and the prediction log are per
            # process, and two workers would each report their own counts under one scrape
            # target. Scale with replicas (deploy/base/hpa.yaml) instead.
            raise UserError(f"{PREFIX}WORKERS: only 1 is supported (got {workers!r}); run more "
                            "replicas instead, each with its own counters and log")
        challenger = env.get(f"{PREFIX}CHALLENGER_DIR", "").strip()
        mode = _choice(env, "CHALLENGER_MODE", "", ("", "shadow", "canary"))
        if bool(challenger) != bool(mode):
            missing = "CHALLENGER_MODE" if challenger else "CHALLENGER_DIR"
            raise UserError(f"{PREFIX}{missing}: required with {PREFIX}"
                            f"{'CHALLENGER_DIR' if challenger else 'CHALLENGER_MODE'} "
                            "(shadow or canary, and the challenger's model directory)")
        percent = _float(env, "CANARY_PERCENT", d.canary_percent, low=0.0, high=100.0)
        if mode != "canary" and f"{PREFIX}CANARY_PERCENT" in env:
            raise UserError(f"{PREFIX}CANARY_PERCENT: only used with "
                            f"{PREFIX}CHALLENGER_MODE=canary")
        log_dir = env.get(f"{PREFIX}PREDICTION_LOG", d.prediction_log).strip()
        if mode == "shadow" and not log_dir:
            raise UserError(f"{PREFIX}PREDICTION_LOG: required in shadow mode (the "
                            "challenger's outputs are written there, nowhere else)")
        return cls(
            role=_choice(env, "ROLE", d.role, ("champion", "challenger")),
            challenger_dir=Path(challenger) if challenger else None, challenger_mode=mode,
            canary_percent=percent,
            request_id_header=env.get(f"{PREFIX}REQUEST_ID_HEADER",
                                      d.request_id_header).strip().lower(),
            model_dir=Path(env.get(f"{PREFIX}MODEL_DIR", str(d.model_dir))),
            host=env.get(f"{PREFIX}HOST", d.host),
            port=_int(env, "PORT", d.port, low=1, high=65535),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", d.max_body_bytes, low=1),
            max_rows=_int(env, "MAX_ROWS", d.max_rows, low=1),
            reject_unknown_categories=_choice(env, "UNKNOWN_CATEGORIES", "reject",
                                              ("reject", "allow")) == "reject",
            ort_threads=_int(env, "ORT_THREADS", d.ort_threads, low=1, high=256),
            drain_seconds=_float(env, "DRAIN_SECONDS", d.drain_seconds, low=0.0),
            log_level=_choice(env, "LOG_LEVEL", d.log_level,
                              ("critical", "error", "warning", "info", "debug")),
            access_log=_choice(env, "ACCESS_LOG", "false", ("true", "false")) == "true",
            prediction_log=env.get(f"{PREFIX}PREDICTION_LOG", d.prediction_log).strip(),
            prediction_log_sample=_float(env, "PREDICTION_LOG_SAMPLE", d.prediction_log_sample,
                                         low=0.0, high=1.0),
        )


def _int(env: Mapping[str, str], key: str, default: int, *, low: int,
         high: int | None = None) -> int:
    raw = env.get(PREFIX + key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UserError(f"{PREFIX}{key}: must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise UserError(f"{PREFIX}{key}: must be {bounds}, got {value}")
    return value


def _float(env: Mapping[str, str], key: str, default: float, *, low: float,
           high: float | None = None) -> float:
    raw = env.get(PREFIX + key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UserError(f"{PREFIX}{key}: must be a number, got {raw!r}") from None
    if not value >= low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise UserError(f"{PREFIX}{key}: must be {bounds}, got {raw!r}")
    return value


def _choice(env: Mapping[str, str], key: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(PREFIX + key, default).strip().lower()
    if value not in choices:
        raise UserError(f"{PREFIX}{key}: must be one of {', '.join(choices)}, got {value!r}")
    return value
