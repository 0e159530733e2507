"""POST /predict: a list of records in, a label and class probabilities (or a value) per row.

Served by the scoring layer (scoring.py) rather than a FastAPI route, for speed; its OpenAPI entry
is generated here from the model's features so /docs still shows the real fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gitops_ml.features import InvalidInput
from gitops_ml.monitor.predlog import Experiment
from gitops_ml.serve.challenger import experiment_line
from gitops_ml.serve.schema import ErrorOut
from gitops_ml.serve.state import Runtime

PATH = "/predict"


def predict(runtime: Runtime, payload: Any, request_id: str = "") -> dict[str, Any]:
    """Validate the records, score them with the arm this request is assigned to, and shape one
    prediction per record."""
    arm, shadow = runtime.choose(request_id)
    model, schema, meta = arm.model, arm.schema, arm.meta
    assert model is not None
    columns = schema.record_columns(payload, runtime.settings.max_rows)
    n = len(payload)
    try:
        outputs = model.score(schema.record_feeds(payload, columns), schema)
    except InvalidInput as exc:
        if runtime.prediction_log is not None:
            runtime.prediction_log.rejected(columns, n, exc.problems, exc.status_code,
                                            Experiment(request_id, arm.role, meta.name,
                                                       meta.version))
        raise
    who = (meta.name, meta.version)
    if meta.is_classifier:
        classes = meta.classes or ()
        labels = [str(label) for label in outputs["label"].ravel().tolist()]
        predictions: list[dict[str, Any]] = [
            {"label": label, "probabilities": dict(zip(classes, p, strict=True))}
            for label, p in zip(labels, outputs["probabilities"].tolist(), strict=True)]
        runtime.metrics.scored(labels, n, who)
        logged: list[Any] = labels
    else:
        values = outputs["value"].ravel().tolist()
        predictions = [{"value": v} for v in values]
        runtime.metrics.scored(None, n, who)
        logged = values
    if runtime.prediction_log is not None:
        runtime.prediction_log.record(
            columns, logged, experiment_line(arm, request_id, outputs, shadow, columns, n))
    return {"model": {"name": meta.name, "version": meta.version}, "predictions": predictions}


def openapi_path(request_body: dict[str, Any], response: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI path item for /predict; component schemas are registered by the app."""
    def ref(model: type[BaseModel]) -> dict[str, Any]:
        return {"content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}

    errors = {
        "400": "Body is not JSON, or not a list of records",
        "413": "Body over the byte limit (checked before parsing)",
        "422": "A record breaks the feature schema, more records than the row limit, or a "
               "row whose values overflow the model's arithmetic; each problem names row and "
               "field",
        "503": "Model not loaded yet",
    }
    return {"post": {
        "tags": ["predict"], "summary": "Score records", "operationId": "predict",
        "requestBody": request_body,
        "responses": {"200": {"description": "One prediction per record", **ref(response)},
                      **{code: {"description": text, **ref(ErrorOut)}
                         for code, text in errors.items()}},
    }}
