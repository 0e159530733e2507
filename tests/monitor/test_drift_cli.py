from __future__ import annotations

import json

import pandas as pd
import pytest

from gitops_ml import cli


@pytest.fixture
def trained(example_project):
    """The template's example (its 30 features and 114 test rows are quoted below)."""
    project = example_project
    project.params["evaluate"]["importance_repeats"] = 0
    project.run_all(infer=False)
    return project


def drift(project, current, tmp_path):
    return cli.main(["drift", "--params", str(project.write_params()),
                     "--reference", str(project.path("train.parquet")),
                     "--current", str(current), "--model", str(project.root),
                     "--out-json", str(tmp_path / "drift.json"),
                     "--out-md", str(tmp_path / "drift.md"),
                     "--template", "reports/drift.md.j2"])


def test_drift_cli_exits_0_on_held_out_data_and_writes_both_reports(trained, tmp_path):
    assert drift(trained, trained.path("test.parquet"), tmp_path) == 0
    result = json.loads((tmp_path / "drift.json").read_text())
    assert result["drift"] is False and result["prediction"]["kind"] == "categorical"
    assert (tmp_path / "drift.md").read_text().startswith("## ✅ No drift: 30 features")


def test_drift_cli_exits_3_and_names_the_shifted_feature(trained, tmp_path, capsys):
    batch = pd.read_parquet(trained.path("test.parquet"))
    batch["worst_area"] = batch["worst_area"] * 1.8
    batch.to_parquet(tmp_path / "batch.parquet")
    assert drift(trained, tmp_path / "batch.parquet", tmp_path) == 3
    assert "drift: detected in worst_area" in capsys.readouterr().out
    report = (tmp_path / "drift.md").read_text()
    assert report.startswith("## ⚠️ Drift detected") and "| `worst_area` | numeric |" in report


def test_drift_cli_bad_current_is_a_one_line_error(trained, tmp_path, capsys):
    assert drift(trained, tmp_path / "nope.csv", tmp_path) == 2
    assert capsys.readouterr().err.strip() == (
        f"gitops-ml drift: error: --current: file not found: {tmp_path / 'nope.csv'}")
    assert not (tmp_path / "drift.json").exists()


def test_drift_cli_reads_a_folder_of_prediction_logs(trained, tmp_path):
    batch = pd.read_parquet(trained.path("test.parquet"))
    logs = tmp_path / "logs"
    logs.mkdir()
    features = [c for c in batch.columns if c != "diagnosis"]
    half = len(batch) // 2
    with open(logs / "day1.jsonl", "w") as fh:
        for part in (batch.iloc[:half], batch.iloc[half:]):
            fh.write(json.dumps({"ts": "2026-11-22T00:00:00Z", "model": "model", "version": None,
                                 "rows": len(part),
                                 "inputs": {f: part[f].tolist() for f in features},
                                 "predictions": part["diagnosis"].tolist()}) + "\n")
    assert drift(trained, logs, tmp_path) == 0
    assert json.loads((tmp_path / "drift.json").read_text())["current_rows"] == 114
