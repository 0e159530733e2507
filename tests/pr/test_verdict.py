"""pipelines.verdict: the required check is judged by the default branch's rules, never by what
the pull request's report claims."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_ml.report.gates import GatesConfig
from pipelines import comment, verdict

SHA = "c" * 40
GATES = GatesConfig.from_params({"gates": {
    "floors": {"roc_auc": 0.95},
    "max_regression": {"roc_auc": {"abs": 0.02}},
    "onnx_parity": True}})
BASE = {"roc_auc": 0.97}


def _report(**overrides) -> dict:
    data = {"schema": comment.SCHEMA, "verdict": "pass", "first_pr": False,
            "base": {"ref": "main", "sha": "a" * 40}, "head": {"sha": SHA},
            "pipeline": {"state": "reproduced"},
            "metrics": [{"name": "roc_auc", "base": 0.97, "head": 0.971, "abs_delta": 0.001,
                         "rel_delta": 0.001}],
            "params": [],
            "gates": [{"gate": "ONNX parity", "key": "gates.onnx_parity", "rule": "r",
                       "value": "v", "detail": "", "status": "pass", "blocking": True}]}
    return data | overrides


def _metric(head: float) -> list[dict]:
    return [{"name": "roc_auc", "base": 0.97, "head": head, "abs_delta": head - 0.97,
             "rel_delta": None}]


def test_verdict_passes_a_report_that_meets_the_default_branch_gates():
    judged = verdict.judge(_report(), GATES, BASE, "success")
    assert judged.state == "success"


def test_verdict_fails_a_report_claiming_pass_with_a_metric_below_the_floor():
    # a PR that edited pipelines/ to write "pass" (and gates that agree) whatever the numbers
    hostile = _report(metrics=_metric(0.90), gates=[
        {"gate": "roc_auc floor", "key": "gates.floors.roc_auc", "rule": "≥ 0.5", "value": "0.9",
         "detail": "", "status": "pass", "blocking": True},
        {"gate": "ONNX parity", "key": "gates.onnx_parity", "rule": "r", "value": "v",
         "detail": "", "status": "pass", "blocking": True}])
    judged = verdict.judge(hostile, GATES, BASE, "success")
    assert judged.state == "failure"
    assert "gates.floors.roc_auc fails" in judged.description


def test_verdict_fails_a_regression_measured_against_the_default_branch_metrics():
    # above the floor, but 0.03 below main's committed 0.99; the report's own base is ignored
    judged = verdict.judge(_report(metrics=_metric(0.96)), GATES, {"roc_auc": 0.99}, "success")
    assert judged.state == "failure"
    assert "gates.max_regression.roc_auc fails" in judged.description


def test_verdict_fails_when_a_configured_gate_is_missing_from_the_report():
    judged = verdict.judge(_report(gates=[]), GATES, BASE, "success")
    assert judged.state == "failure"
    assert judged.description == "Failed: gates.onnx_parity missing from the report"


def test_verdict_fails_a_reported_gate_failure_whatever_the_report_verdict():
    gates = [{"gate": "ONNX parity", "key": "gates.onnx_parity", "rule": "r", "value": "v",
              "detail": "", "status": "fail", "blocking": False}]   # claims warn-only
    judged = verdict.judge(_report(gates=gates), GATES, BASE, "success")
    assert judged.state == "failure" and "gates.onnx_parity fails" in judged.description


def test_verdict_fails_a_gate_whose_failure_a_duplicate_pass_tries_to_mask():
    parity = {"gate": "ONNX parity", "key": "gates.onnx_parity", "rule": "r", "value": "v",
              "detail": ""}
    gates = [{**parity, "status": "fail", "blocking": True},
             {**parity, "status": "pass", "blocking": True}]
    assert verdict.judge(_report(gates=gates), GATES, BASE, "success").state == "failure"


def test_verdict_honours_the_default_branch_warn_only_not_the_report():
    cfg = GatesConfig.from_params({"gates": {"onnx_parity": True, "warn_only": ["onnx_parity"]}})
    gates = [{"gate": "ONNX parity", "key": "gates.onnx_parity", "rule": "r", "value": "v",
              "detail": "", "status": "fail", "blocking": False}]
    assert verdict.judge(_report(gates=gates), cfg, BASE, "success").state == "success"


@pytest.mark.parametrize(("overrides", "conclusion", "why"), [
    ({"verdict": "fail"}, "success", "the report's verdict is fail"),
    ({"pipeline": {"state": "failed"}}, "success", "the pipeline failed"),
    ({"results": {"state": "mismatch"}}, "success", "committed results are not what"),
    ({}, "failure", "the PR run's conclusion is 'failure'"),
])
def test_verdict_never_passes_what_the_report_or_the_run_failed(overrides, conclusion, why):
    judged = verdict.judge(_report(**overrides), GATES, BASE, conclusion)
    assert judged.state == "failure" and why in judged.description


def test_verdict_description_fits_a_commit_status():
    many = GatesConfig.from_params({"gates": {"floors": {m: 0.99 for m in (
        "roc_auc", "accuracy", "f1", "precision", "recall", "balanced_accuracy")}}})
    metrics = [{"name": m, "base": None, "head": 0.5, "abs_delta": None, "rel_delta": None}
               for m in ("roc_auc", "accuracy", "f1", "precision", "recall", "balanced_accuracy")]
    out = verdict.judge(_report(metrics=metrics), many, None, "success").outputs()
    assert out["state"] == "failure" and len(out["description"]) == verdict.MAX_DESCRIPTION


def _artifact(tmp_path: Path, data: dict) -> Path:
    folder = tmp_path / "artifact"
    folder.mkdir()
    (folder / "pr_report.json").write_text(json.dumps(data))
    return folder


def _params(tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text("gates:\n  floors:\n    roc_auc: 0.95\n")
    return path


def test_verdict_refuses_a_report_for_another_commit(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    folder = _artifact(tmp_path, _report(head={"sha": "d" * 40}))
    assert verdict.main(["--artifact", str(folder), "--head-sha", SHA, "--run-conclusion",
                         "success", "--params", str(_params(tmp_path)),
                         "--base-metrics", str(tmp_path / "none.json")]) == 1
    captured = capsys.readouterr()
    assert "head.sha: the report is for ddddddd" in captured.err
    assert captured.out.startswith("state=error\n")


def test_verdict_main_writes_the_state_for_the_status(tmp_path, monkeypatch):
    output = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    folder = _artifact(tmp_path, _report(gates=[], metrics=_metric(0.5)))
    assert verdict.main(["--artifact", str(folder), "--head-sha", SHA, "--run-conclusion",
                         "success", "--params", str(_params(tmp_path)),
                         "--base-metrics", str(tmp_path / "none.json")]) == 0
    assert output.read_text() == "state=failure\ndescription=Failed: gates.floors.roc_auc fails\n"


def test_verdict_names_the_broken_rules_file(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    bad = tmp_path / "params.yaml"
    bad.write_text("gates:\n  floors:\n    roc_auc: high\n")
    assert verdict.main(["--artifact", str(tmp_path), "--head-sha", SHA, "--run-conclusion",
                         "success", "--params", str(bad)]) == 1
    assert "gates.floors.roc_auc" in capsys.readouterr().err


def test_verdict_takes_the_baseline_path_from_dvc_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # the default branch's checkout: paths are relative to it
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  evaluate:\n    cmd: gitops-ml evaluate --metrics out/m.json\n"
        "    metrics:\n      - out/m.json\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "m.json").write_text('{"roc_auc": 0.999}')
    output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    params = tmp_path / "p.yaml"
    params.write_text("gates:\n  max_regression:\n    roc_auc: {abs: 0.01}\n")
    folder = _artifact(tmp_path, _report(gates=[]))
    assert verdict.main(["--artifact", str(folder), "--head-sha", SHA, "--run-conclusion",
                         "success", "--params", str(params),
                         "--dvc-yaml", str(tmp_path / "dvc.yaml")]) == 0
    # 0.971 against the baseline read from out/m.json (0.999): a regression of 0.028
    assert "state=failure" in output.read_text()
    assert "gates.max_regression.roc_auc fails" in output.read_text()
