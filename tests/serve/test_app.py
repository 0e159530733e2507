"""The app in-process: every endpoint, every error, metrics, readiness around start and stop."""

from __future__ import annotations

import json
import math

import pytest

from gitops_ml.serve.app import create_app


def infer_body(record: dict, **extra) -> dict:
    numbers = {"size", "weight"}
    return {"inputs": [{"name": k, "shape": [1, 1], "datatype": "FP64" if k in numbers else "BYTES",
                        "data": [v]} for k, v in record.items()], **extra}


# -- health and metadata --------------------------------------------------------------------------

def test_live_answers_without_the_model(mixed_client):
    assert mixed_client.get("/v2/health/live").json() == {"live": True}


def test_ready_is_503_before_the_lifespan_loads_the_model(mixed_model, serve_settings):
    from fastapi.testclient import TestClient

    client = TestClient(create_app(serve_settings(mixed_model.dir)))  # no `with`: no lifespan
    assert client.get("/v2/health/ready").status_code == 503
    response = client.post("/predict", json=[{}])
    assert response.status_code == 503 and response.json() == {"error": "model is not loaded yet"}


def test_ready_is_200_once_loaded(mixed_client):
    response = mixed_client.get("/v2/health/ready")
    assert response.status_code == 200 and response.json() == {"ready": True}


def test_ready_turns_503_when_shutdown_begins(mixed_client):
    mixed_client.app.state.runtime.lifecycle.begin_shutdown()
    assert mixed_client.get("/v2/health/ready").status_code == 503
    assert mixed_client.get("/v2/models/model/ready").status_code == 503
    assert mixed_client.get("/v2/health/live").status_code == 200


def test_server_metadata_names_the_server(mixed_client):
    assert mixed_client.get("/v2").json()["name"] == "gitops-ml"


def test_model_metadata_follows_the_v2_protocol(mixed_client):
    body = mixed_client.get("/v2/models/model").json()
    assert body["name"] == "model" and body["platform"] == "onnxruntime"
    assert body["versions"] == []  # model.json carries no version yet
    assert [(i["name"], i["datatype"], i["shape"]) for i in body["inputs"]] == [
        ("size", "FP32", [-1, 1]), ("weight", "FP32", [-1, 1]),
        ("colour", "BYTES", [-1, 1]), ("shape", "BYTES", [-1, 1])]
    assert [(o["name"], o["datatype"]) for o in body["outputs"]] == [
        ("label", "BYTES"), ("probabilities", "FP32")]
    assert body["parameters"]["classes"] == ["high", "low", "mid"]


def test_model_version_comes_from_model_json(tmp_path, mixed_model, client_for):
    for f in ("model.onnx", "model.json"):
        (tmp_path / f).write_bytes((mixed_model.dir / f).read_bytes())
    meta = json.loads((tmp_path / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps({**meta, "version": "1.2.0"}))
    with client_for(tmp_path) as client:
        assert client.get("/v2/models/model").json()["versions"] == ["1.2.0"]
        assert 'version="1.2.0"' in client.get("/metrics").text


def test_model_ready_is_200_for_the_served_model(mixed_client):
    assert mixed_client.get("/v2/models/model/ready").json() == {"name": "model", "ready": True}


@pytest.mark.parametrize("path", ["/v2/models/other", "/v2/models/other/ready"])
def test_unknown_model_is_404(mixed_client, path):
    response = mixed_client.get(path)
    assert response.status_code == 404 and response.json() == {"error": "unknown model"}


def test_infer_on_unknown_model_is_404(mixed_client, good_record):
    response = mixed_client.post("/v2/models/other/infer", json=infer_body(good_record))
    assert response.status_code == 404


# -- /predict -------------------------------------------------------------------------------------

def test_predict_returns_label_and_probabilities_per_record(mixed_client, good_record):
    other = {**good_record, "colour": "blue", "size": 3.0}
    body = mixed_client.post("/predict", json=[good_record, other]).json()
    assert body["model"] == {"name": "model", "version": None}
    assert len(body["predictions"]) == 2
    for p in body["predictions"]:
        assert set(p["probabilities"]) == {"high", "low", "mid"}
        assert math.isclose(sum(p["probabilities"].values()), 1.0, abs_tol=1e-5)
        assert p["label"] == max(p["probabilities"], key=p["probabilities"].get)


def test_predict_matches_the_sklearn_pipeline(mixed_client, mixed_model):
    import joblib
    import pandas as pd

    from gitops_ml.modeling import model_frame

    bundle = joblib.load(mixed_model.pipeline)
    test = pd.read_parquet(mixed_model.test).drop(columns=[mixed_model.target])
    records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
               for r in test.to_dict("records")]
    got = mixed_client.post("/predict", json=records).json()["predictions"]
    expected = bundle["pipeline"].predict_proba(model_frame(test, bundle["contract"]))
    classes = [str(c) for c in bundle["pipeline"].classes_]
    for row, p in zip(expected, got, strict=True):
        assert [p["probabilities"][c] for c in classes] == pytest.approx(row, abs=1e-4)


