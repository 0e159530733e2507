"""The v2 binary tensor data extension: NVIDIA's own HTTP client, both ways, and bad framing.

https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from pipelines import smoke

httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

ROWS = [{"size": 9.5, "weight": 51.0, "colour": "red", "shape": "round"},
        {"size": 3.0, "weight": 60.0, "colour": "blue", "shape": "square"}]
CLASSES = ("high", "low", "mid")


@pytest.fixture(scope="module")
def url(mixed_model) -> Iterator[str]:
    """`gitops-ml serve` as a process: tritonclient speaks HTTP over a socket, not ASGI."""
    port = smoke.free_port()
    env = dict(os.environ, GITOPS_ML_MODEL_DIR=str(mixed_model.dir), GITOPS_ML_PORT=str(port),
               GITOPS_ML_LOG_LEVEL="warning")
    proc = subprocess.Popen([sys.executable, "-m", "gitops_ml", "serve"], env=env)
    try:
        smoke.wait_ready(f"http://127.0.0.1:{port}", timeout=30)
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def _inputs(binary: bool, rows: list[dict] = ROWS) -> list[httpclient.InferInput]:
    size = np.array([[np.nan if r["size"] is None else r["size"]] for r in rows], np.float32)
    weight = np.array([[r["weight"]] for r in rows], np.float64)
    tensors = [("size", "FP32", size), ("weight", "FP64", weight)] + [
        (name, "BYTES", np.array([[r[name]] for r in rows], dtype=object))
        for name in ("colour", "shape")]
    out = []
    for name, datatype, array in tensors:
        tensor = httpclient.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        out.append(tensor)
    return out


def _expected(mixed_client, rows: list[dict] = ROWS) -> tuple[list[str], np.ndarray]:
    predictions = mixed_client.post("/predict", json=rows).json()["predictions"]
    return ([p["label"] for p in predictions],
            np.array([[p["probabilities"][c] for c in CLASSES] for p in predictions]))


def test_server_metadata_declares_the_binary_extension(url):
    client = httpclient.InferenceServerClient(url)
    assert client.is_server_ready() and client.is_model_ready("model")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]


@pytest.mark.parametrize("binary_in", [True, False], ids=["binary-in", "json-in"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["binary-out", "json-out"])
def test_tritonclient_scores_as_predict_does(url, mixed_client, binary_in, binary_out):
    client = httpclient.InferenceServerClient(url)
    outputs = [httpclient.InferRequestedOutput(name, binary_data=binary_out)
               for name in ("label", "probabilities")]
    result = client.infer("model", _inputs(binary_in), outputs=outputs, request_id="r-1")
    labels, probabilities = _expected(mixed_client)
    got = result.as_numpy("label")
    assert [v.decode() if isinstance(v, bytes) else v for v in got.ravel()] == labels
    np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=1e-6)
    assert result.get_response()["id"] == "r-1"


def test_tritonclient_default_call_gets_binary_outputs(url, mixed_client):
    # no outputs named: the client asks for every output as binary (`binary_data_output`)
    result = httpclient.InferenceServerClient(url).infer("model", _inputs(True))
    assert all("parameters" in t and "data" not in t for t in result.get_response()["outputs"])
    assert result.as_numpy("probabilities").shape == (2, 3)


def test_binary_nan_is_a_missing_value_as_in_a_table(url, mixed_client):
    # JSON has null for missing; a float tensor has NaN (size is nullable, weight is not)
    rows = [ROWS[0], {**ROWS[1], "size": None}]
    result = httpclient.InferenceServerClient(url).infer("model", _inputs(True, rows))
    labels, probabilities = _expected(mixed_client, rows)
    assert [v.decode() for v in result.as_numpy("label").ravel()] == labels
    np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=1e-6)
    rows = [ROWS[0], {**ROWS[1], "weight": None}]
    with pytest.raises(InferenceServerException, match="missing"):
        httpclient.InferenceServerClient(url).infer("model", _inputs(True, rows))


def test_tritonclient_sees_the_problem_named(url):
    tensors = _inputs(True)
    colour = httpclient.InferInput("colour", [2, 1], "BYTES")
    colour.set_data_from_numpy(np.array([["purple"], ["red"]], dtype=object))
    tensors[2] = colour
    with pytest.raises(InferenceServerException, match="unknown category"):
        httpclient.InferenceServerClient(url).infer("model", tensors)


# -- framing, in-process --------------------------------------------------------------------------

def _binary_request(inputs: list[tuple[str, str, list[int], bytes]],
                    **extra) -> tuple[bytes, dict[str, str]]:
    header = json.dumps({"inputs": [
        {"name": n, "datatype": d, "shape": s, "parameters": {"binary_data_size": len(b)}}
        for n, d, s, b in inputs], **extra}).encode()
    return header + b"".join(b for *_, b in inputs), {
        "Inference-Header-Content-Length": str(len(header)),
        "Content-Type": "application/octet-stream"}


def _strings(*values: str) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


GOOD = [("size", "FP32", [1], struct.pack("<f", 9.5)), ("weight", "INT64", [1],
                                                       struct.pack("<q", 51)),
        ("colour", "BYTES", [1], _strings("red")), ("shape", "BYTES", [1], _strings("round"))]


def test_binary_request_scores_like_json(mixed_client, good_record):
    body, headers = _binary_request(GOOD)
    response = mixed_client.post("/v2/models/model/infer", content=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"  # no binary output asked
    predicted = mixed_client.post("/predict", json=[good_record]).json()["predictions"][0]
    assert {t["name"]: t["data"] for t in response.json()["outputs"]}["label"] == [
        predicted["label"]]


@pytest.mark.parametrize(("change", "error"), [
    (lambda b, h: (b + b"x", h), "1 bytes after the last binary input"),
    (lambda b, h: (b, {**h, "Inference-Header-Content-Length": "99999"}),
     "Inference-Header-Content-Length is larger than the body"),
    (lambda b, h: (b, {**h, "Inference-Header-Content-Length": "-1"}),
     "Inference-Header-Content-Length must be a byte count"),
    (lambda b, h: (b[:-3], h), "input shape: binary_data_size does not fit the body"),
])
def test_binary_framing_errors_are_400(mixed_client, change, error):
    body, headers = change(*_binary_request(GOOD))
    response = mixed_client.post("/v2/models/model/infer", content=body, headers=headers)
    assert response.status_code == 400 and response.json() == {"error": error}


@pytest.mark.parametrize(("tensor", "field", "error"), [
    (("size", "FP32", [2], struct.pack("<f", 9.5)), "size", "data length does not match shape"),
    (("size", "FP32", [1], b"\x00\x00\x00"), "size",
     "binary data is not a whole number of FP32 values"),
    (("size", "FP32", [1], struct.pack("<f", float("inf"))), "size", "not a finite number"),
    (("colour", "BYTES", [1], struct.pack("<I", 9) + b"red"), "colour",
     "BYTES data cut inside an element"),
    (("colour", "BYTES", [1], _strings("purple")), "colour", "unknown category"),
])
def test_binary_input_problems_are_422_naming_the_input(mixed_client, tensor, field, error):
    inputs = [tensor if t[0] == tensor[0] else t for t in GOOD]
    body, headers = _binary_request(inputs)
    response = mixed_client.post("/v2/models/model/infer", content=body, headers=headers)
    assert response.status_code == 422
    assert {"field": field, "error": error} in [
        {k: e[k] for k in ("field", "error")} for e in response.json()["errors"]]
