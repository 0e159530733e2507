"""POST /predict: a list of records in, a label and class probabilities (or a value) per row.

Served by the scoring layer (scoring.py) rather than a FastAPI route, for speed; its OpenAPI entry
is generated here from the model's features so /docs still shows the real fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from gitops_ml.features import InvalidInput
from gitops_ml.monitor.predlog import Experiment
from gitops_ml.serve import answer
from gitops_ml.serve.bodies import BadRequest
from gitops_ml.serve.challenger import Arm, experiment_line
from gitops_ml.serve.records import Rows
from gitops_ml.serve.schema import ErrorOut
from gitops_ml.serve.state import Runtime

PATH = "/predict"


def predict(runtime: Runtime, payload: Any, request_id: str = "") -> dict[str, Any]:
    """Validate the records, score them with the arm this request is assigned to, and shape one
    prediction per record."""
    [result] = predict_many(runtime, [(payload, request_id)])
    if isinstance(result, Exception):
        raise result
    return result


def predict_many(runtime: Runtime,
                 requests: Sequence[tuple[Any, str]]) -> list[dict[str, Any] | Exception]:
    """Several requests at once (those that arrived together, scoring.py): each one's answer,
    or the error it alone earned.

    When every record of the requests an arm answers is clean, they are converted together and
    scored in one ONNX Runtime call; otherwise (or if that call finds a row it cannot score)
    each request is validated and scored by itself, so one bad row never fails another request.
    """
    results: list[dict[str, Any] | Exception | None] = [None] * len(requests)
    groups: dict[int, list[tuple[int, Any, str, Arm, Arm | None, Mapping[str, Any]]]] = {}
    for i, (payload, request_id) in enumerate(requests):
        try:
            arm, shadow = runtime.choose(request_id)
            if type(payload) is Rows:
                columns = arm.schema.row_columns(payload, runtime.settings.max_rows)
            else:
                columns = arm.schema.record_columns(payload, runtime.settings.max_rows)
        except (InvalidInput, BadRequest) as exc:
            results[i] = exc
            continue
        groups.setdefault(id(arm), []).append((i, payload, request_id, arm, shadow, columns))
    for group in groups.values():
        arm = group[0][3]
        assert arm.model is not None
        outputs = None
        if len(group) > 1:
            kinds = {type(job[1]) is Rows for job in group}
            together = [rec for job in group for rec in job[1]]
            feeds = (None if len(kinds) > 1 else arm.schema.clean_row_feeds(together)
                     if kinds == {True} else arm.schema.clean_record_feeds(together))
            if feeds is not None:
                try:
                    outputs = arm.model.score(feeds, arm.schema)
                except InvalidInput:
                    outputs = None
        start = 0
        for i, payload, request_id, _, shadow, columns in group:
            n = len(payload)
            part = None if outputs is None else {
                role: array[start:start + n] for role, array in outputs.items()}
            start += n
            try:
                results[i] = _answer(runtime, arm, shadow, payload, request_id, columns, part)
            except InvalidInput as exc:
                results[i] = exc
    return results  # type: ignore[return-value]


def _answer(runtime: Runtime, arm: Arm, shadow: Arm | None, payload: list[Any],
            request_id: str, columns: Mapping[str, Any],
            outputs: dict[str, Any] | None) -> dict[str, Any]:
    """One request's predictions (scoring it alone unless `outputs` holds its rows), logged."""
    model, schema, meta = arm.model, arm.schema, arm.meta
    assert model is not None
    n = len(payload)
    if outputs is None:
        try:
            feeds = (schema.row_feeds(payload, columns) if type(payload) is Rows
                     else schema.record_feeds(payload, columns))
            outputs = model.score(feeds, schema)
        except InvalidInput as exc:
            if runtime.prediction_log is not None:
                runtime.prediction_log.rejected(columns, n, exc.problems, exc.status_code,
                                                Experiment(request_id, arm.role, meta.name,
                                                           meta.version))
            raise
    who = (meta.name, meta.version)
    if meta.is_classifier:
        classes = meta.classes or ()
        label = outputs["label"].ravel()
        # string labels come out of ONNX Runtime as Python strings already
        labels = label.tolist() if label.dtype.kind == "O" else list(map(str, label.tolist()))
        predictions = answer.classified(classes, labels, outputs["probabilities"])
        runtime.metrics.scored(labels, n, who)
        logged: list[Any] = labels
    else:
        value = outputs["value"]
        predictions = answer.regressed(value)
        runtime.metrics.scored(None, n, who)
        logged = value.ravel().tolist()
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
