"""pipelines.monitor with labels: the quality check on a real server's prediction log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from repo_tools import tool_env

pytestmark = pytest.mark.e2e


def serve_and_log(repo: Path, logs: Path) -> pd.DataFrame:
    """Score the held-out rows through the real app with request ids; return id + truth."""
    from fastapi.testclient import TestClient

    from gitops_ml.features import Feature, FeatureSchema
    from gitops_ml.serve.app import create_app
    from gitops_ml.serve.settings import Settings

    test = pd.read_parquet(repo / "data/test.parquet")
    test = test.sample(n=min(len(test), 500), random_state=0)   # a request per row: keep it short
    meta = json.loads((repo / "models/model.json").read_text())
    schema = FeatureSchema([Feature.from_dict(f) for f in meta["features"]],
                           reject_unknown_categories=True)
    records = schema.records_of(test)
    settings = Settings(model_dir=repo / "models", prediction_log=str(logs),
                        prediction_log_sample=1.0)
    with TestClient(create_app(settings)) as client:
        for i, record in enumerate(records):
            response = client.post("/predict", json=[record], headers={"X-Request-ID": f"r{i}"})
            assert response.status_code == 200
    return pd.DataFrame({"request_id": [f"r{i}" for i in range(len(records))],
                         meta["target"]: test[meta["target"]].to_numpy()})


def monitor(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**tool_env(), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "pipelines.monitor", "--seed", "7", *args],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=600)


def test_monitor_with_labels_holds_on_true_labels_and_alarms_on_wrong_ones(repo_copy):
    params = yaml.safe_load((repo_copy / "params.yaml").read_text())
    params["quality"].update({"breaches": 1, "of_last": 1})  # one window holds the whole log
    (repo_copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    labels = serve_and_log(repo_copy, repo_copy / "logs")
    labels.to_csv(repo_copy / "labels.csv", index=False)
    ok = monitor(repo_copy, "--source", "logs", "--labels", "labels.csv")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    report = json.loads((repo_copy / "reports/quality.json").read_text())
    assert report["alarm"] is False and report["rows"] == len(labels)

    target = labels.columns[1]                          # this project's own target
    if pd.api.types.is_numeric_dtype(labels[target]) and \
            json.loads((repo_copy / "models/model.json").read_text())["classes"] is None:
        truth = labels[target].astype(float)            # mirrored: every error grows
        labels[target] = truth.max() + truth.min() - truth + 10 * (truth.std() or 1.0)
    else:                                               # every class swapped for the next
        classes = sorted(labels[target].unique())
        labels[target] = labels[target].map(dict(zip(classes, classes[1:] + classes[:1],
                                                     strict=True)))
    labels.to_csv(repo_copy / "labels.csv", index=False)
    alarm = monitor(repo_copy, "--source", "logs", "--labels", "labels.csv")
    assert alarm.returncode == 3, alarm.stdout + alarm.stderr
    assert "quality: alarm" in alarm.stdout
    batch = pd.read_parquet(next((repo_copy / "data/incoming").glob("labelled-*.parquet")))
    assert len(batch) == len(labels) and target in batch.columns


def test_monitor_labels_with_a_batch_source_is_a_clear_error(repo_copy):
    out = monitor(repo_copy, "--source", "data/test.parquet", "--labels", "labels.csv")
    assert out.returncode == 2
    assert "--labels needs --source to be prediction logs" in out.stderr
