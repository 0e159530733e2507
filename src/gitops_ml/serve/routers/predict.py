"""POST /predict: a list of records in, a label and class probabilities (or a value) per row."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from gitops_ml.serve.bodies import json_response, parse
from gitops_ml.serve.schema import ErrorOut
from gitops_ml.serve.state import Runtime, RuntimeDep


def rows(runtime: Runtime,
         outputs: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str] | None]:
    """Per-row predictions, and the labels (None for a regressor) for the metrics."""
    if not runtime.meta.is_classifier:
        return [{"value": v} for v in outputs["value"].ravel().tolist()], None
    classes = runtime.meta.classes or ()
    labels = [str(label) for label in outputs["label"].ravel().tolist()]
    return [{"label": label, "probabilities": dict(zip(classes, p, strict=True))}
            for label, p in zip(labels, outputs["probabilities"].tolist(), strict=True)], labels


def build_router(request_body: dict[str, Any], response_model: type[BaseModel]) -> APIRouter:
    """The router, with the request and response schemas generated from this model's features."""
    router = APIRouter(tags=["predict"])
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorOut, "description": text} for code, text in (
            (400, "Body is not JSON, or not a list"), (413, "Body or row count over the limit"),
            (422, "A record breaks the feature schema; each problem names row and field"),
            (503, "Model not loaded yet"))}

    @router.post("/predict", summary="Score records",
                 openapi_extra={"requestBody": request_body},
                 responses={200: {"model": response_model}, **errors})
    async def predict(request: Request, runtime: RuntimeDep) -> Response:
        model = runtime.loaded_model()
        feeds, n = runtime.validator.records(parse(await request.body()),
                                             runtime.settings.max_rows)
        predictions, labels = rows(runtime, model.run(feeds))
        runtime.metrics.scored(labels, n)
        return json_response({"model": {"name": runtime.meta.name,
                                        "version": runtime.meta.version},
                              "predictions": predictions})

    return router
