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

from gitops_ml import config

pytestmark = pytest.mark.e2e


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return sh(cmd, cwd)


def config_of(repo: Path) -> config.Params:
    return config.load(repo / "params.yaml")


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


def churn_csv(path: Path, rows: int = 400) -> None:
    """Yes/No labels (Yes the rarer), two numbers and a category."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    tenure, charges = rng.uniform(0, 72, rows), rng.normal(70, 20, rows)
    plan = rng.choice(["monthly", "yearly"], rows)
    score = -tenure / 20 + (charges - 70) / 20 + (plan == "monthly") + rng.normal(0, 1, rows)
    pd.DataFrame({"tenure": tenure.round(1), "charges": charges.round(2), "plan": plan,
                  "churn": np.where(score > 0.5, "Yes", "No")}).to_csv(path, index=False)


def test_dvc_exp_run_set_param_keeps_a_yes_positive_class_a_string(repo_copy):
    # issue 21: `dvc exp run -S` rewrites params.yaml as YAML 1.2 and drops the quotes of
    # positive_class: 'Yes'; read as YAML 1.1 that was True, and evaluate failed
    churn_csv(repo_copy / "data/churn.csv")
    params = yaml.safe_load((repo_copy / "params.yaml").read_text())
    params["data"].update(source="data/churn.csv", target="churn")
    params["model"].update(task="binary", estimator="sklearn.linear_model.LogisticRegression",
                           params={"C": 1.0, "max_iter": 2000})
    params["evaluate"].update(slices=["plan"], positive_class="Yes", protected=[])
    (repo_copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert "positive_class: 'Yes'" in (repo_copy / "params.yaml").read_text()
    (repo_copy / "model_tests.yaml").write_text("tests: []\n")
    run(["dvc", "repro", "--quiet", "ingest"], repo_copy)
    run(["gitops-ml", "contract", "infer", "--data", "data/raw.parquet", "--out",
         "contract.yaml", "--force"], repo_copy)
    run(["dvc", "repro", "--quiet"], repo_copy)
    run(["git", "add", "-A"], repo_copy)
    run(["git", "commit", "-qm", "churn"], repo_copy)

    run(["dvc", "exp", "run", "-n", "smaller-c", "-S", "model.params.C=0.1"], repo_copy)
    text = (repo_copy / "params.yaml").read_text()
    assert "C: 0.1" in text and "positive_class: Yes\n" in text   # the premise: unquoted
    assert config_of(repo_copy).evaluate.positive_class == "Yes"
    # the experiment's own changes, and nothing else: no stray or untracked file
    changed = run(["git", "status", "--porcelain"], repo_copy).stdout.splitlines()
    assert {line[:3] for line in changed} <= {" M "}, changed
    assert {line[3:] for line in changed} <= {"params.yaml", "dvc.lock", *(
        f"reports/{p}" for p in ("metrics.json", "slices.json", "importance.json",
                                 "model_card.md", "model_tests.json", "fairness.json",
                                 "onnx_parity.json", "plots/roc.json",
                                 "plots/precision_recall.json", "plots/calibration.json",
                                 "plots/confusion.json"))}, changed
