"""Champion and challenger in one server: shadow scoring, canary assignment, logs and metrics."""

from __future__ import annotations

import json
import shutil

import pytest

from gitops_ml.errors import UserError
from gitops_ml.serve.challenger import bucket, to_challenger
from gitops_ml.serve.settings import Settings


def read_log(folder):
    [path] = list(folder.glob("predictions-*.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def challenger_dir(mixed_model, tmp_path):
    """The champion's model as version v2: the same answers, told apart by version."""
    folder = tmp_path / "challenger"
    shutil.copytree(mixed_model.dir, folder)
    meta = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**meta, "version": "v2"}))
    return folder


def test_challenger_shadow_answers_with_the_champion_and_logs_both_outputs(
        client_for, mixed_model, challenger_dir, good_record, tmp_path):
    logs = tmp_path / "logs"
    with client_for(mixed_model.dir, challenger_dir=challenger_dir, challenger_mode="shadow",
                    prediction_log=str(logs), prediction_log_sample=1.0) as client:
        response = client.post("/predict", json=[good_record, good_record],
                               headers={"X-Request-ID": "user-7"})
    body = response.json()
    assert response.headers["x-request-id"] == "user-7"
    assert body["model"] == {"name": "model", "version": None}
    [line] = read_log(logs)
    assert (line["request_id"], line["role"], line["version"]) == ("user-7", "champion", None)
    shadow = line["shadow"]
    assert (shadow["role"], shadow["version"]) == ("challenger", "v2")
    assert shadow["predictions"] == line["predictions"] == [p["label"]
                                                             for p in body["predictions"]]
    assert line["classes"] == ["high", "low", "mid"]
    assert line["probabilities"][0] == pytest.approx(
        [body["predictions"][0]["probabilities"][c] for c in line["classes"]])
    assert shadow["probabilities"] == line["probabilities"]  # same model, same floats


def test_challenger_canary_answers_its_share_stably_by_request_id(
        client_for, mixed_model, challenger_dir, good_record, tmp_path):
    logs = tmp_path / "logs"
    ids = [f"user-{i}" for i in range(40)]
    with client_for(mixed_model.dir, challenger_dir=challenger_dir, challenger_mode="canary",
                    canary_percent=30.0, prediction_log=str(logs),
                    prediction_log_sample=1.0) as client:
        first = [client.post("/predict", json=[good_record], headers={"X-Request-ID": i})
                 .json()["model"]["version"] for i in ids]
        again = [client.post("/predict", json=[good_record], headers={"X-Request-ID": i})
                 .json()["model"]["version"] for i in ids]
        metrics = client.get("/metrics").text
    expected = ["v2" if to_challenger(i, 30.0) else None for i in ids]
    assert first == again == expected
    assert 0 < expected.count("v2") < len(ids)
    roles = {(line["request_id"], line["role"]) for line in read_log(logs)}
    assert roles == {(i, "challenger" if v == "v2" else "champion")
                     for i, v in zip(ids, first, strict=True)}
    assert (f'gitops_ml_rows_scored_total{{model="model",version="v2"}} '
            f'{2.0 * expected.count("v2")}') in metrics
    assert 'gitops_ml_model_info{model="model",role="challenger",version="v2"} 1.0' in metrics


def test_challenger_v2_infer_takes_the_body_id_when_no_header_came(
        client_for, mixed_model, challenger_dir, tmp_path):
    logs = tmp_path / "logs"
    inputs = [{"name": "size", "datatype": "FP64", "shape": [1], "data": [9.5]},
              {"name": "weight", "datatype": "FP64", "shape": [1], "data": [51.0]},
              {"name": "colour", "datatype": "BYTES", "shape": [1], "data": ["red"]},
              {"name": "shape", "datatype": "BYTES", "shape": [1], "data": ["round"]}]
    with client_for(mixed_model.dir, challenger_dir=challenger_dir, challenger_mode="canary",
                    canary_percent=100.0, prediction_log=str(logs),
                    prediction_log_sample=1.0) as client:
        body = client.post("/v2/models/model/infer", json={"id": "order-1", "inputs": inputs})
    assert body.status_code == 200 and body.json()["model_version"] == "v2"
    [line] = read_log(logs)
    assert (line["request_id"], line["role"]) == ("order-1", "challenger")


def test_challenger_request_without_an_id_gets_one_back_and_in_the_log(
        client_for, mixed_model, good_record, tmp_path):
    with client_for(mixed_model.dir, prediction_log=str(tmp_path),
                    prediction_log_sample=1.0) as client:
        response = client.post("/predict", json=[good_record])
    made = response.headers["x-request-id"]
    assert len(made) == 32
    [line] = read_log(tmp_path)
    assert (line["request_id"], line["role"]) == (made, "champion")


def test_challenger_v2_models_lists_both_with_their_roles(client_for, mixed_model,
                                                          challenger_dir, tmp_path):
    with client_for(mixed_model.dir, challenger_dir=challenger_dir, challenger_mode="canary",
                    canary_percent=5.0) as client:
        listed = client.get("/v2/models").json()
    assert listed == {"models": [
        {"name": "model", "version": None, "role": "champion"},
        {"name": "model", "version": "v2", "role": "challenger", "mode": "canary",
         "canary_percent": 5.0}]}


def test_challenger_with_other_features_stops_the_start_up(client_for, mixed_model,
                                                           regression_model):
    with pytest.raises(UserError, match=r"^GITOPS_ML_CHALLENGER_DIR: the challenger's "
                                        r"features differ"), \
            client_for(mixed_model.dir, challenger_dir=regression_model.dir,
                       challenger_mode="shadow", prediction_log="-"):
        pass


