"""Gates: `gates:` through its one loader (errors name the key) and evaluating each gate."""

from __future__ import annotations

import re

import pytest

from gitops_ml.errors import UserError
from gitops_ml.report.gates import Floor, GatesConfig, MaxRegression, SliceGap, evaluate

HEAD = {"roc_auc": 0.98, "accuracy": 0.93, "log_loss": 0.12}
BASE = {"roc_auc": 0.99, "accuracy": 0.95, "log_loss": 0.10}


def _run(cfg: GatesConfig, head: dict | None = None, base: dict | None = BASE, **kw) -> dict:
    kw = {"onnx_parity": None, "data_validation": None, "slices": None} | kw
    return {r.key: r for r in evaluate(cfg, head_metrics=head or HEAD, base_metrics=base, **kw)}


def test_gates_config_reads_every_group() -> None:
    cfg = GatesConfig.from_params({"gates": {
        "floors": {"roc_auc": 0.95, "log_loss": 0.3},
        "max_regression": {"roc_auc": {"abs": 0.01}, "log_loss": {"rel": 0.1}},
        "onnx_parity": True, "data_contract": True,
        "max_slice_gap": {"metric": "accuracy", "column": "age", "max": 0.2},
        "warn_only": ["max_slice_gap"]}})
    assert cfg.floors == (Floor("roc_auc", 0.95), Floor("log_loss", 0.3))
    assert cfg.max_regression == (MaxRegression("roc_auc", abs=0.01),
                                  MaxRegression("log_loss", rel=0.1))
    assert cfg.onnx_parity and cfg.data_contract
    assert cfg.max_slice_gap == SliceGap("accuracy", "age", 0.2)
    assert cfg.warn_only == {"max_slice_gap"}


def test_gates_config_missing_section_means_no_gates() -> None:
    assert GatesConfig.from_params({"model": {}}) == GatesConfig()


@pytest.mark.parametrize(("gates", "message"), [
    ({"floors": {"auc": 0.9}}, "gates.floors.auc: unknown metric 'auc'"),
    ({"floors": {"roc_auc": "high"}}, "gates.floors.roc_auc: expected a number, got 'high'"),
    ({"max_regression": {"roc_auc": {"pct": 1}}}, "gates.max_regression.roc_auc.pct: unknown"),
    ({"max_regression": {"roc_auc": {}}}, "gates.max_regression.roc_auc: give abs and/or rel"),
    ({"max_regression": {"roc_auc": {"abs": -1}}}, "gates.max_regression.roc_auc.abs: must be"),
    ({"onnx_parity": "yes"}, "gates.onnx_parity: expected true or false"),
    ({"max_slice_gap": {"metric": "accuracy", "max": 0.1}}, "gates.max_slice_gap.column: requ"),
    ({"warn_only": ["floor"]}, "gates.warn_only[0]: unknown gate 'floor'"),
    ({"flooors": {}}, "gates.flooors: unknown key; did you mean gates.floors?"),
])
def test_gates_config_error_names_the_key(gates: dict, message: str) -> None:
    with pytest.raises(UserError, match="^" + re.escape(message)):
        GatesConfig.from_params({"gates": gates})


def test_gates_floor_is_a_ceiling_for_lower_is_better_metrics() -> None:
    res = _run(GatesConfig(floors=(Floor("log_loss", 0.11), Floor("roc_auc", 0.97))))
    assert res["gates.floors.log_loss"].status == "fail"
    assert res["gates.floors.log_loss"].gate == "log_loss ceiling"
    assert res["gates.floors.log_loss"].detail == "0.1200 is above 0.1100 by 0.0100"
    assert res["gates.floors.roc_auc"].status == "pass"


def test_gates_floor_on_metric_the_task_lacks_is_a_blocking_error() -> None:
    res = _run(GatesConfig(floors=(Floor("rmse", 5.0),), warn_only=frozenset({"floors"})))
    gate = res["gates.floors.rmse"]
    assert (gate.status, gate.blocking) == ("error", True)
    assert gate.detail.startswith("gates.floors.rmse: this task does not produce rmse")


