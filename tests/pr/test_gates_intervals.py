"""Metric gates judged on intervals: noise is not harm, each rule says when it fails."""

from __future__ import annotations

import numpy as np
import pytest

from gitops_ml import config
from gitops_ml.report import uncertainty
from gitops_ml.report.gates import Floor, GatesConfig, MaxRegression, evaluate, judge
from gitops_ml.report.uncertainty import Estimate, Interval


def _est(metric: str, base: float, head: float, delta: tuple[float, float],
         head_interval: tuple[float, float] = (0.0, 1.0)) -> Estimate:
    return Estimate(metric, base, head, Interval(0.0, 1.0), Interval(*head_interval),
                    Interval(*delta))


def _gate(cfg: GatesConfig, *estimates: Estimate):
    (result,) = evaluate(cfg, head_metrics={}, base_metrics={}, onnx_parity=None,
                         data_validation=None, slices=None,
                         estimates={e.metric: e for e in estimates})
    return result


@pytest.mark.parametrize(("low", "high", "status"), [
    (-0.005, 0.02, "pass"), (-0.01, 0.02, "pass"),           # at the limit counts as within
    (-0.03, -0.011, "fail"), (-0.02, 0.01, "inconclusive")])
def test_judge_compares_the_whole_interval_with_the_limit(low, high, status) -> None:
    assert judge(low, high, -0.01, "shown_worse") == status
    assert judge(low, high, -0.01, "non_inferiority") == status


def test_judge_rejects_an_unknown_rule() -> None:
    with pytest.raises(ValueError, match="unknown rule 'superiority'"):
        judge(0, 1, 0, "superiority")


def test_regression_shown_worse_fails_only_when_the_whole_interval_is_beyond_the_drop() -> None:
    cfg = GatesConfig(max_regression=(MaxRegression("accuracy", abs=0.01),))
    failed = _gate(cfg, _est("accuracy", 0.95, 0.90, (-0.08, -0.02)))
    assert (failed.status, failed.blocks_merge) == ("fail", True)
    assert failed.value == "Δ −0.0500 [−0.0800, −0.0200]"
    assert failed.detail == ("worse by more than 0.0100 across the whole 95% interval "
                             "[−0.0800, −0.0200]")
    assert failed.rule == "≥ main − 0.0100, fails only if shown worse (95% interval)"
    noise = _gate(cfg, _est("accuracy", 0.95, 0.93, (-0.05, 0.01)))
    assert (noise.status, noise.blocks_merge) == ("inconclusive", False)
    assert noise.detail.endswith("does not block: shown_worse fails only on evidence of harm")


def test_regression_non_inferiority_blocks_when_inconclusive() -> None:
    cfg = GatesConfig(max_regression=(MaxRegression("accuracy", abs=0.01,
                                                    rule="non_inferiority"),))
    noise = _gate(cfg, _est("accuracy", 0.95, 0.93, (-0.05, 0.01)))
    assert (noise.status, noise.blocks_merge, noise.judged_by) == (
        "inconclusive", True, "non_inferiority")
    assert noise.rule == "≥ main − 0.0100, passes only if shown not worse (95% interval)"
    shown = _gate(cfg, _est("accuracy", 0.95, 0.951, (-0.004, 0.006)))
    assert (shown.status, shown.blocks_merge) == ("pass", False)
    warned = _gate(GatesConfig(max_regression=cfg.max_regression,
                               warn_only=frozenset({"max_regression"})),
                   _est("accuracy", 0.95, 0.93, (-0.05, 0.01)))
    assert (warned.status, warned.blocks_merge) == ("inconclusive", False)


