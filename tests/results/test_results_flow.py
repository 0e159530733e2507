"""Local proof of the main and PR flows with a local-directory DVC remote (issue 8).

Main pushes data, models and the run-cache; a pull request in a fresh clone that changes only an
evaluate param pulls what did not change instead of retraining it, and fails until it commits
the results it reproduces.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from repo_tools import sh, tool_env

pytestmark = pytest.mark.e2e


def _pr(clone: Path) -> tuple[int, str, dict, str]:
    """`python -m pipelines.pr` as CI runs it; returns (exit, Markdown, JSON, combined log)."""
    out = subprocess.run([sys.executable, "-m", "pipelines.pr", "--base-ref", "origin/main"],
                         cwd=clone, capture_output=True, text=True, env=tool_env(), timeout=600,
                         check=False)
    md = (clone / "reports" / "pr_report.md").read_text()
    data = json.loads((clone / "reports" / "pr_report.json").read_text())
    return out.returncode, md, data, out.stdout + out.stderr


@pytest.fixture(scope="module")
def flows(main_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Main flow on one copy (remote + `pipelines.remote push`), PR flow on a fresh clone."""
    tmp = tmp_path_factory.mktemp("results")
    origin, storage, clone = tmp / "origin", tmp / "dvc-storage", tmp / "clone"
    shutil.copytree(main_repo, origin, symlinks=True)    # main after its `dvc repro`
    sh([sys.executable, "-m", "dvc", "remote", "add", "-d", "storage", str(storage)], origin)
    sh(["git", "commit", "-qam", "DVC remote"], origin)
    pushed = sh([sys.executable, "-m", "pipelines.remote", "push"], origin)
    sh(["git", "clone", "-q", str(origin), str(clone)], tmp)  # no DVC cache, data or models
    sh(["git", "checkout", "-q", "-b", "fewer-curve-points"], clone)
    params = clone / "params.yaml"
    text = params.read_text()
    assert "  curve_points: 101" in text
    params.write_text(text.replace("  curve_points: 101", "  curve_points: 51", 1))
    sh(["git", "commit", "-qam", "evaluate: fewer curve points (results not committed)"], clone)
    code, md, data, log = _pr(clone)
    main_metrics = json.loads((origin / "reports" / "metrics.json").read_text())
    return {"origin": origin, "storage": storage, "clone": clone, "pushed": pushed.stdout,
            "code": code, "md": md, "data": data, "log": log, "main_metrics": main_metrics}


def test_main_flow_pushes_outputs_and_run_cache(flows: dict) -> None:
    assert flows["pushed"].startswith("remote: dvc push --run-cache to storage")
    assert any((flows["storage"] / "runs").rglob("*")), "no run-cache entries pushed"
    assert any((flows["storage"] / "files").rglob("*")), "no outputs pushed"


def test_pr_flow_pulls_unchanged_train_stage_instead_of_rerunning_it(flows: dict) -> None:
    pipeline, log = flows["data"]["pipeline"], flows["log"]
    assert "pr: pull from DVC remote: remote storage configured with credentials" in log
    assert "Stage 'train' didn't change, skipping" in log
    assert "Running stage 'train'" not in log
    assert pipeline["state"] == "reproduced" and pipeline["pulled"] is True
    assert pipeline["stages_run"] == ["evaluate"]
    # the model evaluate ran on is main's, pulled from the remote: the bytes dvc.lock records
    lock = yaml.safe_load((flows["clone"] / "dvc.lock").read_text())
    (model,) = [o for o in lock["stages"]["train"]["outs"] if o["path"] == "models/pipeline.joblib"]
    pulled = (flows["clone"] / "models" / "pipeline.joblib").read_bytes()
    assert hashlib.md5(pulled).hexdigest() == model["md5"]   # noqa: S324 (DVC's own hash)


def test_pr_flow_report_matches_main_metrics(flows: dict) -> None:
    metrics = {m["name"]: m for m in flows["data"]["metrics"]}
    assert {name: m["head"] for name, m in metrics.items()} == flows["main_metrics"]
    assert {m["change"] for m in metrics.values()} == {"same"}
    assert flows["data"]["params"] == [
        {"key": "evaluate.curve_points", "base": 101, "head": 51, "kind": "changed"}]


def test_uncommitted_results_fail_the_check_with_the_command(flows: dict) -> None:
    data, md = flows["data"], flows["md"]
    assert flows["code"] == 1 and data["verdict"] == "fail"
    # only the results check fails (a warn-only gate may warn on a fork's own data)
    assert all(g["status"] == "pass" or not g["blocking"] for g in data["gates"])
    results = data["results"]
    assert results["state"] == "mismatch" and results["stale_stages"] == ["evaluate"]
    assert results["metrics"] == []                 # the numbers agree; dvc.lock does not
    # the command adds exactly the plots fewer curve points changed: of a classifier's ROC and
    # precision-recall curves (the template's example: precision-recall), of a regressor's
    # predicted-vs-actual sample (a fork's regression task; unchanged on a small test set)
    start = "uv run dvc repro && git add dvc.lock "
    end = " && git commit -m \"Reproduce pipeline results\""
    assert results["command"].startswith(start) and results["command"].endswith(end)
    added = set(results["command"].removeprefix(start).removesuffix(end).split())
    task = json.loads((flows["origin"] / "models" / "model.json").read_text())["task"]
    thinned = {"reports/plots/predicted_vs_actual.json"} if task == "regression" else \
        {"reports/plots/precision_recall.json", "reports/plots/roc.json"}
    changed = {path for path in thinned
               if (flows["clone"] / path).read_bytes() != (flows["origin"] / path).read_bytes()}
    assert added == changed
    assert "### ❌ Committed results are not what this commit reproduces" in md
    assert f"```sh\n{results['command']}\n```" in md


def test_committing_the_reproduced_results_passes_the_check(flows: dict) -> None:
    clone, command = flows["clone"], flows["data"]["results"]["command"]
    # the report's command, verbatim but for `uv run` (this test runs inside the synced venv)
    assert command.startswith("uv run dvc repro && ")
    sh(["bash", "-eo", "pipefail", "-c", command.removeprefix("uv run ")], clone)
    code, md, data, _log = _pr(clone)
    warned = any(g["status"] == "fail" and not g["blocking"] for g in data["gates"])
    assert (code, data["verdict"]) == (0, "warn" if warned else "pass"), md
    assert data["pipeline"]["state"] == "up_to_date"
    assert data["results"]["state"] == "match"
    assert "Committed results" not in md
