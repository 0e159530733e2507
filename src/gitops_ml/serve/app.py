"""The app factory: reads model.json, builds the schema-aware routes, loads ONNX in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gitops_ml import __version__
from gitops_ml.features import InvalidInput
from gitops_ml.monitor.predlog import PredictionLog
from gitops_ml.serve.bodies import BadRequest, json_response
from gitops_ml.serve.challenger import Arm, check_compatible
from gitops_ml.serve.lifecycle import install_drain_hook
from gitops_ml.serve.limits import BodyLimitMiddleware
from gitops_ml.serve.metrics import Metrics, MetricsMiddleware
from gitops_ml.serve.model import OnnxModel, read_meta
from gitops_ml.serve.routers import metrics, predict, v2
from gitops_ml.serve.schema import ErrorOut, openapi_parts
from gitops_ml.serve.scoring import INFER_PATH, ScoringApp
from gitops_ml.serve.settings import Settings
from gitops_ml.serve.state import Runtime

log = logging.getLogger("gitops_ml.serve")


def create_app(settings: Settings) -> ScoringApp:
    """Build the app for the model in `settings.model_dir`; the ONNX session opens at start-up.

    The scoring endpoints are answered in front of FastAPI (scoring.py); FastAPI serves the rest.
    """
    meta = read_meta(settings.model_dir)
    closed = settings.reject_unknown_categories
    runtime = Runtime(
        settings=settings, meta=meta, metrics=Metrics(meta.name, meta.version),
        schema=meta.schema(reject_unknown_categories=closed),
    )

    challenger_meta = None
    if settings.challenger_dir is not None:
        challenger_meta = read_meta(settings.challenger_dir)
        check_compatible(meta, challenger_meta)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.model = OnnxModel.load(settings.model_dir, meta, threads=settings.ort_threads)
        runtime.champion = Arm(settings.role, meta, runtime.schema, runtime.model)
        if challenger_meta is not None:
            assert settings.challenger_dir is not None
            runtime.challenger = Arm(
                "challenger", challenger_meta,
                challenger_meta.schema(reject_unknown_categories=closed),
                OnnxModel.load(settings.challenger_dir, challenger_meta,
                               threads=settings.ort_threads))
            runtime.metrics.add_model(challenger_meta.name, challenger_meta.version,
                                      "challenger")
            log.info("challenger %s (version %s) from %s in %s mode", challenger_meta.name,
                     challenger_meta.version or "-", settings.challenger_dir,
                     settings.challenger_mode)
        if settings.prediction_log:
            # Opened here, not in the writer thread: a directory that cannot be written stops
            # the server at start-up with the reason, rather than dropping every row.
            runtime.prediction_log = PredictionLog(
                settings.prediction_log, features=meta.features,
                sample_rate=settings.prediction_log_sample, model=meta.name, version=meta.version)
            log.info("prediction log: %s", runtime.prediction_log.path)
        runtime.lifecycle.loaded = True
        undo = install_drain_hook(runtime.lifecycle, settings.drain_seconds)
        log.info("model %s (version %s) loaded from %s", meta.name, meta.version or "-",
                 settings.model_dir)
        try:
            yield
        finally:
            runtime.lifecycle.begin_shutdown()
            undo()
            if runtime.prediction_log is not None:
                runtime.prediction_log.close()

    app = FastAPI(
        title=f"{meta.name}: {meta.task} model for {meta.target!r}",
        version=meta.version or __version__,
        description="Predictions from the ONNX model built by this repository's DVC pipeline. "
                    "`/predict` takes a list of records; `/v2/...` is the Open Inference "
                    "Protocol (KServe v2).",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.include_router(v2.router)
    app.include_router(metrics.router)
    _add_error_handlers(app)
    # Last added runs first: metrics see every response, the size check runs before any parsing.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=runtime.metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            # built on first request, not at start-up: serving does not need it to be ready
            request_body, response_model, record_model = openapi_parts(
                meta, closed_categories=closed, max_rows=settings.max_rows)
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (record_model, response_model, ErrorOut):
                model_schema = model.model_json_schema(
                    ref_template="#/components/schemas/{model}")
                schemas.update(model_schema.pop("$defs", {}))
                schemas[model.__name__] = model_schema
            schema["paths"][predict.PATH] = predict.openapi_path(request_body, response_model)
            schema["paths"][INFER_PATH] = v2.infer_openapi(meta)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return ScoringApp(app, runtime)


def create_app_from_env() -> ScoringApp:
    """For `uvicorn --factory gitops_ml.serve.app:create_app_from_env`."""
    return create_app(Settings.from_env())


def _add_error_handlers(app: FastAPI) -> None:
    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidInput)
        return json_response(exc.body(), exc.status_code)

    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadRequest)
        return json_response({"error": str(exc)}, exc.status_code)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        # keeps the headers: a 405 must say which methods are allowed (RFC 9110, 15.5.6)
        return json_response({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)

    async def request_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = [{"row": None, "field": ".".join(map(str, e.get("loc", ()))),
                     "error": e.get("msg", "invalid")} for e in exc.errors()]
        return json_response({"error": "invalid request", "errors": problems}, 422)

    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return json_response({"error": "internal server error"}, 500)

    app.add_exception_handler(InvalidInput, invalid)
    app.add_exception_handler(BadRequest, bad_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(Exception, internal)
