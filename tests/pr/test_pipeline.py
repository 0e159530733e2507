"""The PR pipeline end to end in a temporary git repo: real DVC, real git, the real template."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from prtools import branch, commit, remove_dvc_outputs, run_pr, set_param, sh

from gitops_ml.report.formatting import num

pytestmark = pytest.mark.e2e


# A clearly worse model of the project's own estimator, by the param that regularises it: C of
# a LogisticRegression shrunk a thousandfold (the template), alpha of a Ridge (a regression
# fork's, init's default) grown a millionfold; each with the metric whose gate then fails.
WORSE = {"C": (lambda v: v / 1000, "log_loss", "accuracy"),
         "alpha": (lambda v: v * 1e6, "rmse", "r2")}


@pytest.fixture(scope="module")
def worse_pr(main_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A pull request that regularises the model far too much: retrained once, shared by the
    tests below."""
    model = yaml.safe_load((main_repo / "params.yaml").read_text())["model"]
    params = model.get("params") or {}
    key = next((k for k in WORSE if k in params), None)
    if key is None:
        pytest.skip(f"a worse model needs model.params {' or '.join(WORSE)}; this project's "
                    f"estimator {model['estimator']} has {sorted(params)}")
    change, failing, other = WORSE[key]
    before, after = params[key], change(params[key])
    repo = tmp_path_factory.mktemp("worse") / "repo"
    shutil.copytree(main_repo, repo, symlinks=True)
    branch(repo)
    set_param(repo, rf"^    {key}: .*$", f"    {key}: {after!r}")
    commit(repo, f"{key} {before!r} -> {after!r}")
    code, md, data = run_pr(repo)
    base = json.loads(sh(["git", "show", "main:reports/metrics.json"], repo).stdout)
    head = json.loads((repo / "reports" / "metrics.json").read_text())
    return {"repo": repo, "code": code, "md": md, "data": data, "base": base, "head": head,
            "key": key, "before": before, "after": after, "failing": failing, "other": other}


def _gate(data: dict, key: str) -> dict:
    return next(g for g in data["gates"] if g["key"] == key)


def test_pr_reports_deltas_equal_difference_of_metric_files(worse_pr: dict) -> None:
    metrics = {m["name"]: m for m in worse_pr["data"]["metrics"]}
    assert set(metrics) == set(worse_pr["head"])
    for name, value in worse_pr["head"].items():
        before = worse_pr["base"][name]
        assert metrics[name]["base"] == before
        assert metrics[name]["head"] == value
        assert metrics[name]["abs_delta"] == pytest.approx(value - before, abs=1e-12)
        if before:
            assert metrics[name]["rel_delta"] == pytest.approx((value - before) / abs(before))


def test_pr_reports_only_the_changed_param(worse_pr: dict) -> None:
    key, before, after = worse_pr["key"], worse_pr["before"], worse_pr["after"]
    assert worse_pr["data"]["params"] == [
        {"key": f"model.params.{key}", "base": before, "head": after, "kind": "changed"}]
    assert f"`model.params.{key}` {before} → {after}" in worse_pr["md"]


def test_pr_worse_model_fails_regression_gate_with_nonzero_exit(worse_pr: dict) -> None:
    data, md = worse_pr["data"], worse_pr["md"]
    assert worse_pr["code"] == 1
    assert data["verdict"] == "fail"
    metric = worse_pr["failing"]                      # lower is better: log loss, RMSE
    gate = _gate(data, f"gates.max_regression.{metric}")
    assert gate["status"] == "fail"
    before, after = worse_pr["base"][metric], worse_pr["head"][metric]
    # the project's own limit: the template's 10%, a fork's (init) 0.03 nats or 5% of RMSE
    limit = yaml.safe_load((worse_pr["repo"] / "params.yaml").read_text())[
        "gates"]["max_regression"][metric]
    detail = (f"worse by {(after - before) / before * 100:.1f}%, allowed {limit['rel'] * 100:g}%"
              if "rel" in limit else f"worse by {num(after - before)}, allowed {num(limit['abs'])}")
    assert gate["detail"] == detail
    assert md.startswith("## ❌ Model check failed")
    assert f"**{metric} regression**: {detail}" in md


def test_pr_gate_verdicts_follow_thresholds(worse_pr: dict) -> None:
    data, head, base = worse_pr["data"], worse_pr["head"], worse_pr["base"]
    gates = yaml.safe_load((worse_pr["repo"] / "params.yaml").read_text())["gates"]
    for metric, floor in gates["floors"].items():   # the project's own (a fork's may be none)
        higher_is_better = metric not in ("log_loss", "rmse", "mae")
        met = head[metric] >= floor if higher_is_better else head[metric] <= floor
        assert _gate(data, f"gates.floors.{metric}")["status"] == ("pass" if met else "fail")
    other = worse_pr["other"]                        # higher is better: accuracy, R²
    allowed = gates["max_regression"][other]["abs"]
    assert _gate(data, f"gates.max_regression.{other}")["status"] == \
        ("pass" if base[other] - head[other] <= allowed else "fail")
    assert _gate(data, "gates.onnx_parity")["status"] == "pass"
    assert _gate(data, "gates.data_contract")["status"] == "pass"
    assert _gate(data, "gates.max_slice_gap")["blocking"] is False