def test_regression_on_a_lower_is_better_metric_reads_a_rise_as_worse() -> None:
    cfg = GatesConfig(max_regression=(MaxRegression("log_loss", rel=0.1),))
    # allowed: 10% of the base's 0.20 on the same rows = 0.02
    failed = _gate(cfg, _est("log_loss", 0.20, 0.26, (0.03, 0.09)))
    assert failed.status == "fail"
    assert failed.rule.startswith("≤ main + 0.0200 (10% of 0.2000)")
    assert _gate(cfg, _est("log_loss", 0.20, 0.15, (-0.08, -0.02))).status == "pass"
    assert _gate(cfg, _est("log_loss", 0.20, 0.21, (-0.01, 0.03))).status == "inconclusive"


def test_regression_with_abs_and_rel_allows_the_smaller_drop() -> None:
    cfg = GatesConfig(max_regression=(MaxRegression("roc_auc", abs=0.05, rel=0.01),))
    # rel: 1% of 0.9 = 0.009 < 0.05; an interval down to -0.02 reaches past it
    assert _gate(cfg, _est("roc_auc", 0.9, 0.89, (-0.02, -0.01))).status == "fail"


@pytest.mark.parametrize(("rule", "interval", "status", "blocks"), [
    ("shown_worse", (0.96, 0.99), "pass", False),
    ("shown_worse", (0.93, 0.97), "inconclusive", False),
    ("shown_worse", (0.90, 0.94), "fail", True),
    ("non_inferiority", (0.93, 0.97), "inconclusive", True),
])
def test_floor_judges_the_heads_interval(rule, interval, status, blocks) -> None:
    got = _gate(GatesConfig(floors=(Floor("roc_auc", 0.95, rule),)),
                _est("roc_auc", 0.96, sum(interval) / 2, (0, 0), interval))
    assert (got.status, got.blocks_merge) == (status, blocks)


def test_floor_not_shown_met_blocks_naming_the_interval_and_how_to_relax_it() -> None:
    got = _gate(GatesConfig(floors=(Floor("accuracy", 0.44),)),
                _est("accuracy", 0.71, 0.59, (0, 0), (0.41, 0.76)))
    assert (got.status, got.blocks_merge, got.judged_by) == ("inconclusive", True,
                                                             "non_inferiority")
    assert got.rule == "≥ 0.4400, passes only if shown above (95% interval)"
    assert got.detail == ("the 95% interval [0.4100, 0.7600] reaches below 0.4400: not shown to "
                          "reach the floor; blocks: a floor must be shown met (rule "
                          "non_inferiority; `{bound: 0.4400, rule: shown_worse}` fails only "
                          "when shown short)")


def test_ceiling_for_a_lower_is_better_metric_fails_when_shown_above() -> None:
    got = _gate(GatesConfig(floors=(Floor("log_loss", 0.3, "shown_worse"),)),
                _est("log_loss", 0.2, 0.4, (0, 0), (0.35, 0.45)))
    assert (got.gate, got.status) == ("log_loss ceiling", "fail")
    assert got.detail == "the whole 95% interval [0.3500, 0.4500] is above 0.3000"
    assert got.rule == "≤ 0.3000, fails only if shown above (95% interval)"


def test_metric_gates_without_an_interval_judge_the_point_values() -> None:
    (result,) = evaluate(GatesConfig(max_regression=(MaxRegression("accuracy", abs=0.01),)),
                         head_metrics={"accuracy": 0.90}, base_metrics={"accuracy": 0.95},
                         onnx_parity=None, data_validation=None, slices=None)
    assert (result.status, result.judged_by) == ("fail", "")


# --- the one loader ---------------------------------------------------------------------------

def test_gates_config_is_built_from_the_validated_config_section(example_params) -> None:
    # today's shape of `gates:`, spelled out (a fork's own params.yaml has other numbers)
    params = {**example_params, "gates": {"floors": {"roc_auc": 0.95, "accuracy": 0.90},
                                          "max_regression": {"roc_auc": {"abs": 0.01},
                                                             "log_loss": {"rel": 0.10}}}}
    cfg = GatesConfig.from_params(params)
    assert cfg == GatesConfig.from_section(config.parse(params).gates)
    # today's shape keeps working, judged by each group's default rule: a move against main
    # must be shown worse to fail, a floor must be shown met to pass
    assert MaxRegression("roc_auc", abs=0.01, rule="shown_worse") in cfg.max_regression
    assert Floor("roc_auc", 0.95, "non_inferiority") in cfg.floors
    assert (cfg.confidence, cfg.bootstrap) == (0.95, 1000)


