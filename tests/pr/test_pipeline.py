"""The PR pipeline end to end in a temporary git repo: real DVC, real git, the real template."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from prtools import branch, commit, remove_dvc_outputs, run_pr, set_param, sh, tool_env

from gitops_ml.report.formatting import num, signed

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


def _estimates(data: dict) -> dict[str, dict]:
    """The same-row estimates on the PR's test split, by metric."""
    first = data["same_rows"]["comparisons"][0]
    assert first["rows_label"] == "the PR's test split"
    return {m["metric"]: m for m in first["metrics"]}


def test_pr_worse_model_fails_regression_gate_with_the_interval_in_the_reason(
        worse_pr: dict) -> None:
    data, md = worse_pr["data"], worse_pr["md"]
    assert worse_pr["code"] == 1
    assert data["verdict"] == "fail"
    metric = worse_pr["failing"]                      # lower is better: log loss, RMSE
    gate = _gate(data, f"gates.max_regression.{metric}")
    assert gate["status"] == "fail"
    assert gate["judged_by"] == "shown_worse"
    est = _estimates(data)[metric]
    low, high = est["delta_interval"]["low"], est["delta_interval"]["high"]
    # the project's own limit: the template's 10%, a fork's (init) 0.03 nats or 5% of RMSE
    limit = yaml.safe_load((worse_pr["repo"] / "params.yaml").read_text())[
        "gates"]["max_regression"][metric]
    allowed = min([limit["abs"]] if "abs" in limit else []
                  + ([limit["rel"] * est["base"]] if "rel" in limit else []))
    assert low > allowed            # worse beyond the limit across the whole interval
    interval = f"[{signed(low)}, {signed(high)}]"
    assert gate["detail"] == (f"worse by more than {num(allowed)} across the whole 95% "
                              f"interval {interval}")
    assert md.startswith("## ❌ Model check failed")
    assert f"**{metric} regression**: {gate['detail']}" in md
    assert f"| {metric} | {num(est['base'])} | {num(est['head'])} | {signed(est['delta'])} " \
           f"{interval} | worse |" in md


def test_pr_gate_verdicts_follow_the_intervals(worse_pr: dict) -> None:
    data = worse_pr["data"]
    estimates = _estimates(data)
    gates = yaml.safe_load((worse_pr["repo"] / "params.yaml").read_text())["gates"]
    for metric, floor in gates["floors"].items():   # the project's own (a fork's may be none)
        sign = -1 if metric in ("log_loss", "rmse", "mae") else 1
        interval = estimates[metric]["head_interval"]
        good = sorted((sign * interval["low"], sign * interval["high"]))
        bound = sign * (floor["bound"] if isinstance(floor, dict) else floor)
        expected = "pass" if good[0] >= bound else "fail" if good[1] < bound else "inconclusive"
        assert _gate(data, f"gates.floors.{metric}")["status"] == expected
    other = worse_pr["other"]                        # higher is better: accuracy, R²
    allowed = gates["max_regression"][other]["abs"]
    delta = estimates[other]["delta_interval"]
    expected = "pass" if delta["low"] >= -allowed else "fail" if delta["high"] < -allowed \
        else "inconclusive"
    assert _gate(data, f"gates.max_regression.{other}")["status"] == expected
    assert _gate(data, "gates.onnx_parity")["status"] == "pass"
    assert _gate(data, "gates.data_contract")["status"] == "pass"
    assert _gate(data, "gates.max_slice_gap")["blocking"] is False


def test_pr_worse_model_is_compared_on_the_same_rows_from_the_dvc_cache(worse_pr: dict) -> None:
    same = worse_pr["data"]["same_rows"]
    assert same["problem"] is None and same["skipped"] == []
    assert same["source"] == "the DVC cache"
    [only] = same["comparisons"]                    # the data did not change: one set of rows
    test_rows = len(pd.read_parquet(worse_pr["repo"] / "data" / "test.parquet"))
    assert (only["rows"], only["left_out"]) == (test_rows, 0)   # the split did not move
    if only["flips"] is not None:                   # classification: more rows went wrong
        assert only["flips"]["newly_wrong"] > only["flips"]["newly_right"]
    else:                                           # regression (a fork): predictions moved
        assert only["differences"]["changed"] > 0
    assert "Both models on the PR's test split" in worse_pr["md"]


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