def test_predict_accepts_missing_values_in_nullable_features(mixed_client, good_record):
    records = [{**good_record, "size": None, "colour": None},
               {k: v for k, v in good_record.items() if k not in ("size", "colour")}]
    response = mixed_client.post("/predict", json=records)
    assert response.status_code == 200 and len(response.json()["predictions"]) == 2


def test_predict_accepts_numbers_outside_the_training_range(mixed_client, good_record):
    response = mixed_client.post("/predict", json=[{**good_record, "weight": 1e6}])
    assert response.status_code == 200


def test_predict_for_a_regressor_returns_values(client_for, regression_model):
    meta = json.loads((regression_model.dir / "model.json").read_text())
    record = {f["name"]: 0.01 for f in meta["features"]}
    with client_for(regression_model.dir) as client:
        body = client.post("/predict", json=[record, record]).json()
        assert [set(p) for p in body["predictions"]] == [{"value"}, {"value"}]
        assert isinstance(body["predictions"][0]["value"], float)
        assert "gitops_ml_predictions_total{" not in client.get("/metrics").text


@pytest.mark.parametrize(("change", "field", "error"), [
    ({"weight": None}, "weight", "missing"),
    ({"shape": None}, "shape", "missing"),
    ({"weight": "heavy"}, "weight", "expected a number"),
    ({"weight": True}, "weight", "expected a number"),
    ({"shape": 3}, "shape", "expected a string"),
    ({"shape": "triangle"}, "shape", "unknown category"),
    ({"extra": 1}, "extra", "unexpected field"),
])
def test_predict_rejects_a_bad_field_by_row_and_name(mixed_client, good_record, change, field,
                                                      error):
    records = [good_record, {**good_record, **change}]
    response = mixed_client.post("/predict", json=records)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"row": 1, "field": field, "error": error}]


def test_predict_reports_every_problem_and_never_echoes_values(mixed_client, good_record):
    bad = {"size": "SECRET-1", "colour": "SECRET-2", "extra": "SECRET-3"}
    response = mixed_client.post("/predict", json=[{"shape": "round", **bad}])
    assert response.status_code == 422
    assert sorted((e["field"], e["error"]) for e in response.json()["errors"]) == [
        ("colour", "unknown category"), ("extra", "unexpected field"),
        ("size", "expected a number"), ("weight", "missing")]
    assert "SECRET" not in response.text


def test_predict_rejects_a_missing_feature(mixed_client, good_record):
    del good_record["weight"]
    response = mixed_client.post("/predict", json=[good_record])
    assert response.json()["errors"] == [{"row": 0, "field": "weight", "error": "missing"}]