def test_gates_config_reads_rules_for_floors_and_regressions() -> None:
    cfg = GatesConfig.from_params({"gates": {
        "floors": {"roc_auc": {"bound": 0.9, "rule": "non_inferiority"}, "accuracy": 0.8},
        "max_regression": {"log_loss": {"rel": 0.1, "rule": "non_inferiority"}},
        "confidence": 0.9, "bootstrap": 500}})
    assert cfg.floors == (Floor("roc_auc", 0.9, "non_inferiority"), Floor("accuracy", 0.8))
    assert cfg.max_regression == (MaxRegression("log_loss", rel=0.1, rule="non_inferiority"),)
    assert (cfg.confidence, cfg.bootstrap) == (0.9, 500)


@pytest.mark.parametrize(("gates", "message"), [
    ({"max_regression": {"roc_auc": {"abs": 0.01, "rule": "superiority"}}},
     "gates.max_regression.roc_auc.rule: must be one of 'shown_worse', 'non_inferiority', "
     "got 'superiority'"),
    ({"floors": {"roc_auc": {"bound": 0.9, "rule": "strict"}}},
     "gates.floors.roc_auc.rule: must be one of 'shown_worse', 'non_inferiority', got 'strict'"),
    ({"floors": {"roc_auc": {"rule": "shown_worse"}}}, "gates.floors.roc_auc.bound: required"),
    ({"floors": {"roc_auc": True}}, "gates.floors.roc_auc: expected a number, got True"),
    ({"confidence": 1.5}, "gates.confidence: must be in [0.5, 0.999], got 1.5"),
    ({"bootstrap": 10}, "gates.bootstrap: must be in [100, 100000], got 10"),
])
def test_gates_config_rule_errors_name_the_key(gates: dict, message: str) -> None:
    from gitops_ml.errors import UserError

    with pytest.raises(UserError) as info:
        GatesConfig.from_params({"gates": gates})
    assert str(info.value).startswith(message)


# --- with the bootstrap: noise passes, harm fails with its interval ---------------------------

def _compare(base_ok: np.ndarray, head_ok: np.ndarray) -> dict[str, Estimate]:
    y = np.repeat([0, 1], len(base_ok) // 2)
    estimates = uncertainty.classification(
        y, np.where(base_ok, y, 1 - y), np.where(head_ok, y, 1 - y), n_classes=2, positive=1,
        settings=uncertainty.Settings(seed=42, resamples=1000))
    return {e.metric: e for e in estimates}


def test_a_change_of_a_few_predictions_on_114_rows_is_not_a_failure() -> None:
    # the template's test split: 114 rows; two flips each way cost the point estimate 0.0175
    base_ok = np.ones(114, dtype=bool)
    base_ok[:4] = False
    head_ok = base_ok.copy()
    head_ok[4:8] = False
    head_ok[:2] = True
    got = _gate(GatesConfig(max_regression=(MaxRegression("accuracy", abs=0.01),)),
                _compare(base_ok, head_ok)["accuracy"])
    assert (got.status, got.blocks_merge) == ("inconclusive", False)


def test_a_clearly_worse_model_fails_with_the_interval_in_the_reason() -> None:
    rng = np.random.default_rng(0)
    base_ok = rng.random(2000) < 0.95
    head_ok = base_ok & (rng.random(2000) < 0.85)
    est = _compare(base_ok, head_ok)["accuracy"]
    got = _gate(GatesConfig(max_regression=(MaxRegression("accuracy", abs=0.02),)), est)
    assert (got.status, got.blocks_merge) == ("fail", True)
    assert est.delta_interval.high < -0.02
    assert got.detail.endswith(f"[{got.value.split('[')[1]}")
