"""The project as a team gets it: a fresh git copy where `dvc repro` and `dvc exp` just work."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from repo_tools import sh

pytestmark = pytest.mark.e2e


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return sh(cmd, cwd)


@pytest.fixture(scope="module")
def repo(main_repo: Path) -> Path:
    """The shared clean-clone repo after its first `dvc repro` (read-only here)."""
    return main_repo


def test_dvc_repro_produces_every_declared_output(repo):
    meta = json.loads((repo / "models/model.json").read_text())
    # evaluate's plot data depends on the task: a fork of a regression table has no ROC curve
    plot = ("reports/plots/predicted_vs_actual.json" if meta["task"] == "regression"
            else "reports/plots/roc.json")
    for out in ("data/raw.parquet", "data/train.parquet", "data/test.parquet",
                "models/pipeline.joblib", "models/model.onnx", "models/model.json",
                "reports/metrics.json", "reports/data_validation.json",
                "reports/onnx_parity.json", plot, "dvc.lock"):
        assert (repo / out).is_file(), out


def test_dvc_repro_on_a_fresh_clone_leaves_git_status_clean(first_repro):
    # main is what it reproduces: no commit, clock or run-specific value in any output, so the
    # README's first command changes nothing git tracks (dvc.lock, reports/) and leaves nothing
    # untracked outside .gitignore (issue 21, "main is what it reproduces")
    _, status = first_repro
    assert status == ""


def test_dvc_large_files_are_not_tracked_by_git(repo):
    ignored = subprocess.run(["git", "check-ignore", "data/raw.parquet", "models/model.onnx"],
                             cwd=repo, capture_output=True, text=True).stdout.split()
    assert ignored == ["data/raw.parquet", "models/model.onnx"]


def test_dvc_repro_again_is_a_fast_no_op(repo):
    start = time.perf_counter()
    out = run(["dvc", "repro"], repo).stdout
    elapsed = time.perf_counter() - start
    # only the data fingerprint runs (always: it hashes data.source); nothing it feeds reruns
    assert re.findall(r"Running stage '([^']+)'", out) == ["fingerprint"]
    assert "Stage 'ingest' didn't change, skipping" in out
    assert "Stage 'model_card' didn't change, skipping" in out
    print(f"no-op dvc repro: {elapsed:.2f} s")


def test_dvc_metrics_show_lists_the_metrics(repo):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo).stdout)
    metrics = shown[""]["data"]["reports/metrics.json"]["data"]
    assert metrics == json.loads((repo / "reports/metrics.json").read_text())


def test_dvc_plots_show_renders_html(repo, tmp_path):
    out = tmp_path / "plots_html"
    run(["dvc", "plots", "show", "-o", str(out)], repo)
    html = (out / "index.html").read_text()
    # the plots the project's task writes (a fork on a numeric target draws the regression ones)
    if json.loads((repo / "models/model.json").read_text())["task"] == "regression":
        assert "Predicted vs actual" in html and "Residuals" in html
    else:
        assert "ROC" in html and "Confusion matrix" in html


def test_dvc_exp_run_with_set_param_and_exp_show(repo_copy):
    # the estimator's first param (C of the template's LogisticRegression, alpha of a Ridge)
    params = yaml.safe_load((repo_copy / "params.yaml").read_text())["model"]["params"]
    name = next(iter(params))
    run(["dvc", "exp", "run", "-n", "smaller-c", "-S", f"model.params.{name}=0.05"], repo_copy)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo_copy).stdout)
    exps = [e for rev in shown for e in (rev.get("experiments") or [])]
    names = {e["name"]: e for e in exps}
    assert "smaller-c" in names
    data = names["smaller-c"]["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["model"]["params"][name] == 0.05
    metrics = json.loads((repo_copy / "reports/metrics.json").read_text())
    assert set(data["metrics"]["reports/metrics.json"]["data"]) == set(metrics)
