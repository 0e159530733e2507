"""The renderer-neutral comparison: one word per metric, the deciding gate, the Markdown table."""

from __future__ import annotations

import numpy as np
import pytest

from gitops_ml.report import comparison
from gitops_ml.report.comparison import Comparison, MetricRow, markdown, word
from gitops_ml.report.gates import GateResult, GatesConfig, MaxRegression, evaluate
from gitops_ml.report.paired import Differences, Flips
from gitops_ml.report.uncertainty import Estimate, Interval, Settings

SETTINGS = Settings(seed=42, resamples=1000)


def _est(metric: str, base: float, head: float, low: float, high: float) -> Estimate:
    return Estimate(metric, base, head, Interval(0, 1), Interval(0, 1), Interval(low, high))


@pytest.mark.parametrize(("metric", "low", "high", "want"), [
    ("accuracy", 0.01, 0.03, "better"), ("accuracy", -0.03, -0.01, "worse"),
    ("accuracy", -0.01, 0.02, "no detectable change"), ("accuracy", 0.0, 0.0,
                                                        "no detectable change"),
    ("log_loss", 0.01, 0.03, "worse"), ("log_loss", -0.03, -0.01, "better"),
    ("accuracy", float("nan"), float("nan"), "no detectable change"),
])
def test_word_reads_the_interval_by_the_metrics_direction(metric, low, high, want) -> None:
    assert word(metric, _est(metric, 0.5, 0.5, low, high)) == want


def test_two_models_that_differ_on_a_few_rows_show_no_detectable_change() -> None:
    # Two models from the same law with strongly correlated errors (another seed, say): their
    # expected metrics are equal, so any difference on these 114 rows (the template's) is noise.
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 57)
    e1 = rng.normal(size=114)
    e2 = 0.98 * e1 + np.sqrt(1 - 0.98**2) * rng.normal(size=114)

    def model(noise: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-3 * (2 * y - 1 + 0.7 * noise)))
        return np.column_stack([1 - p, p])

    base, head = model(e1), model(e2)
    c = comparison.classification("the PR's test split", y, base.argmax(1), head.argmax(1),
                                  n_classes=2, positive=1, settings=SETTINGS,
                                  base_scores=base, head_scores=head)
    assert c.rows == 114 and c.flips is not None
    assert {row.word for row in c.metrics} == {"no detectable change"}
    assert [row.estimate.metric for row in c.metrics][:2] == ["roc_auc", "accuracy"]


def test_a_clearly_worse_regressor_is_worse_on_every_metric() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=1000)
    c = comparison.regression("rows", y, y + rng.normal(0, 0.3, 1000),
                              y + rng.normal(0, 0.6, 1000), settings=SETTINGS)
    assert {row.word for row in c.metrics} == {"worse"}
    assert c.differences is not None and c.differences.changed == 1000


def _gate(key: str, status: str, judged_by: str = "shown_worse") -> GateResult:
    return GateResult(key.split(".")[-1], key, "rule", "value", status, True, "why", judged_by)


def test_deciding_gate_is_a_failure_before_an_inconclusive_non_inferiority() -> None:
    base = Comparison("rows", 10, SETTINGS, ())
    inconclusive = _gate("gates.floors.accuracy", "inconclusive", "non_inferiority")
    failed = _gate("gates.max_regression.roc_auc", "fail")
    assert base.with_gates([inconclusive, failed]).deciding == failed
    assert base.with_gates([inconclusive]).deciding == inconclusive
    noise = _gate("gates.floors.accuracy", "inconclusive", "shown_worse")
    assert base.with_gates([noise, _gate("gates.floors.f1", "pass")]).deciding is None


def test_with_gates_keeps_only_the_metric_gates() -> None:
    c = Comparison("rows", 10, SETTINGS, ()).with_gates(
        [_gate("gates.onnx_parity", "fail"), _gate("gates.floors.accuracy", "pass")])
    assert [g.key for g in c.gates] == ["gates.floors.accuracy"]


def test_markdown_shows_each_metric_the_flips_and_the_deciding_gate() -> None:
    est = _est("accuracy", 0.9561, 0.9386, -0.0439, 0.0088)
    c = Comparison("the PR's test split", 114, SETTINGS,
                   (MetricRow(est, word("accuracy", est)),),
                   flips=Flips(114, 108, 4, 2, 0, 0.6875))
    [gate] = evaluate(GatesConfig(max_regression=(MaxRegression("accuracy", abs=0.01),)),
                      head_metrics={}, base_metrics={}, onnx_parity=None, data_validation=None,
                      slices=None, estimates={"accuracy": est})
    assert markdown(c.with_gates([gate])) == (
        "| Metric | Base | PR | Δ (95% interval) | |\n"
        "|---|---:|---:|---|---|\n"
        "| accuracy | 0.9561 | 0.9386 | −0.0175 [−0.0439, +0.0088] | no detectable change |\n"
        "\n"
        "Both models on the same 114 rows (the PR's test split); intervals from a paired "
        "bootstrap over the rows, within each class (1,000 resamples, seed 42).\n"
        "Predictions changed on 6 of 114 rows: 4 correct → wrong, 2 wrong → correct "
        "(McNemar's exact test on the 6 that changed correctness: p = 0.688).\n"
        "No metric gate blocks the merge.\n")


def test_markdown_names_the_gate_that_blocked_and_the_regression_spread() -> None:
    est = _est("rmse", 0.5, 0.6, 0.05, 0.15)
    c = Comparison("rows", 100, SETTINGS, (MetricRow(est, word("rmse", est)),),
                   differences=Differences(100, 90, {0.0: -1.0, 0.05: -0.5, 0.25: -0.1,
                                                     0.5: 0.0, 0.75: 0.1, 0.95: 0.5, 1.0: 1.0}))
    [gate] = evaluate(GatesConfig(max_regression=(MaxRegression("rmse", abs=0.01),)),
                      head_metrics={}, base_metrics={}, onnx_parity=None, data_validation=None,
                      slices=None, estimates={"rmse": est})
    text = markdown(c.with_gates([gate]))
    assert "| rmse | 0.5000 | 0.6000 | +0.1000 [+0.0500, +0.1500] | worse |" in text
    assert "Predictions moved on 90 of 100 rows; PR − base: median 0, middle 90% " \
           "[−0.5000, +0.5000], range [−1.0000, +1.0000]." in text
    assert text.endswith(
        "Decided by `gates.max_regression.rmse` (rmse regression, rule ≤ main + 0.0100, fails "
        "only if shown worse (95% interval)): fail, worse by more than 0.0100 across the whole "
        "95% interval [+0.0500, +0.1500].\n")


def test_markdown_escapes_a_rows_label_from_the_data() -> None:
    c = Comparison("split | <b>", 1, SETTINGS, ())
    assert "(split ¦ ‹b›)" in markdown(c)
