"""The serving app's prediction log: off by default, values as received, refusals with reasons."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from gitops_ml import cli
from gitops_ml.errors import UserError
from gitops_ml.serve.settings import Settings


def read_log(folder):
    [path] = list(folder.glob("predictions-*.jsonl"))  # one file for this server process
    return [json.loads(line) for line in path.read_text().splitlines()]


def records_of(df, target):
    return [{k: (None if pd.isna(v) else v) for k, v in row.items() if k != target}
            for row in df.to_dict("records")]


def drift(tmp_path, model, current, min_rows=20):
    params = tmp_path / "params.yaml"
    params.write_text(f"monitor: {{min_rows: {min_rows}}}\n")
    code = cli.main(["drift", "--params", str(params),
                     "--reference", str(model.test.with_name("train.parquet")),
                     "--current", str(current), "--model", str(model.dir),
                     "--out-json", str(tmp_path / "drift.json"),
                     "--out-md", str(tmp_path / "drift.md"),
                     "--template", "reports/drift.md.j2"])
    return code, json.loads((tmp_path / "drift.json").read_text())


def test_prediction_log_is_off_by_default_and_samples_a_tenth_when_on():
    settings = Settings.from_env({})
    assert settings.prediction_log == "" and settings.prediction_log_sample == 0.1


def test_prediction_log_records_predict_rows_as_received(client_for, mixed_model, good_record,
                                                         tmp_path):
    # 0.1 is not a float32: the log must keep what the client sent, not the model's cast
    first = {**good_record, "size": 0.1, "weight": 51}
    other = {**good_record, "colour": None, "size": None}
    with client_for(mixed_model.dir, prediction_log=str(tmp_path),
                    prediction_log_sample=1.0) as client:
        body = client.post("/predict", json=[first, other]).json()
    [line] = read_log(tmp_path)  # the client's exit ran the lifespan shutdown, which flushed it
    assert line["predictions"] == [p["label"] for p in body["predictions"]]
    assert line["inputs"] == {k: [v, other[k]] for k, v in first.items()}
    assert line["inputs"]["size"][0] == 0.1 and type(line["inputs"]["weight"][0]) is int
    assert line["model"] == "model" and line["version"] is None and "status" not in line


def test_prediction_log_records_refused_rows_with_their_reasons(client_for, mixed_model,
                                                                good_record, tmp_path):
    bad = [{**good_record, "colour": "ultraviolet"}, {**good_record, "weight": "heavy"}]
    with client_for(mixed_model.dir, prediction_log=str(tmp_path),
                    prediction_log_sample=1.0) as client:
        assert client.post("/predict", json=bad).status_code == 422
    [line] = read_log(tmp_path)
    assert line["status"] == 422 and line["predictions"] == [None, None]
    assert line["errors"] == [{"row": 0, "field": "colour", "error": "unknown category"},
                              {"row": 1, "field": "weight", "error": "expected a number"}]
    # what fits the feature's type is logged as sent (the unseen category), the rest as null
    assert line["inputs"]["colour"] == ["ultraviolet", "red"]
    assert line["inputs"]["weight"] == [51.0, None]


def test_prediction_log_records_v2_infer_rows(client_for, regression_model, tmp_path):
    features = json.loads((regression_model.dir / "model.json").read_text())["features"]
    inputs = [{"name": f["name"], "shape": [2, 1], "datatype": "FP32", "data": [0.01, -0.02]}
              for f in features]
    with client_for(regression_model.dir, prediction_log=str(tmp_path),
                    prediction_log_sample=1.0) as client:
        out = client.post("/v2/models/model/infer", json={"inputs": inputs})
        assert out.status_code == 200, out.text
    [line] = read_log(tmp_path)
    assert line["rows"] == 2 and all(isinstance(v, float) for v in line["predictions"])
    assert line["inputs"][features[0]["name"]] == [0.01, -0.02]


def test_prediction_log_sample_rate_zero_logs_nothing(client_for, mixed_model, good_record,
                                                      tmp_path):
    with client_for(mixed_model.dir, prediction_log=str(tmp_path),
                    prediction_log_sample=0.0) as client:
        assert client.post("/predict", json=[good_record] * 5).status_code == 200
    assert read_log(tmp_path) == []


def test_prediction_log_sample_setting_is_validated():
    with pytest.raises(UserError, match=r"GITOPS_ML_PREDICTION_LOG_SAMPLE: must be between 0\.0 "
                                        r"and 1\.0, got '2'"):
        Settings.from_env({"GITOPS_ML_PREDICTION_LOG_SAMPLE": "2"})


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_prediction_log_in_a_read_only_directory_stops_the_start_up(client_for, mixed_model,
                                                                    tmp_path):
    tmp_path.chmod(0o555)
    try:
        with (pytest.raises(UserError, match=r"GITOPS_ML_PREDICTION_LOG: cannot write a log "
                                             r"file in .*Permission denied"),
              client_for(mixed_model.dir, prediction_log=str(tmp_path / "logs"))):
            pass
    finally:
        tmp_path.chmod(0o755)


def test_prediction_log_where_a_file_blocks_the_directory_stops_the_start_up(
        client_for, mixed_model, tmp_path):
    # what root sees on a read-only path too: the open fails in the lifespan, not in a thread
    (tmp_path / "taken").write_text("")
    with (pytest.raises(UserError, match=r"GITOPS_ML_PREDICTION_LOG: cannot write a log file "
                                         r"in .*taken"),
          client_for(mixed_model.dir, prediction_log=str(tmp_path / "taken"))):
        pass


def test_prediction_log_of_training_rows_keeps_drift_quiet_and_shifted_rows_alarm(
        client_for, mixed_model, tmp_path):
    """Serve rows from the training distribution, read the log, run the drift check."""
    test = pd.read_parquet(mixed_model.test)
    quiet, shifted = tmp_path / "quiet", tmp_path / "shifted"
    with client_for(mixed_model.dir, prediction_log=str(quiet / "logs"),
                    prediction_log_sample=1.0, max_rows=1000) as client:
        for start in range(0, len(test), 25):  # many requests, as traffic arrives
            chunk = records_of(test.iloc[start:start + 25], mixed_model.target)
            assert client.post("/predict", json=chunk).status_code == 200
    code, result = drift(quiet, mixed_model, quiet / "logs")
    assert code == 0 and result["drift"] is False, result["drifted"]
    assert result["current_rows"] == len(test) and result["prediction"] is not None

    moved = test.assign(weight=test["weight"] * 3 + 50)
    with client_for(mixed_model.dir, prediction_log=str(shifted / "logs"),
                    prediction_log_sample=1.0, max_rows=1000) as client:
        assert client.post("/predict", json=records_of(moved, mixed_model.target)).status_code \
            == 200
    code, result = drift(shifted, mixed_model, shifted / "logs")
    assert code == 3 and "weight" in result["drifted"]


def test_prediction_log_refusals_raise_the_unseen_category_alarm(client_for, mixed_model,
                                                                 tmp_path):
    test = pd.read_parquet(mixed_model.test)
    records = records_of(test, mixed_model.target)
    for r in records[::2]:
        r["shape"] = "hexagon"  # never seen in training: the server refuses each of these
    with client_for(mixed_model.dir, prediction_log=str(tmp_path / "logs"),
                    prediction_log_sample=1.0) as client:
        for r in records:
            client.post("/predict", json=[r])
    code, result = drift(tmp_path, mixed_model, tmp_path / "logs")
    assert code == 3 and "shape" in result["drifted"]
    assert result["features"]["shape"]["unseen_examples"] == ["hexagon"]
    assert result["current_rows"] == len(records)
