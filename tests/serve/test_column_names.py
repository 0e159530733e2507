"""Columns whose names are not ONNX names (`Min.Price`, `engine size`): skl2onnx renames the
graph's inputs, the served model keeps the column names for clients (issue 11, MASS Cars93)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from onnx_models import export_model

from gitops_ml.config import ExportConfig
from gitops_ml.serve.app import create_app
from gitops_ml.serve.settings import Settings


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame({"Min.Price": rng.normal(20, 5, n), "engine size": rng.normal(2, 0.5, n),
                       "Drive Train": rng.choice(["4WD", "Front"], n).astype(object)})
    df["Type"] = np.where(df["Min.Price"] + 4 * df["engine size"] > 28, "big", "small")
    return df


def test_export_column_names_with_dot_and_space_map_to_onnx_inputs(tmp_path):
    from gitops_ml import config, contract
    from gitops_ml.stages.export import metadata_for, onnx_input_names, parity, to_onnx
    from gitops_ml.stages.train import train

    df = _frame()
    spec = contract.infer(df, "Type", margin=0.5)
    bundle = train(df, spec, config.ModelConfig("sklearn.linear_model.LogisticRegression", {}),
                   seed=0)
    onnx = to_onnx(bundle)
    inputs = onnx_input_names(onnx)
    assert inputs == ["Min_Price", "engine_size", "Drive_Train"]
    assert parity(bundle, onnx, df, ExportConfig())["passed"]
    meta = metadata_for(bundle, name="model", metrics={}, params={}, data_sha256="0" * 64,
                        train_rows=len(df), parity_report={}, inputs=inputs)
    assert [(f["name"], f.get("input")) for f in meta["features"]] == [
        ("Min.Price", "Min_Price"), ("engine size", "engine_size"), ("Drive Train", "Drive_Train")]
    assert meta["onnx"]["inputs"] == inputs


def test_served_model_takes_the_column_names_on_predict_and_v2(tmp_path):
    df = _frame()
    export_model(df, "Type", tmp_path)
    meta = json.loads((tmp_path / "model.json").read_text())
    assert [f["name"] for f in meta["features"]] == ["Min.Price", "engine size", "Drive Train"]
    with TestClient(create_app(Settings(model_dir=str(tmp_path)))) as client:
        record = {"Min.Price": 30.0, "engine size": 3.0, "Drive Train": "Front"}
        response = client.post("/predict", json=[record])
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["label"] == "big"
        wrong = client.post("/predict", json=[{**record, "Min_Price": 30.0}])
        assert wrong.status_code == 422
        assert {"row": 0, "field": "Min_Price", "error": "unexpected field"} in \
            wrong.json()["errors"]
        described = client.get("/v2/models/model").json()
        assert [t["name"] for t in described["inputs"]] == list(record)
        tensors = [{"name": "Min.Price", "datatype": "FP32", "shape": [1, 1], "data": [30.0]},
                   {"name": "engine size", "datatype": "FP32", "shape": [1, 1], "data": [3.0]},
                   {"name": "Drive Train", "datatype": "BYTES", "shape": [1, 1],
                    "data": ["Front"]}]
        v2 = client.post("/v2/models/model/infer", json={"inputs": tensors})
        assert v2.status_code == 200, v2.text