def test_gates_regression_is_direction_aware() -> None:
    res = _run(GatesConfig(max_regression=(
        MaxRegression("roc_auc", abs=0.02), MaxRegression("accuracy", abs=0.01),
        MaxRegression("log_loss", rel=0.1))))
    assert res["gates.max_regression.roc_auc"].status == "pass"        # −0.01, allowed 0.02
    assert res["gates.max_regression.accuracy"].status == "fail"       # −0.02, allowed 0.01
    assert res["gates.max_regression.accuracy"].detail == "worse by 0.0200, allowed 0.0100"
    assert res["gates.max_regression.log_loss"].status == "fail"       # +20%, allowed 10%
    assert res["gates.max_regression.log_loss"].detail == "worse by 20.0%, allowed 10%"


def test_gates_regression_passes_when_lower_is_better_metric_drops() -> None:
    res = _run(GatesConfig(max_regression=(MaxRegression("log_loss", abs=0.0),)),
               head={"log_loss": 0.05}, base={"log_loss": 0.10})
    assert res["gates.max_regression.log_loss"].status == "pass"


def test_gates_regression_skips_without_baseline() -> None:
    res = _run(GatesConfig(max_regression=(MaxRegression("roc_auc", abs=0.01),)), base=None)
    assert res["gates.max_regression.roc_auc"].status == "skip"
    assert "first pull request" in res["gates.max_regression.roc_auc"].detail


def test_gates_parity_and_contract_read_their_reports() -> None:
    res = _run(GatesConfig(onnx_parity=True, data_contract=True),
               onnx_parity={"passed": False, "max_abs_diff": 0.2, "label_agreement": 0.9,
                            "tolerance": {"max_abs_diff": 0.001, "min_label_agreement": 1.0}},
               data_validation={"passed": False, "failed_checks": 1, "failures": [
                   {"column": "age", "check": "in_range", "failing": 3}]})
    assert res["gates.onnx_parity"].status == "fail"
    assert res["gates.onnx_parity"].value == "0.2000, 90%"
    assert res["gates.data_contract"].status == "fail"
    assert res["gates.data_contract"].detail == "age: in_range (3 rows)"


def test_gates_contract_names_the_columns_a_table_wide_check_failed_on() -> None:
    # pandera's column_in_dataframe / column_in_schema fail on columns, not rows; and when the
    # pull request changes contract.yaml, the data is judged by main's, which the detail says
    res = _run(GatesConfig(data_contract=True), data_validation={
        "passed": False, "failed_checks": 2, "contract": "base", "failures": [
            {"column": None, "check": "column_in_dataframe", "failing": 31,
             "examples": ["mean_radius", "mean_texture", "mean_area", "mean_smoothness"]},
            {"column": None, "check": "column_in_schema", "failing": 1,
             "examples": ["payor_group"]}]})
    assert res["gates.data_contract"].detail == (
        "judged by main's contract (this pull request changes it): 31 column(s) of the contract "
        "missing from the data (e.g. mean_radius, mean_texture, mean_area); 1 column(s) of the "
        "data not in the contract (e.g. payor_group)")


def test_gates_missing_parity_report_is_an_error() -> None:
    assert _run(GatesConfig(onnx_parity=True))["gates.onnx_parity"].status == "error"


def test_gates_slice_gap_warns_when_warn_only() -> None:
    slices = {"age": [{"slice": "a", "n": 5, "accuracy": 1.0},
                      {"slice": "b", "n": 5, "accuracy": 0.7}]}
    res = _run(GatesConfig(max_slice_gap=SliceGap("accuracy", "age", 0.2),
                           warn_only=frozenset({"max_slice_gap"})), slices=slices)
    gate = res["gates.max_slice_gap"]
    assert (gate.status, gate.blocking, gate.value) == ("fail", False, "0.3000")


def test_gates_slice_gap_on_unsliced_column_names_the_key() -> None:
    res = _run(GatesConfig(max_slice_gap=SliceGap("accuracy", "height", 0.2)),
               slices={"age": []})
    assert res["gates.max_slice_gap"].detail.startswith("gates.max_slice_gap.column: no slices")
