"""The report reads params.yaml as DVC writes it: YAML 1.2 scalars, like `gitops_ml.config`."""

from __future__ import annotations

from gitops_ml.report import baseline, rules

PARAMS = "evaluate:\n  positive_class: Yes\ngates:\n  warn_only: [on]\n  floors: {accuracy: 010}\n"


def test_baseline_params_keep_yes_a_string():
    params = baseline._params(PARAMS, "params.yaml")
    assert params["evaluate"]["positive_class"] == "Yes"


def test_baseline_params_read_leading_zero_as_decimal():
    assert baseline._params(PARAMS, "params.yaml")["gates"]["floors"]["accuracy"] == 10


def test_rules_gates_keep_on_a_string():
    assert rules._gates_of(PARAMS)["warn_only"] == ["on"]


def test_lock_inputs_read_yes_params_as_strings():
    lock = "stages:\n  evaluate:\n    cmd: x\n    params:\n      params.yaml:\n        flag: no\n"
    assert baseline.lock_inputs(lock)["evaluate"]["params"] == {"params.yaml": {"flag": "no"}}
