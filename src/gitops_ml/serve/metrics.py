"""Prometheus metrics: requests, latency, in-flight, rows and predictions, labelled by model."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Set by the scoring layer, which answers before routing: the endpoint label for its requests.
ENDPOINT_KEY = "gitops_ml.endpoint"
# Scoring takes about a millisecond; the buckets resolve that range and a slow tail.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """One registry per app (tests build many apps); model name and version on every series."""

    def __init__(self, model: str, version: str | None) -> None:
        self.registry = CollectorRegistry()
        labels = {"model": model, "version": version or ""}
        self._labels = labels
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        names = list(labels)
        self.requests = Counter("gitops_ml_requests", "HTTP requests by endpoint and status.",
                                [*names, "endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("gitops_ml_request_duration_seconds",
                                 "Request latency, by endpoint.", [*names, "endpoint"],
                                 buckets=BUCKETS, registry=self.registry)
        self.in_flight = Gauge("gitops_ml_requests_in_flight", "Requests being served.", names,
                               registry=self.registry).labels(**labels)
        self._rows = Counter("gitops_ml_rows_scored", "Rows scored by the model.", names,
                             registry=self.registry)
        self.rows = self._rows.labels(**labels)
        self._info = Gauge("gitops_ml_model_info", "The served models (value is always 1).",
                           [*names, "role"], registry=self.registry)
        self._info.labels(**labels, role="champion").set(1)
        self.predictions = Counter("gitops_ml_predictions", "Predicted labels, by class.",
                                   [*names, "class"], registry=self.registry)
        # labels() costs microseconds; each series is looked up once, then kept
        self._scored: dict[tuple[str, str | None], tuple[Any, dict[str, Any]]] = {}

    def add_model(self, model: str, version: str | None, role: str) -> None:
        """A second model in the server (a challenger): its info series."""
        self._info.labels(model=model, version=version or "", role=role).set(1)

    def scored(self, labels: Iterable[str] | None, n: int,
               model: tuple[str, str | None] | None = None) -> None:
        """Count `n` scored rows and, for a classifier, each predicted class, by model."""
        key = (self._labels["model"], self._labels["version"]) if model is None else model
        series = self._scored.get(key)
        if series is None:
            which = {"model": key[0], "version": key[1] or ""}
            series = self._scored[key] = (self._rows.labels(**which), {})
        series[0].inc(n)
        if labels is None:
            return
        by_class = series[1]
        for cls, count in (Tally(labels).items() if n > 1 else ((c, 1) for c in labels)):
            counter = by_class.get(cls)
            if counter is None:
                counter = by_class[cls] = self.predictions.labels(
                    model=key[0], version=key[1] or "", **{"class": cls})
            counter.inc(count)

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        key = (endpoint, method, status)
        series = self._series.get(key)
        if series is None:  # labels() costs microseconds; a request should not pay it twice
            series = self._series[key] = (
                self.requests.labels(**self._labels, endpoint=endpoint, method=method,
                                     status=str(status)),
                self.latency.labels(**self._labels, endpoint=endpoint))
        series[0].inc()
        series[1].observe(seconds)


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware: it would add a task per request on the hot path)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_flight.dec()
            # The route template, not the path: /v2/models/{name} stays one series.
            endpoint = (scope.get(ENDPOINT_KEY) or getattr(scope.get("route"), "path", None)
                        or "unmatched")
            self.metrics.observe(endpoint, scope["method"], status,
                                 time.perf_counter() - started)