@pytest.mark.parametrize(("env", "message"), [
    ({"GITOPS_ML_CHALLENGER_DIR": "c"}, r"^GITOPS_ML_CHALLENGER_MODE: required"),
    ({"GITOPS_ML_CHALLENGER_MODE": "canary"}, r"^GITOPS_ML_CHALLENGER_DIR: required"),
    ({"GITOPS_ML_CHALLENGER_DIR": "c", "GITOPS_ML_CHALLENGER_MODE": "blue"},
     r"^GITOPS_ML_CHALLENGER_MODE: must be one of"),
    ({"GITOPS_ML_CHALLENGER_DIR": "c", "GITOPS_ML_CHALLENGER_MODE": "shadow"},
     r"^GITOPS_ML_PREDICTION_LOG: required in shadow mode"),
    ({"GITOPS_ML_CHALLENGER_DIR": "c", "GITOPS_ML_CHALLENGER_MODE": "canary",
      "GITOPS_ML_CANARY_PERCENT": "120"}, r"^GITOPS_ML_CANARY_PERCENT: must be between"),
    ({"GITOPS_ML_CANARY_PERCENT": "10"}, r"^GITOPS_ML_CANARY_PERCENT: only used with"),
])
def test_challenger_settings_errors_name_the_variable(env, message):
    with pytest.raises(UserError, match=message):
        Settings.from_env(env)


def test_challenger_assignment_is_a_stable_hash_that_splits_as_configured():
    assert bucket("user-1") == bucket("user-1") == int.from_bytes(
        __import__("hashlib").sha256(b"user-1").digest()[:8], "big") % 10_000
    share = sum(to_challenger(f"id-{i}", 10.0) for i in range(20_000)) / 20_000
    assert abs(share - 0.10) < 0.01  # 20 000 draws: the binomial sd is 0.002
    assert not any(to_challenger(f"id-{i}", 0.0) for i in range(1000))
    assert all(to_challenger(f"id-{i}", 100.0) for i in range(1000))


def test_challenger_shadow_log_feeds_the_experiment_report(client_for, mixed_model,
                                                           challenger_dir, good_record, tmp_path):
    from gitops_ml.config import ExperimentConfig
    from gitops_ml.monitor import experiment, outcomes
    from gitops_ml.monitor.predlog import log_files, read_records

    logs = tmp_path / "logs"
    with client_for(mixed_model.dir, challenger_dir=challenger_dir, challenger_mode="shadow",
                    prediction_log=str(logs), prediction_log_sample=1.0) as client:
        for i in range(5):
            client.post("/predict", json=[good_record] * 3, headers={"X-Request-ID": f"r{i}"})
    df = outcomes.frame(read_records(log_files(logs)))
    report = experiment.analyse(df, ExperimentConfig(), labelled=False)
    assert report["design"] == "shadow" and report["agreement"] == 1.0
    assert report["models"]["challenger"]["rows"] == 15
    assert report["models"]["challenger"]["version"] == "v2"


def test_challenger_role_setting_marks_a_canary_deployments_log_lines(client_for, mixed_model,
                                                                      good_record, tmp_path):
    assert Settings.from_env({"GITOPS_ML_ROLE": "challenger"}).role == "challenger"
    with client_for(mixed_model.dir, role="challenger", prediction_log=str(tmp_path),
                    prediction_log_sample=1.0) as client:
        client.post("/predict", json=[good_record], headers={"X-Request-ID": "u1"})
    [line] = read_log(tmp_path)
    assert (line["request_id"], line["role"]) == ("u1", "challenger")


def _shadow_arm(mixed_model):
    from gitops_ml.serve.challenger import Arm
    from gitops_ml.serve.model import OnnxModel, read_meta

    meta = read_meta(mixed_model.dir)
    return Arm("challenger", meta, meta.schema(reject_unknown_categories=True),
               OnnxModel.load(mixed_model.dir, meta))


def _columns(*records):
    return {k: [r[k] for r in records] for k in records[0]}


def test_shadow_scores_a_batch_of_requests_in_one_call_with_each_ones_answer(
        mixed_model, good_record, monkeypatch):
    from gitops_ml.serve.challenger import ShadowScore

    arm = _shadow_arm(mixed_model)
    other = {**good_record, "size": 2.0, "colour": "blue"}
    requests = [(_columns(good_record, other), None), (_columns(other, good_record, other), [0, 2])]
    alone = [ShadowScore(arm, columns, len(columns["size"]))(keep) for columns, keep in requests]
    calls = []
    score = arm.model.score
    monkeypatch.setattr(arm.model, "score", lambda *a, **k: calls.append(1) or score(*a, **k))
    jobs = [(ShadowScore(arm, columns, len(columns["size"])), keep) for columns, keep in requests]
    ShadowScore.score_together(jobs)
    assert [job(keep) for job, keep in jobs] == alone
    assert len(calls) == 1  # one ONNX Runtime call for both requests


def test_shadow_batch_with_a_refused_row_leaves_the_others_their_output(mixed_model, good_record):
    from gitops_ml.features import InvalidInput
    from gitops_ml.serve.challenger import ShadowScore

    arm = _shadow_arm(mixed_model)
    good = ShadowScore(arm, _columns(good_record), 1)
    bad = ShadowScore(arm, _columns({**good_record, "colour": "purple"}), 1)
    ShadowScore.score_together([(good, None), (bad, None)])
    assert good(None) == ShadowScore(arm, _columns(good_record), 1)(None)
    with pytest.raises(InvalidInput):  # the log writes it as the shadow's error
        bad(None)
