"""The same-row comparison in the untrusted path: the comment validates and renders it, the
trusted verdict re-judges its intervals under the default branch's rules, and both decide red
or green by the same rule as the report (`GateResult.blocks_merge`)."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import pytest

from gitops_ml.report.gates import GateResult, GatesConfig
from pipelines import comment, verdict

TEMPLATE = (Path(__file__).resolve().parents[2] / "pipelines" / "pr_comment.md").read_text()
SHA = "c" * 40
BASE = {"log_loss": 0.0773}


def _gates(rule: str = "shown_worse", confidence: float = 0.95) -> GatesConfig:
    return GatesConfig.from_params({"gates": {
        "max_regression": {"log_loss": {"rel": 0.10, "rule": rule}},
        "confidence": confidence, "bootstrap": 1000}})


def _estimate(base: float, head: float, low: float, high: float) -> dict:
    return {"metric": "log_loss", "base": base, "head": head, "delta": head - base,
            "base_interval": {"low": base - 0.03, "high": base + 0.03},
            "head_interval": {"low": head - 0.03, "high": head + 0.03},
            "delta_interval": {"low": low, "high": high}, "word": "no detectable change"}


def _report(estimate: dict | None = None, **overrides) -> dict:
    # log_loss +22.7% on the committed point values, as the seed-only pull request of #23
    same = None if estimate is None else {
        "comparisons": [{"rows_label": "the PR's test split", "rows": 114, "left_out": 0,
                         "seed": 42, "resamples": 1000, "confidence": 0.95,
                         "metrics": [estimate], "gates": [], "deciding": None,
                         "flips": {"rows": 114, "unchanged": 111, "newly_wrong": 2,
                                   "newly_right": 1, "still_wrong": 0, "mcnemar_p": 1.0,
                                   "changed": 3},
                         "differences": None}],
        "skipped": [], "source": "the DVC cache", "problem": None}
    data = {"schema": comment.SCHEMA, "verdict": "pass", "first_pr": False,
            "base": {"ref": "main", "sha": "a" * 40}, "head": {"sha": SHA},
            "pipeline": {"state": "reproduced"},
            "metrics": [{"name": "log_loss", "base": 0.0773, "head": 0.0948,
                         "abs_delta": 0.0175, "rel_delta": 0.227}],
            "params": [], "gates": [], "same_rows": same}
    return data | overrides


@pytest.mark.parametrize(("status", "blocking", "judged_by"), list(itertools.product(
    ("pass", "fail", "inconclusive", "skip", "error"), (True, False),
    ("", "shown_worse", "non_inferiority"))))
def test_comment_blocks_merge_agrees_with_the_gate_result(status, blocking, judged_by):
    gate = GateResult("g", "gates.x", "r", "v", status, blocking, "", judged_by)
    assert comment.blocks_merge(gate.as_dict()) is gate.blocks_merge


def test_verdict_passes_noise_the_point_values_would_fail():
    judged = verdict.judge(_report(_estimate(0.0773, 0.0948, -0.004, 0.041)), _gates(), BASE,
                           "success")
    assert judged.state == "success", judged.description


def test_verdict_without_intervals_judges_the_point_values():
    judged = verdict.judge(_report(), _gates(), BASE, "success")
    assert judged.state == "failure"
    assert "gates.max_regression.log_loss fails" in judged.description


def test_verdict_fails_an_interval_wholly_beyond_the_limit():
    judged = verdict.judge(_report(_estimate(0.0773, 0.377, 0.24, 0.35)), _gates(), BASE,
                           "success")
    assert judged.description == "Failed: gates.max_regression.log_loss fails"


def test_verdict_non_inferiority_blocks_an_inconclusive_interval():
    judged = verdict.judge(_report(_estimate(0.0773, 0.0948, -0.004, 0.041)),
                           _gates("non_inferiority"), BASE, "success")
    assert judged.description == "Failed: gates.max_regression.log_loss is inconclusive"


def test_verdict_ignores_intervals_at_another_confidence_than_its_rules():
    # a report computed at 50% would show narrower intervals; the verdict does not take them
    judged = verdict.judge(_report(_estimate(0.0773, 0.0948, -0.004, 0.041)),
                           _gates(confidence=0.99), BASE, "success")
    assert judged.state == "failure"


def test_verdict_ignores_intervals_that_do_not_hang_together():
    bad = _estimate(0.0773, 0.0948, 0.041, -0.004)          # low above high
    assert verdict.estimates(_report(bad), _gates()) is None


def test_verdict_judges_a_floor_on_the_prs_own_split_when_rows_were_left_out():
    # a moved split: 23 rows left for the paired comparison, where the ceiling is not shown
    # met; on the PR's whole test split (`own`) it is
    report = _report(_estimate(0.0773, 0.0948, -0.004, 0.041))
    cfg = GatesConfig.from_params({"gates": {"floors": {"log_loss": 0.2}}})
    assert verdict.judge(report, cfg, BASE, "success").state == "success"   # [0.0648, 0.1248]
    wide = copy.deepcopy(report)
    wide["same_rows"]["comparisons"][0]["metrics"][0]["head_interval"] = {"low": 0.05,
                                                                         "high": 0.25}
    assert verdict.judge(wide, cfg, BASE, "success").description == (
        "Failed: gates.floors.log_loss is inconclusive")
    wide["same_rows"]["own"] = copy.deepcopy(report["same_rows"]["comparisons"][0]) | {
        "rows": 114}
    assert verdict.judge(wide, cfg, BASE, "success").state == "success"


def test_comment_accepts_inconclusive_and_renders_the_same_row_table():
    report = _report(_estimate(0.0773, 0.0948, -0.004, 0.041), gates=[
        {"gate": "log_loss regression", "key": "gates.max_regression.log_loss", "rule": "r",
         "value": "v", "detail": "d", "status": "inconclusive", "blocking": True,
         "judged_by": "shown_worse"}])
    comment.validate_report(report)
    body = comment.render(report, TEMPLATE, "", SHA)
    assert body.startswith("## ✅ Model check passed")
    assert "inconclusive (not shown worse): `log_loss regression`" in body
    assert "| `log_loss` | 0.0773 | 0.0948 | +0.0175 [-0.0040, +0.0410] | no detectable change |" \
        in body
    assert "3 rows: 2 correct → wrong, 1 wrong → correct (McNemar's exact p = 1)" in body
    assert "Base model from `the DVC cache`." in body


def test_comment_names_an_inconclusive_non_inferiority_gate_as_blocking():
    report = _report(verdict="fail", gates=[
        {"gate": "log_loss regression", "key": "gates.max_regression.log_loss", "rule": "r",
         "value": "v", "detail": "d", "status": "inconclusive", "blocking": True,
         "judged_by": "non_inferiority"}])
    body = comment.render(comment.validate_report(report), TEMPLATE, "", SHA)
    assert "**Verdict:** blocked by `log_loss regression`." in body


@pytest.mark.parametrize(("path", "value", "message"), [
    (("gates",), [{"gate": "g", "key": "k", "rule": "r", "value": "v", "detail": "",
                   "status": "pass", "blocking": True, "judged_by": "lenient"}],
     "gates[].judged_by"),
    (("same_rows", "comparisons", 0, "metrics", 0, "word"), "**great**",
     "same_rows.comparisons[].metrics[].word"),
    (("same_rows", "comparisons", 0, "metrics", 0, "delta_interval"), {"low": "x"},
     "same_rows.comparisons[].metrics[].delta_interval"),
    (("same_rows", "comparisons", 0, "rows"), True, "same_rows.comparisons[].rows"),
])
def test_comment_rejects_a_malformed_same_row_report_naming_the_key(path, value, message):
    report = copy.deepcopy(_report(_estimate(0.0773, 0.0948, -0.004, 0.041)))
    target = report
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(comment.Rejected, match=message.replace("[", r"\[").replace("]", r"\]")):
        comment.validate_report(report)


def test_comment_keeps_a_hostile_rows_label_in_a_code_span():
    report = _report(_estimate(0.0773, 0.0948, -0.004, 0.041))
    report["same_rows"]["comparisons"][0]["rows_label"] = "[x](https://evil.example) @org"
    body = comment.render(comment.validate_report(report), TEMPLATE, "", SHA)
    assert "**Both models on `[x](https://evil.example) @org`**" in body