def test_unknown_categories_pass_when_allowed(client_for, mixed_model, good_record):
    with client_for(mixed_model.dir, reject_unknown_categories=False) as client:
        response = client.post("/predict", json=[{**good_record, "shape": "triangle"}])
        assert response.status_code == 200


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 400), (b"[1, NaN]", 400), (b'{"size": 1}', 422), (b"[]", 422), (b"[1]", 422),
])
def test_predict_rejects_malformed_bodies(mixed_client, body, status):
    response = mixed_client.post("/predict", content=body,
                                 headers={"content-type": "application/json"})
    assert response.status_code == status
    assert "error" in response.json()


def test_predict_caps_rows_per_request(client_for, mixed_model, good_record):
    with client_for(mixed_model.dir, max_rows=3) as client:
        assert client.post("/predict", json=[good_record] * 3).status_code == 200
        response = client.post("/predict", json=[good_record] * 4)
        assert response.status_code == 422
        assert response.json()["error"] == (
            "invalid input: 1 problem (too many records: the limit is 3)")


def test_body_over_the_limit_is_413_before_parsing(client_for, mixed_model):
    with client_for(mixed_model.dir, max_body_bytes=100) as client:
        response = client.post("/predict", content=b"x" * 101,  # not JSON: never parsed
                               headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.json() == {"error": "request body exceeds 100 bytes"}


def test_chunked_body_over_the_limit_is_413(client_for, mixed_model):
    def chunks():
        yield b"[" + b" " * 80
        yield b" " * 80 + b"]"

    with client_for(mixed_model.dir, max_body_bytes=100) as client:
        response = client.post("/predict", content=chunks(),
                               headers={"content-type": "application/json"})
        assert response.status_code == 413


def test_chunked_body_under_the_limit_is_served(client_for, mixed_model, good_record):
    payload = json.dumps([good_record]).encode()

    def chunks():
        yield payload[:10]
        yield payload[10:]

    with client_for(mixed_model.dir) as client:
        assert client.post("/predict", content=chunks()).status_code == 200


def test_internal_errors_answer_a_generic_500(mixed_client, good_record, monkeypatch):
    model = mixed_client.app.state.runtime.model

    def broken(feeds):
        raise RuntimeError("onnxruntime exploded at /secret/path")

    monkeypatch.setattr(model, "run", broken)
    response = mixed_client.post("/predict", json=[good_record])
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error"}


# -- /v2/models/{name}/infer ----------------------------------------------------------------------

def test_infer_returns_tensors_and_echoes_the_id(mixed_client, good_record):
    body = infer_body(good_record, id="req-7")
    response = mixed_client.post("/v2/models/model/infer", json=body)
    assert response.status_code == 200
    out = response.json()
    assert out["id"] == "req-7" and out["model_name"] == "model"
    tensors = {t["name"]: t for t in out["outputs"]}
    assert tensors["label"]["shape"] == [1] and tensors["label"]["datatype"] == "BYTES"
    assert tensors["probabilities"]["shape"] == [1, 3]


def test_infer_agrees_with_predict(mixed_client, good_record):
    predicted = mixed_client.post("/predict", json=[good_record]).json()["predictions"][0]
    out = mixed_client.post("/v2/models/model/infer", json=infer_body(good_record)).json()
    tensors = {t["name"]: t["data"] for t in out["outputs"]}
    assert tensors["label"] == [predicted["label"]]
    assert tensors["probabilities"] == [predicted["probabilities"][c]
                                        for c in ("high", "low", "mid")]


def test_infer_takes_a_batch_as_the_first_dimension(mixed_client):
    body = {"inputs": [
        {"name": "size", "shape": [2], "datatype": "FP32", "data": [1.0, None]},
        {"name": "weight", "shape": [2, 1], "datatype": "INT64", "data": [[50], [60]]},
        {"name": "colour", "shape": [2, 1], "datatype": "BYTES", "data": ["red", "blue"]},
        {"name": "shape", "shape": [2, 1], "datatype": "BYTES", "data": ["round", "square"]},
    ]}
    out = mixed_client.post("/v2/models/model/infer", json=body).json()
    assert [t["shape"] for t in out["outputs"]] == [[2], [2, 3]]


def test_infer_returns_only_the_requested_outputs(mixed_client, good_record):
    body = infer_body(good_record, outputs=[{"name": "label"}])
    out = mixed_client.post("/v2/models/model/infer", json=body).json()
    assert [t["name"] for t in out["outputs"]] == ["label"]


@pytest.mark.parametrize(("mutate", "field", "error"), [
    (lambda b: b["inputs"].pop(), "shape", "missing"),
    (lambda b: b["inputs"].append({**b["inputs"][0], "name": "x"}), "x", "unexpected input"),
    (lambda b: b["inputs"][0].update(datatype="BYTES"), "size",
     "datatype must be a numeric datatype (FP32, FP64, INT64, ...)"),
    (lambda b: b["inputs"][0].update(shape=[2, 1]), "size", "data length does not match shape"),
    (lambda b: b["inputs"][2].update(data=["purple"]), "colour", "unknown category"),
])
def test_infer_names_the_bad_input(mixed_client, good_record, mutate, field, error):
    body = infer_body(good_record)
    mutate(body)
    response = mixed_client.post("/v2/models/model/infer", json=body)
    assert response.status_code == 422
    assert {"field": field, "error": error} in [
        {k: e[k] for k in ("field", "error")} for e in response.json()["errors"]]


def test_infer_rejects_a_non_string_id(mixed_client, good_record):
    response = mixed_client.post("/v2/models/model/infer", json=infer_body(good_record, id=5))
    assert response.status_code == 400 and response.json() == {"error": "`id` must be a string"}


# -- metrics and docs -----------------------------------------------------------------------------

def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics_count_requests_rows_and_classes(mixed_client, good_record):
    mixed_client.post("/predict", json=[good_record] * 3)
    mixed_client.post("/predict", json=[{}])
    text = mixed_client.get("/metrics").text
    ok = {"endpoint": "/predict", "status": "200", "model": "model"}
    assert sample(text, "gitops_ml_requests_total", **ok) == 1
    assert sample(text, "gitops_ml_requests_total", endpoint="/predict", status="422") == 1
    assert sample(text, "gitops_ml_rows_scored_total", model="model") == 3
    label = mixed_client.post("/predict", json=[good_record]).json()["predictions"][0]["label"]
    text = mixed_client.get("/metrics").text
    assert sample(text, "gitops_ml_predictions_total", **{"class": label}) == 4
    assert sample(text, "gitops_ml_request_duration_seconds_count", endpoint="/predict") == 3
    assert sample(text, "gitops_ml_requests_in_flight", model="model") == 1  # this scrape
    assert sample(text, "gitops_ml_model_info", model="model", version="") == 1


def test_metrics_label_routes_by_template(mixed_client):
    mixed_client.get("/v2/models/model")
    text = mixed_client.get("/metrics").text
    assert sample(text, "gitops_ml_requests_total", endpoint="/v2/models/{name}") == 1


def test_openapi_describes_predict_from_the_model(mixed_client):
    schema = mixed_client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["items"] == {"$ref": "#/components/schemas/Record"}
    record = schema["components"]["schemas"]["Record"]
    # the target is allowed (a row of the training data), never required
    assert set(record["properties"]) == {"size", "weight", "colour", "shape", "grade"}
    assert sorted(record["required"]) == ["shape", "weight"]
    assert record["additionalProperties"] is False
    assert record["properties"]["shape"]["enum"] == ["round", "square"]
    assert "/v2/models/{name}/infer" in schema["paths"]
    assert mixed_client.get("/docs").status_code == 200


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("GET", "/predict", "POST"), ("PUT", "/v2/models/model/infer", "POST"),
    ("POST", "/v2/health/live", "GET"), ("DELETE", "/v2/models/model", "GET")])