@pytest.fixture(scope="module")
def seed_pr(main_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A pull request that changes only the seed, results reproduced and committed with it, run
    as a fork's job would be: a fresh checkout (no DVC cache, no outputs, the `dvc add` data
    brought in) and no remote, so nothing is stale, this PR's model is reproduced in the
    checkout and the merge-base in a worktree."""
    repo = tmp_path_factory.mktemp("seed") / "repo"
    shutil.copytree(main_repo, repo, symlinks=True)
    branch(repo)
    set_param(repo, r"^seed: \d+", "seed: 1")
    sh([sys.executable, "-m", "dvc", "repro", "--quiet"], repo)
    commit(repo, "another seed, results reproduced")
    remove_dvc_outputs(repo)
    code, md, data = run_pr(repo)
    return {"repo": repo, "code": code, "md": md, "data": data}


def test_pr_only_the_seed_changed_shows_no_detectable_change_and_passes(seed_pr: dict) -> None:
    data = seed_pr["data"]
    assert seed_pr["code"] == 0, seed_pr["md"]
    assert data["verdict"] in ("pass", "warn")
    assert data["pipeline"]["state"] == "up_to_date"  # the committed results are this commit's
    [only] = data["same_rows"]["comparisons"]        # same data, another split
    # noise, not harm: on the template's data no detectable change at all (test_same_rows.py);
    # on a large table a refit may differ detectably, never by more than a limit allows
    for m in only["metrics"]:
        gate = [g for g in data["gates"] if g["key"] == f"gates.max_regression.{m['metric']}"]
        assert m["word"] == "no detectable change" or [g["status"] for g in gate] in (
            [], ["pass"]), m
    assert only["left_out"] > 0                      # rows in the base model's training split
    # the floors judge the PR's model on its whole test split, not only the rows left
    own = data["same_rows"]["own"]
    assert own["rows"] == only["rows"] + only["left_out"]
    assert f"The floors judge this PR's model alone on all {own['rows']:,} rows of its test " \
           "split" in seed_pr["md"]
    test_rows = len(pd.read_parquet(seed_pr["repo"] / "data" / "test.parquet"))
    assert only["rows"] + only["left_out"] == test_rows
    assert not [g for g in data["gates"] if g["blocks_merge"]]
    assert f"{only['left_out']:,} rows left out: a model trained on them; " \
           f"{only['rows']:,} remained" in seed_pr["md"]


def test_pr_without_the_base_model_cached_reproduces_the_merge_base(seed_pr: dict) -> None:
    source = seed_pr["data"]["same_rows"]["source"]
    assert source.startswith("a reproduction of the merge-base in a separate worktree")
    assert f"Base model from {source}" in seed_pr["md"]
    worktrees = sh(["git", "worktree", "list"], seed_pr["repo"]).stdout.splitlines()
    assert len(worktrees) == 1                       # the temporary worktree is removed


def test_pr_job_summary_holds_the_same_row_table(seed_pr: dict, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import pr

    summary = tmp_path / "step_summary.md"
    monkeypatch.chdir(seed_pr["repo"])
    with tool_env():
        os.environ["GITHUB_STEP_SUMMARY"] = str(summary)
        pr.main(["--base-ref", "main", "--no-repro"])
    text = summary.read_text()
    [only] = seed_pr["data"]["same_rows"]["comparisons"]
    assert "**Both models on the PR's test split**" in text
    assert "| Metric | Base | PR | Δ (95% interval) | |" in text
    if only["flips"] is not None:                    # classification
        assert f"Predictions changed on {only['flips']['changed']:,} of {only['rows']:,} " \
               "rows" in text
    else:                                            # regression (a fork)
        assert f"Predictions moved on {only['differences']['changed']:,} of " \
               f"{only['rows']:,} rows" in text
