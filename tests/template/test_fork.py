"""The template proves its forks work: a new project on other data runs its pipeline and tests,
and later template commits merge into a fork that ran `init` and tuned its params."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from repo_tools import run_in, sh

# ~2 min on 2 cores: deselected by default (pyproject addopts), run by template.yml
pytestmark = [pytest.mark.e2e, pytest.mark.fork]

INIT = ["init", "--non-interactive", "--name", "acme-grades", "--model", "grade-model",
        "--description", "Grades parts as low, mid or high from size, weight, colour and shape.",
        "--data", "data/grades.csv", "--target", "grade", "--task", "multiclass"]




def gitops_ml(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_in(repo, [sys.executable, "-m", "gitops_ml", *args])


@pytest.fixture
def initialised(fork: Path, mixed_csv) -> Path:
    """A fork on a CSV of grades (categorical columns, missing values, 3 classes), after init."""
    mixed_csv(fork / "data/grades.csv")
    sh(["git", "add", "data/grades.csv"], fork)
    sh(["git", "commit", "-qm", "our data"], fork)
    start = time.perf_counter()
    gitops_ml(fork, *INIT)
    print(f"init: {time.perf_counter() - start:.1f} s")
    sh(["git", "add", "-A"], fork)
    sh(["git", "commit", "-qm", "gitops-ml init"], fork)
    return fork


def test_fork_on_other_data_runs_its_pipeline_and_its_tests(initialised):
    start = time.perf_counter()
    run_in(initialised, [sys.executable, "-m", "dvc", "repro", "--quiet"])
    meta = json.loads((initialised / "models/model.json").read_text())
    assert meta["name"] == "grade-model" and meta["task"] == "multiclass"
    assert meta["classes"] == ["high", "low", "mid"]
    assert {f["name"] for f in meta["features"]} == {"size", "weight", "colour", "shape"}
    assert json.loads((initialised / "reports/data_validation.json").read_text())["passed"]
    assert json.loads((initialised / "reports/onnx_parity.json").read_text())["passed"]
    assert "colour" in json.loads((initialised / "reports/slices.json").read_text())
    print(f"dvc repro: {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    # the fork's tests that read its own params and contract (the rest pin other datasets)
    run_in(initialised, [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x",
                         "-m", "not e2e and not container", "tests/test_contract.py",
                         "tests/test_stages_pipeline.py", "-k",
                         "contract or two_runs or bad_params or one_class"])
    print(f"fork tests: {time.perf_counter() - start:.1f} s")


def test_fork_merges_a_later_template_commit_touching_src(initialised, template_repo, tmp_path):
    # the team tunes its model after init
    params = initialised / "params.yaml"
    params.write_text(params.read_text().replace("    C: 1.0", "    C: 0.3"))
    sh(["git", "commit", "-qam", "stronger regularisation"], initialised)
    # meanwhile the template improves its code (in a clone, so the shared fixture stays put)
    upstream = tmp_path / "upstream"
    sh(["git", "clone", "-q", str(template_repo), str(upstream)], tmp_path)
    task_py = upstream / "src/gitops_ml/task.py"
    task_py.write_text(task_py.read_text() + "\n\n# a later template improvement\n")
    sh(["git", "commit", "-qam", "template: improve task.py"], upstream)
    # the fork takes it the way README "Make it yours" says
    sh(["git", "remote", "add", "template", str(upstream)], initialised)
    sh(["git", "fetch", "-q", "template"], initialised)
    sh(["git", "merge", "--no-edit", "template/main"], initialised)
    assert (initialised / "src/gitops_ml/task.py").read_text().endswith(
        "# a later template improvement\n")
    merged = yaml.safe_load(params.read_text())
    assert merged["model"]["params"]["C"] == 0.3
    assert merged["data"]["source"] == "data/grades.csv"
