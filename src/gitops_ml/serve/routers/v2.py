"""The Open Inference Protocol (v2) REST endpoints: health, model metadata, infer.

https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from fastapi import APIRouter
from starlette.responses import Response

from gitops_ml import __version__
from gitops_ml.features import V2_DATATYPES as _V2_INPUT_TYPES
from gitops_ml.features import InvalidInput, LazyColumns
from gitops_ml.monitor.predlog import Experiment
from gitops_ml.serve import binary
from gitops_ml.serve.bodies import BadRequest, encode, json_response, parse
from gitops_ml.serve.challenger import MADE as _MADE
from gitops_ml.serve.challenger import experiment_line
from gitops_ml.serve.model import ModelMeta
from gitops_ml.serve.schema import ErrorOut
from gitops_ml.serve.state import Runtime, RuntimeDep

router = APIRouter(prefix="/v2", tags=["v2"], responses={404: {"model": ErrorOut}})

_DATATYPES = {"label": "BYTES", "probabilities": "FP32", "value": "FP32"}


@router.get("", summary="Server metadata")
def server_metadata() -> dict[str, Any]:
    return {"name": "gitops-ml", "version": __version__, "extensions": [binary.EXTENSION]}


@router.get("/health/live", summary="Liveness: the process answers")
def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready", summary="Readiness: model loaded and not shutting down",
            responses={503: {"description": "Not ready"}})
def ready(runtime: RuntimeDep) -> Response:
    ok = runtime.lifecycle.ready
    return json_response({"ready": ok}, 200 if ok else 503)


@router.get("/models", summary="The models in this server and their roles")
def models(runtime: RuntimeDep) -> dict[str, Any]:
    arms = [a for a in (runtime.champion, runtime.challenger) if a is not None]
    if not arms:  # not loaded yet: the champion as model.json describes it
        return {"models": [{"name": runtime.meta.name, "version": runtime.meta.version,
                            "role": "champion"}]}
    return {"models": [{"name": a.meta.name, "version": a.meta.version, "role": a.role,
                        **({"mode": runtime.settings.challenger_mode,
                            "canary_percent": runtime.settings.canary_percent}
                           if a.role == "challenger" else {})} for a in arms]}


@router.get("/models/{name}", summary="Model metadata")
def model_metadata(name: str, runtime: RuntimeDep) -> dict[str, Any]:
    runtime.check_name(name)
    meta = runtime.meta
    model = runtime.loaded_model()
    return {
        "name": meta.name,
        "versions": [meta.version] if meta.version else [],
        "platform": "onnxruntime",
        "inputs": model.input_info,
        "outputs": model.output_info,
        "parameters": {"task": meta.task, "target": meta.target,
                       "classes": list(meta.classes) if meta.classes is not None else None},
    }


@router.get("/models/{name}/ready", summary="Model readiness",
            responses={503: {"description": "Not ready"}})
def model_ready(name: str, runtime: RuntimeDep) -> Response:
    runtime.check_name(name)
    ok = runtime.lifecycle.ready
    return json_response({"name": name, "ready": ok}, 200 if ok else 503)


def infer_http(runtime: Runtime, name: str, body: bytes, headers: Sequence[tuple[bytes, bytes]],
               header_id: str) -> tuple[dict[str, Any] | bytes, list[tuple[bytes, bytes]]]:
    """POST /v2/models/{name}/infer, served by the scoring layer (scoring.py) for speed.

    A JSON body, or the binary tensor data extension's JSON header and raw tensors (binary.py);
    the answer is JSON, or JSON header and raw outputs when the request asks for binary ones.
    """
    length = binary.header_length(headers)
    if length is None:
        return infer(runtime, name, parse(body), header_id), []
    payload, raw = binary.split(body, length)
    response = infer(runtime, name, payload, header_id, raw)
    chunks = []
    for tensor in response["outputs"]:
        if binary.wants_binary(payload, tensor["name"]):
            data = binary.encode_tensor(tensor["datatype"], tensor.pop("data"))
            tensor["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            tensor["data"] = _json_data(tensor["datatype"], tensor["data"])
    if not chunks:
        return response, []
    head = encode(response)
    return b"".join([head, *chunks]), [
        (b"content-type", b"application/octet-stream"),
        (binary.HEADER, str(len(head)).encode())]


def infer(runtime: Runtime, name: str, payload: Any, header_id: str = "",
          raw: Sequence[Any] | None = None) -> dict[str, Any]:
    """Score a v2 infer request (`raw`: the inputs' binary data, see `infer_http`).

    The request key for canary assignment and the log is the request id header when the caller
    sent one, else the v2 body's `id`, else the id the server made. Output `data` are arrays
    when `raw` is given (the caller encodes them), else JSON lists.
    """
    runtime.check_name(name)
    runtime.loaded_model()
    if not isinstance(payload, dict):
        raise BadRequest("expected a JSON object with `inputs`")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("`id` must be a string")
    key = header_id if header_id and not header_id.startswith(_MADE) else (
        request_id or header_id.removeprefix(_MADE))
    arm, shadow = runtime.choose(key)
    model, schema, meta = arm.model, arm.schema, arm.meta
    assert model is not None
    wanted = _requested_outputs(payload.get("outputs"), runtime.meta.outputs)
    columns, n = schema.tensor_columns(payload.get("inputs"), runtime.settings.max_rows, raw)
    logged_columns: Mapping[str, Any] = columns
    try:
        if raw is not None and all(isinstance(v, np.ndarray) for v in columns.values()):
            # every input an array: the table path's vectorised checks, same rules
            logged_columns = LazyColumns(schema.names, lambda f: columns[f].tolist())
            feeds = schema.arrays(columns, n)
        else:
            if raw is not None:
                columns = {f: v.tolist() if isinstance(v, np.ndarray) else v
                           for f, v in columns.items()}
                logged_columns = columns
            feeds = schema.columns(columns, n)
        outputs = model.score(feeds, schema)
    except InvalidInput as exc:
        if runtime.prediction_log is not None:
            runtime.prediction_log.rejected(logged_columns, n, exc.problems, exc.status_code,
                                            Experiment(key, arm.role, meta.name, meta.version))
        raise
    tensors = []
    for role in sorted(meta.outputs):
        tensor_name = meta.outputs[role]
        if wanted is not None and tensor_name not in wanted:
            continue
        array = outputs[role]
        tensors.append({"name": tensor_name, "datatype": _DATATYPES[role],
                        "shape": list(array.shape),
                        "data": array if raw is not None else
                        _json_data(_DATATYPES[role], array)})
    labels = [str(v) for v in outputs["label"].ravel().tolist()] if "label" in outputs else None
    runtime.metrics.scored(labels, n, (meta.name, meta.version))
    if runtime.prediction_log is not None:
        logged = labels if labels is not None else outputs["value"].ravel().tolist()
        runtime.prediction_log.record(
            logged_columns, logged,
            experiment_line(arm, key, outputs, shadow, logged_columns, n))
    response: dict[str, Any] = {"model_name": meta.name,
                                "model_version": meta.version, "outputs": tensors}
    if request_id is not None:
        response["id"] = request_id
    return response


def _json_data(datatype: str, array: np.ndarray) -> list[Any]:
    data = array.ravel().tolist()
    return [str(v) for v in data] if datatype == "BYTES" else data


def infer_openapi(meta: ModelMeta) -> dict[str, Any]:
    """The OpenAPI path item for infer: this model's name, its features' tensors."""
    tensor = {"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
        "name": {"type": "string", "enum": [f.name for f in meta.features]},
        "datatype": {"type": "string", "enum": sorted(_V2_INPUT_TYPES)},
        # [batch] or [batch, 1]: a batch of zero rows is refused, so every dimension is >= 1
        "shape": {"type": "array", "minItems": 1, "maxItems": 2,
                  "items": {"type": "integer", "minimum": 1}},
        "data": {"type": "array"},
        "parameters": {"type": "object"},
    }}
    return {"post": {
        "tags": ["v2"],
        "summary": "Score tensors (one input per feature, first dimension the batch)",
        "description": "Every feature once, with `shape` [batch] or [batch, 1] and as many "
                       "values in `data` (nested lists are flattened); the same batch for all.",
        "operationId": "v2_infer",
        "parameters": [{"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": [meta.name]}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["inputs"], "properties": {
                "id": {"type": "string"},
                "inputs": {"type": "array", "minItems": 1, "items": tensor},
                "outputs": {"type": "array", "items": {
                    "type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string", "enum": sorted(meta.outputs.values())}}}},
                "parameters": {"type": "object"},
            }}}}},
        "responses": {code: {"description": text, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ErrorOut"}}}} if code != "200" else
            {"description": text} for code, text in (
                ("200", "Output tensors, with the request id echoed"),
                ("400", "Not JSON, or not an infer request"), ("404", "Unknown model"),
                ("413", "Body over the byte limit (checked before parsing)"),
                ("422", "An input breaks the feature schema, the batch is over the row "
                        "limit, or a row's values overflow the model's arithmetic"),
                ("503", "Model not loaded yet"))},
    }}


def _requested_outputs(requested: Any, available: dict[str, str]) -> set[str] | None:
    if requested is None:
        return None
    if not isinstance(requested, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in requested):
        raise BadRequest("`outputs` must be a list of {\"name\": ...} objects")
    names = {o["name"] for o in requested}
    if not names <= set(available.values()):
        raise BadRequest(f"unknown output; this model has {', '.join(sorted(available.values()))}")
    return names
