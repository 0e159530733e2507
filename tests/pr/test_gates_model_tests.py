"""Gates on the model_tests stage: behavioural tests, robustness flip rate, fairness limits."""

from __future__ import annotations

import pytest

from gitops_ml.errors import UserError
from gitops_ml.report import gates

TESTS = {"tests": [
    {"name": "a", "passed": True, "warn_only": False, "failing": 0, "rows": 10},
    {"name": "b", "passed": False, "warn_only": True, "failing": 2, "rows": 10}],
    "robustness": {"flip_rate": 0.03}}
FAIR = {"min_group_size": 30, "columns": {"sex": {"gaps": {
    "equalized_odds_difference": 0.12, "demographic_parity_ratio": 0.85}}}}


def run(section: dict, model_tests=None, fairness=None) -> list[gates.GateResult]:
    cfg = gates.GatesConfig.from_params({"gates": section})
    return gates.evaluate(cfg, head_metrics={}, base_metrics=None, onnx_parity=None,
                          data_validation=None, slices=None, model_tests=model_tests,
                          fairness=fairness)


def test_model_tests_gate_passes_when_only_warn_only_tests_fail():
    [g] = run({"model_tests": True}, TESTS)
    assert (g.status, g.value) == ("pass", "1/2 passed")
    assert g.detail == "b: 2 of 10 failing (warn-only)"


def test_model_tests_gate_fails_on_a_blocking_failure():
    failing = {"tests": [dict(TESTS["tests"][1], warn_only=False)]}
    [g] = run({"model_tests": True}, failing)
    assert g.status == "fail" and g.blocking


def test_model_tests_gate_is_an_error_without_results():
    [g] = run({"model_tests": True}, None)
    assert g.status == "error" and "reports/model_tests.json" in g.detail


def test_flip_rate_gate_compares_with_the_limit():
    assert run({"max_flip_rate": 0.05}, TESTS)[0].status == "pass"
    [g] = run({"max_flip_rate": 0.02}, TESTS)
    assert (g.status, g.value, g.rule) == ("fail", "3%", "≤ 2%")


def test_fairness_limits_block_unless_warn_only():
    section = {"fairness": [{"column": "sex", "metric": "equalized_odds_difference", "max": 0.1},
                            {"column": "sex", "metric": "demographic_parity_ratio", "min": 0.8}]}
    eo, dp = run(section, fairness=FAIR)
    assert (eo.status, eo.blocking, eo.key) == ("fail", True, "gates.fairness[0]")
    assert eo.detail == "0.1200 is above 0.1000"
    assert (dp.status, dp.rule) == ("pass", "≥ 0.8000")
    [warned] = run({**section, "fairness": section["fairness"][:1], "warn_only": ["fairness"]},
                   fairness=FAIR)
    assert (warned.status, warned.blocking) == ("fail", False)


def test_fairness_gate_on_a_column_not_assessed_names_it():
    [g] = run({"fairness": [{"column": "age", "metric": "equalized_odds_difference",
                             "max": 0.1}]}, fairness=FAIR)
    assert g.status == "error"
    assert g.detail == ("gates.fairness[0].column: 'age' is not assessed (evaluate.protected "
                        "lists sex)")


def test_fairness_gate_with_too_few_judged_groups_is_an_error_not_a_pass():
    report = {"min_group_size": 30, "columns": {"sex": {"gaps": {
        "equalized_odds_difference": None}}}}
    [g] = run({"fairness": [{"column": "sex", "metric": "equalized_odds_difference",
                             "max": 0.1}]}, fairness=report)
    assert g.status == "error" and "fewer than two groups" in g.detail


@pytest.mark.parametrize(("section", "message"), [
    ({"fairness": {"column": "sex"}}, "gates.fairness: expected a list, got"),
    ({"fairness": [{"column": "sex", "metric": "equalized_odds_difference", "max": 0.1,
                    "colour": 1}]},
     "gates.fairness[0].colour: unknown key; did you mean gates.fairness[0].column?"),
    ({"fairness": [{"metric": "equalized_odds_difference", "max": 0.1}]},
     "gates.fairness[0].column: required but missing"),
    ({"fairness": [{"column": "sex", "metric": "eo", "max": 0.1}]},
     "gates.fairness[0].metric: unknown fairness metric 'eo'"),
    ({"fairness": [{"column": "sex", "metric": "demographic_parity_ratio", "max": 0.8}]},
     "gates.fairness[0].max: demographic_parity_ratio is bounded by min, not max"),
    ({"fairness": [{"column": "sex", "metric": "equalized_odds_difference"}]},
     "gates.fairness[0].max: required but missing"),
    ({"max_flip_rate": 2}, "gates.max_flip_rate: must be in [0.0, 1.0], got 2.0"),
    ({"model_tests": "yes"}, "gates.model_tests: expected true or false"),
])
def test_gates_config_names_the_bad_fairness_or_robustness_key(section, message):
    with pytest.raises(UserError) as info:
        gates.GatesConfig.from_params({"gates": section})
    assert str(info.value).startswith(message)