def test_pr_reproduces_only_stages_the_param_reaches(worse_pr: dict) -> None:
    pipeline = worse_pr["data"]["pipeline"]
    assert pipeline["state"] == "reproduced"
    # DVC reruns train and what depends on it, never the data stages upstream of model params
    assert pipeline["stages_run"][:3] == ["train", "evaluate", "export"]
    assert not {"ingest", "validate", "split"} & set(pipeline["stages_run"])


def test_pr_unchanged_reports_nothing_to_retrain(repo: Path) -> None:
    branch(repo)
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nA typo fix.\n")
    commit(repo, "docs only")
    code, md, data = run_pr(repo)
    assert code == 0
    assert data["pipeline"]["state"] == "up_to_date"
    assert data["pipeline"]["inputs_unchanged"] is True
    assert {m["change"] for m in data["metrics"]} == {"same"}
    assert data["params"] == []
    assert "**Nothing to retrain:** this pull request changes nothing the pipeline" in md


def test_pr_fresh_checkout_without_dvc_cache_is_up_to_date(repo: Path) -> None:
    branch(repo)
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nMore docs.\n")
    commit(repo, "docs only")
    remove_dvc_outputs(repo)   # what CI sees: git-tracked results, no cached data or models
    code, _md, data = run_pr(repo)
    assert code == 0
    assert data["pipeline"]["state"] == "up_to_date"
    assert not (repo / "models" / "pipeline.joblib").exists()   # nothing was retrained


def test_pr_first_pull_request_applies_floors_only(repo: Path) -> None:
    sh(["git", "checkout", "-q", "-b", "bare"], repo)
    sh(["git", "rm", "-q", "--cached", "reports/metrics.json"], repo)
    sh(["git", "commit", "-q", "-m", "main before any results"], repo)
    branch(repo)
    commit(repo, "first results")
    code, md, data = run_pr(repo, "--base-ref", "bare")
    assert code == 0
    assert data["first_pr"] is True
    statuses = {g["key"]: g["status"] for g in data["gates"]}
    floors = yaml.safe_load((repo / "params.yaml").read_text())["gates"]["floors"]
    assert all(statuses[f"gates.floors.{metric}"] == "pass" for metric in floors)
    regressions = [s for key, s in statuses.items() if key.startswith("gates.max_regression.")]
    assert regressions and set(regressions) == {"skip"}
    assert "**First pull request:** bare has no `reports/metrics.json` yet" in md
    assert "| metric | this PR |" in md


def test_pr_failed_stage_is_named_in_report(repo: Path) -> None:
    # the estimator's first param made negative (C of the template's LogisticRegression)
    params = yaml.safe_load((repo / "params.yaml").read_text())["model"]["params"]
    name = next(iter(params))
    branch(repo)
    set_param(repo, rf"^    {re.escape(name)}: .*$", f"    {name}: -1.0")
    commit(repo, f"invalid {name}")
    code, md, data = run_pr(repo)
    assert code == 1
    assert data["pipeline"]["state"] == "failed"
    assert data["pipeline"]["failed_stage"] == "train"
    assert f"'{name}' parameter" in data["pipeline"]["error"]
    assert md.startswith("## ❌ Pipeline failed at stage `train`")
    assert data["gates"] == []


def test_pr_gate_on_metric_task_lacks_fails_naming_key(repo: Path) -> None:
    # on main: a pull request is judged by its base branch's gates (src/gitops_ml/report/rules.py)
    # a metric of the other kind of task: rmse on a classifier, accuracy on a regressor (a fork)
    produced = json.loads((repo / "reports/metrics.json").read_text())
    lacking = "accuracy" if "rmse" in produced else "rmse"
    set_param(repo, r"^  floors: \{", f"  floors: {{{lacking}: 10, ")
    commit(repo, f"a gate on {lacking}, which this task does not produce")
    branch(repo)
    code, md, data = run_pr(repo, "--no-repro")
    assert code == 1
    gate = next(g for g in data["gates"] if g["key"] == f"gates.floors.{lacking}")
    assert gate["status"] == "error"
    assert gate["detail"].startswith(
        f"gates.floors.{lacking}: this task does not produce {lacking}")
    assert f"`gates.floors.{lacking}`" in md


def test_pr_bad_gates_config_is_reported_with_exit_2(repo: Path) -> None:
    branch(repo)
    set_param(repo, r"^  floors: \{", "  floors: {auc: 0.9, ")
    commit(repo, "typo in a gate")
    code, md, data = run_pr(repo, "--no-repro")
    assert code == 2
    assert data["config_error"].startswith("gates.floors.auc: unknown metric 'auc'")
    assert md.startswith("## 🔒 Rules changed")          # the PR edits gates: (rules.py)
    assert "\n## ❌ Gate config error" in md


def test_pr_unknown_base_ref_exits_2_without_report(repo: Path) -> None:
    code, md, data = run_pr(repo, "--base-ref", "no-such-branch")
    assert (code, md, data) == (2, "", {})
