"""The serving app's prediction log: off by default, sampled, written off the request path."""

from __future__ import annotations

import json

import pytest

from gitops_ml.errors import UserError
from gitops_ml.serve.settings import Settings


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_prediction_log_is_off_by_default_and_samples_a_tenth_when_on():
    settings = Settings.from_env({})
    assert settings.prediction_log == "" and settings.prediction_log_sample == 0.1


def test_prediction_log_records_predict_rows_with_model_and_inputs(client_for, mixed_model,
                                                                  good_record, tmp_path):
    log = tmp_path / "predictions.jsonl"
    other = {**good_record, "colour": None, "size": None}
    with client_for(mixed_model.dir, prediction_log=str(log),
                    prediction_log_sample=1.0) as client:
        body = client.post("/predict", json=[good_record, other]).json()
    [line] = read_log(log)  # the client's exit ran the lifespan shutdown, which flushed the log
    assert line["predictions"] == [p["label"] for p in body["predictions"]]
    assert line["inputs"] == {k: [v, other[k]] for k, v in good_record.items()}
    assert line["model"] == "model" and line["version"] is None


def test_prediction_log_records_v2_infer_rows(client_for, regression_model, tmp_path):
    log = tmp_path / "p.jsonl"
    features = json.loads((regression_model.dir / "model.json").read_text())["features"]
    inputs = [{"name": f["name"], "shape": [2, 1], "datatype": "FP32", "data": [0.01, -0.02]}
              for f in features]
    with client_for(regression_model.dir, prediction_log=str(log),
                    prediction_log_sample=1.0) as client:
        out = client.post("/v2/models/model/infer", json={"inputs": inputs})
        assert out.status_code == 200, out.text
    [line] = read_log(log)
    assert line["rows"] == 2 and all(isinstance(v, float) for v in line["predictions"])


def test_prediction_log_sample_rate_zero_logs_nothing(client_for, mixed_model, good_record,
                                                      tmp_path):
    log = tmp_path / "p.jsonl"
    with client_for(mixed_model.dir, prediction_log=str(log),
                    prediction_log_sample=0.0) as client:
        assert client.post("/predict", json=[good_record] * 5).status_code == 200
    assert log.read_text() == ""


def test_prediction_log_sample_setting_is_validated():
    with pytest.raises(UserError, match=r"GITOPS_ML_PREDICTION_LOG_SAMPLE: must be between 0\.0 "
                                        r"and 1\.0, got '2'"):
        Settings.from_env({"GITOPS_ML_PREDICTION_LOG_SAMPLE": "2"})


def test_prediction_log_feeds_the_drift_check(client_for, mixed_model, tmp_path):
    """The loop a team can try locally: serve, log, then `gitops-ml drift` on the logs."""
    import pandas as pd

    from gitops_ml import cli

    log_dir = tmp_path / "logs"
    test = pd.read_parquet(mixed_model.test)
    records = [{k: (None if pd.isna(v) else v) for k, v in row.items() if k != "grade"}
               for _, row in test.iterrows()]
    with client_for(mixed_model.dir, prediction_log=str(log_dir / "day1.jsonl"),
                    prediction_log_sample=1.0, max_rows=1000) as client:
        assert client.post("/predict", json=records).status_code == 200
    params = tmp_path / "params.yaml"
    params.write_text("monitor: {min_rows: 20}\n")
    code = cli.main(["drift", "--params", str(params),
                     "--reference", str(mixed_model.test.with_name("train.parquet")),
                     "--current", str(log_dir), "--model", str(mixed_model.dir),
                     "--out-json", str(tmp_path / "drift.json"),
                     "--out-md", str(tmp_path / "drift.md"),
                     "--template", "reports/drift.md.j2"])
    assert code == 0
    result = json.loads((tmp_path / "drift.json").read_text())
    assert result["current_rows"] == len(test) and result["prediction"] is not None