def test_wrong_method_is_405_with_allow_header(mixed_client, method, path, allow):
    response = mixed_client.request(method, path)
    assert response.status_code == 405 and response.headers["allow"] == allow


def test_openapi_documents_each_numbers_limit_and_a_non_empty_v2_batch(mixed_client, mixed_model):
    spec = mixed_client.get("/openapi.json").json()
    weight = spec["components"]["schemas"]["Record"]["properties"]["weight"]
    meta = json.loads((mixed_model.dir / "model.json").read_text())
    seen = next(f for f in meta["features"] if f["name"] == "weight")
    limit = 1e6 * max(abs(seen["min"]), abs(seen["max"]), seen["max"] - seen["min"], 1.0)
    assert (weight["minimum"], weight["maximum"]) == pytest.approx((-limit, limit))
    infer = spec["paths"]["/v2/models/{name}/infer"]["post"]
    body = infer["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["inputs"]["minItems"] == 1
    # a batch of zero rows is refused (422), so the schema says a dimension is at least 1
    assert body["properties"]["inputs"]["items"]["properties"]["shape"]["items"]["minimum"] == 1
    assert {"413", "422"} <= set(infer["responses"]) and "413" in spec["paths"]["/predict"][
        "post"]["responses"]


def test_predict_refuses_beyond_float32_and_infinity_naming_the_field(mixed_client, good_record):
    response = mixed_client.post(
        "/predict", content=b'[{"size": 3.5e38, "weight": 1e999, "colour": "red", '
                            b'"shape": "round"}]', headers={"content-type": "application/json"})
    assert response.status_code == 422
    errors = [(e["field"], e["error"]) for e in response.json()["errors"]]
    assert errors[1] == ("weight", "not a finite number")
    assert errors[0][0] == "size" and errors[0][1].startswith(
        "number out of range (this model takes magnitudes up to ")


def test_predict_scores_every_row_within_the_stated_limits(mixed_client, mixed_model):
    # the schema's bounds are what the model can score: at the limit, with opposite signs
    # (the overflow that made 3e38 a 422), every row still gets a finite prediction
    spec = mixed_client.get("/openapi.json").json()["components"]["schemas"]["Record"]
    size, weight = (next(t["maximum"] for t in [prop, *prop.get("anyOf", [])] if "maximum" in t)
                    for prop in (spec["properties"][k] for k in ("size", "weight")))
    rows = [{"size": a * size, "weight": b * weight, "colour": "red", "shape": "round"}
            for a in (1, -1) for b in (1, -1)]
    response = mixed_client.post("/predict", json=rows)
    assert response.status_code == 200
    assert all(math.isfinite(p) for r in response.json()["predictions"]
               for p in r["probabilities"].values())


def test_predict_refuses_a_number_just_beyond_its_stated_limit(mixed_client, good_record):
    # float32 would round weight's limit + 1 back to the limit; the check is made before that
    spec = mixed_client.get("/openapi.json").json()["components"]["schemas"]["Record"]
    limit = spec["properties"]["weight"]["maximum"]
    for value in (limit, -limit):
        assert mixed_client.post("/predict", json=[{**good_record, "weight": value}]
                                 ).status_code == 200
    for records in ([{**good_record, "weight": -limit - 1}],
                    [{**good_record, "weight": -limit - 1}, {**good_record, "size": None}]):
        response = mixed_client.post("/predict", json=records)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "weight"


def test_openapi_lists_blank_as_missing_exactly_where_the_server_takes_it(mixed_client,
                                                                            good_record):
    # the server reads "" as a missing category: allowed where the column is nullable (colour),
    # refused where it is not (shape); the documented values say the same (schemathesis checks
    # the running image against them)
    record = mixed_client.get("/openapi.json").json()["components"]["schemas"]["Record"]
    colour = next(s for s in record["properties"]["colour"]["anyOf"] if "enum" in s)
    assert colour["enum"] == ["blue", "green", "red", ""]
    assert "" not in record["properties"]["shape"]["enum"]
    assert mixed_client.post("/predict", json=[{**good_record, "colour": ""}]).status_code == 200
    refused = mixed_client.post("/predict", json=[{**good_record, "shape": ""}])
    assert refused.status_code == 422
    assert [(e["field"], e["error"]) for e in refused.json()["errors"]] == [("shape", "missing")]
