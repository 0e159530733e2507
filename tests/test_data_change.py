"""A changed data file reruns ingest (real `dvc status` / `dvc repro` in a fresh git repo), and the
pull-request report says what changed in the data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from repo_tools import git_repo_of_tracked_files, mixed_frame, sh, tool_env

from gitops_ml.report.data_change import compare, markdown

ROOT = Path(__file__).resolve().parents[1]


def dvc(repo: Path, *args: str) -> str:
    return sh([sys.executable, "-m", "dvc", *args], repo).stdout


def set_source(repo: Path, source: str, target: str) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update(source=source, target=target)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture
def csv_repo(tmp_path: Path) -> Path:
    repo = git_repo_of_tracked_files(ROOT, tmp_path / "repo")
    frame = mixed_frame(rows=200, seed=0)
    frame.to_csv(repo / "data/table.csv", index=False)
    set_source(repo, "data/table.csv", frame.columns[-1])
    dvc(repo, "repro", "ingest")
    return repo


@pytest.mark.e2e
def test_data_change_replaced_csv_reruns_ingest(csv_repo: Path):
    assert "Stage 'ingest' didn't change" in dvc(csv_repo, "repro", "ingest")
    frame = mixed_frame(rows=250, seed=1)
    frame.to_csv(csv_repo / "data/table.csv", index=False)
    out = dvc(csv_repo, "repro", "ingest")
    assert "Running stage 'ingest'" in out
    assert len(pd.read_parquet(csv_repo / "data/raw.parquet")) == 250
    summary = json.loads((csv_repo / "reports/data.json").read_text())
    assert summary["rows"] == 250 and summary["source"] == "data/table.csv"
    assert len(summary["sha256"]) == 64


@pytest.mark.e2e
def test_data_change_dropped_column_is_never_restored_from_the_cache(csv_repo: Path):
    first = pd.read_csv(csv_repo / "data/table.csv")
    dropped = first.columns[0]
    first.drop(columns=[dropped]).to_csv(csv_repo / "data/table.csv", index=False)
    out = dvc(csv_repo, "repro", "ingest")
    assert "Running stage 'ingest'" in out and "is cached - skipping run" not in out
    assert dropped not in pd.read_parquet(csv_repo / "data/raw.parquet").columns
    # and back: the run-cache restores the earlier data, which is what it was made from
    first.to_csv(csv_repo / "data/table.csv", index=False)
    dvc(csv_repo, "repro", "ingest")
    assert dropped in pd.read_parquet(csv_repo / "data/raw.parquet").columns


@pytest.mark.e2e
def test_data_change_switched_source_reruns_ingest(csv_repo: Path):
    other = mixed_frame(rows=120, seed=2)
    other.to_csv(csv_repo / "data/other.csv", index=False)
    set_source(csv_repo, "data/other.csv", other.columns[-1])
    assert "Running stage 'ingest'" in dvc(csv_repo, "repro", "ingest")
    assert len(pd.read_parquet(csv_repo / "data/raw.parquet")) == 120


@pytest.mark.e2e
def test_data_change_dvc_add_tracked_file_reruns_ingest(csv_repo: Path):
    dvc(csv_repo, "add", "data/table.csv")
    dvc(csv_repo, "repro", "ingest")
    mixed_frame(rows=90, seed=3).to_csv(csv_repo / "data/table.csv", index=False)
    dvc(csv_repo, "add", "data/table.csv")
    assert "Running stage 'ingest'" in dvc(csv_repo, "repro", "ingest")
    assert len(pd.read_parquet(csv_repo / "data/raw.parquet")) == 90


@pytest.mark.e2e
def test_data_change_missing_data_file_fails_naming_data_source(csv_repo: Path):
    (csv_repo / "data/table.csv").unlink()
    out = subprocess.run([sys.executable, "-m", "dvc", "repro", "ingest"], cwd=csv_repo,
                         capture_output=True, text=True, env=tool_env(), check=False)
    assert out.returncode == 255
    assert "data.source: file not found: data/table.csv" in out.stdout + out.stderr


BEFORE = {"source": "data/a.csv", "sha256": "a" * 64, "batches": [], "rows": 569,
          "columns": {"x": "float64", "y": "str", "gone": "int64"}}
AFTER = {"source": "data/a.csv", "sha256": "b" * 64, "batches": [{"path": "b", "sha256": "c"}],
         "rows": 600, "columns": {"x": "int64", "y": "str", "new": "float64"}}


def test_data_change_summary_names_rows_columns_and_hashes():
    change = compare(BEFORE, AFTER)
    assert change.changed and change.added == ["new"] and change.removed == ["gone"]
    assert change.retyped == [("x", "float64", "int64")]
    text = markdown(change)
    assert "- rows: 569 → 600 (+31)" in text
    assert "- content SHA-256: `aaaaaaaaaaaa` → `bbbbbbbbbbbb`" in text
    assert "- columns added: `new`" in text and "- columns removed: `gone`" in text
    assert "- labelled batches: 0 → 1" in text
    assert "trained on different data" in text


def test_data_change_same_data_renders_nothing():
    assert markdown(compare(BEFORE, dict(BEFORE))) == ""
    assert compare(BEFORE, None) is None
    assert markdown(compare(None, AFTER)) == ""   # first pull request: nothing to compare


@pytest.mark.e2e
def test_data_change_serve_warns_when_models_are_older_than_the_pipeline(csv_repo: Path,
                                                                      tmp_path: Path):
    from gitops_ml.cli import _stale_pipeline_warning

    # only ingest ran after the data changed: the model stages are out of date
    warning = _stale_pipeline_warning(csv_repo)
    assert warning is not None and "train" in warning and "run `uv run dvc repro`" in warning
    assert _stale_pipeline_warning(tmp_path) is None   # no dvc.lock: the serving image

