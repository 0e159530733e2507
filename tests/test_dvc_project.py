"""The project as a team gets it: a fresh git copy where `dvc repro` and `dvc exp` just work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
BIN = str(Path(sys.executable).parent)  # gitops-ml and dvc live beside this interpreter


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def repo(tmp_path_factory, project_root) -> Path:
    """A git repo holding the committed project files (no outputs), after one `dvc repro`."""
    dest = tmp_path_factory.mktemp("fork")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=project_root, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = project_root / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for generated in ("reports/metrics.json", "dvc.lock"):
        (dest / generated).unlink(missing_ok=True)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "fork"], dest)
    run(["dvc", "repro"], dest)
    return dest


def test_dvc_repro_produces_every_declared_output(repo):
    for out in ("data/raw.parquet", "data/train.parquet", "data/test.parquet",
                "models/pipeline.joblib", "models/model.onnx", "models/model.json",
                "reports/metrics.json", "reports/data_validation.json",
                "reports/onnx_parity.json", "reports/plots/roc.json", "dvc.lock"):
        assert (repo / out).is_file(), out
    meta = json.loads((repo / "models/model.json").read_text())
    assert len(meta["git_commit"]) == 40


def test_dvc_large_files_are_not_tracked_by_git(repo):
    ignored = subprocess.run(["git", "check-ignore", "data/raw.parquet", "models/model.onnx"],
                             cwd=repo, capture_output=True, text=True).stdout.split()
    assert ignored == ["data/raw.parquet", "models/model.onnx"]


def test_dvc_repro_again_is_a_fast_no_op(repo):
    start = time.perf_counter()
    out = run(["dvc", "repro"], repo).stdout
    elapsed = time.perf_counter() - start
    assert "Data and pipelines are up to date." in out
    assert "Running stage" not in out
    print(f"no-op dvc repro: {elapsed:.2f} s")


def test_dvc_metrics_show_lists_the_metrics(repo):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo).stdout)
    metrics = shown[""]["data"]["reports/metrics.json"]["data"]
    assert metrics == json.loads((repo / "reports/metrics.json").read_text())


def test_dvc_plots_show_renders_html(repo):
    run(["dvc", "plots", "show", "-o", "plots_html"], repo)
    html = (repo / "plots_html/index.html").read_text()
    assert "ROC" in html and "Confusion matrix" in html


def test_dvc_exp_run_with_set_param_and_exp_show(repo):
    run(["dvc", "exp", "run", "-n", "smaller-c", "-S", "model.params.C=0.05"], repo)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    exps = [e for rev in shown for e in (rev.get("experiments") or [])]
    names = {e["name"]: e for e in exps}
    assert "smaller-c" in names
    data = names["smaller-c"]["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["model"]["params"]["C"] == 0.05
    assert "roc_auc" in data["metrics"]["reports/metrics.json"]["data"]
