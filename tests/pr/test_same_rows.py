"""Both models on the same rows: rows a model trained on left out by content; the proofs the
issue asks for (#23) on the template's own data: another seed shows no detectable change and
passes, a clearly worse model fails with the interval in the reason, replaced data shows both
models on both test splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from gitops_ml import config, contract
from gitops_ml.report import gates, same_rows
from gitops_ml.report.same_rows import BASE_SPLIT, PR_SPLIT, RowSet
from gitops_ml.report.uncertainty import Settings
from gitops_ml.stages.split import split
from gitops_ml.stages.train import train

SETTINGS = Settings(seed=42, resamples=1000)
TARGET = "diagnosis"
# The template's metric gates for this data, spelled out: a fork's params.yaml gates its own
# task's metrics (a regressor's rmse and r2), not these.
GATES = gates.GatesConfig.from_params({"gates": {
    "floors": {"roc_auc": 0.95, "accuracy": 0.90},
    "max_regression": {"roc_auc": {"abs": 0.01}, "accuracy": {"abs": 0.02},
                       "log_loss": {"rel": 0.10}}}})


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    df = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    df[TARGET] = np.where(data.target == 0, "malignant", "benign")
    return df.drop(columns="target")


def _model(df: pd.DataFrame, seed: int, **params: float) -> tuple[dict, pd.DataFrame,
                                                                  pd.DataFrame]:
    train_rows, test_rows = split(df, TARGET, "binary", 0.2, seed)
    spec = contract.infer(train_rows, TARGET)
    cfg = config.ModelConfig(estimator="sklearn.linear_model.LogisticRegression",
                             params={"max_iter": 2000, "C": 1.0} | params)
    return train(train_rows, spec, cfg, seed), train_rows, test_rows


@pytest.fixture(scope="module")
def base(table: pd.DataFrame) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    return _model(table, 42)


def test_unseen_leaves_out_rows_by_content_not_position() -> None:
    train_rows = pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]})
    test_rows = pd.DataFrame({"y": ["b", "a", "a"], "x": [2.0, 3.0, 1.0]},
                             index=[7, 8, 9])              # other order, other index
    kept, dropped = same_rows.unseen(test_rows, [train_rows])
    assert dropped == 2
    assert kept.to_dict("list") == {"y": ["a"], "x": [3.0]}


def test_unseen_matches_a_training_set_with_extra_columns() -> None:
    train_rows = pd.DataFrame({"x": [1.0], "y": ["a"], "new": [0]})
    kept, dropped = same_rows.unseen(pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "a"]}),
                                     [train_rows])
    assert (dropped, kept["x"].tolist()) == (1, [2.0])


def test_another_seed_shows_no_detectable_change_and_passes(table, base) -> None:
    base_bundle, base_train, _ = base
    head_bundle, head_train, head_test = _model(table, 7)
    outcome = same_rows.compare([RowSet(PR_SPLIT, head_test)], base_bundle, head_bundle,
                                [base_train, head_train], positive_class=None,
                                settings=SETTINGS)
    [c] = outcome.comparisons
    # another split: most of the PR's test rows were in the base model's training split
    assert outcome.left_out[0] > len(head_test) // 2
    assert c.rows == len(head_test) - outcome.left_out[0]
    assert {row.word for row in c.metrics} == {"no detectable change"}
    # the floors judge the PR's model alone on its whole test split (none of it trained it)
    assert outcome.own is not None and outcome.own.rows == len(head_test)
    results = gates.evaluate(GATES, head_metrics={}, base_metrics={}, onnx_parity=None,
                             data_validation=None, slices=None,
                             estimates={m.estimate.metric: m.estimate for m in c.metrics},
                             floor_estimates=outcome.floor_estimates)
    # on the few rows neither model trained on, a tight limit may be inconclusive, never failed
    regressions = [r for r in results if r.key.startswith("gates.max_regression")]
    assert {r.status for r in regressions} <= {"pass", "inconclusive"}
    floors = [r for r in results if r.key.startswith("gates.floors")]
    assert [(r.status, r.judged_by) for r in floors] == [("pass", "non_inferiority")] * 2
    assert not any(r.blocks_merge for r in c.with_gates(results).gates)   # the metric gates
    assert c.with_gates(results).deciding is None


def test_a_hyperparameter_that_changes_nothing_material_passes(table, base) -> None:
    base_bundle, base_train, base_test = base
    head_bundle, head_train, _ = _model(table, 42, max_iter=5000)
    outcome = same_rows.compare([RowSet(PR_SPLIT, base_test)], base_bundle, head_bundle,
                                [base_train, head_train], positive_class=None,
                                settings=SETTINGS)
    [c] = outcome.comparisons
    assert outcome.left_out == (0,)
    assert outcome.own is None                       # the floors judge the same rows
    assert outcome.floor_estimates == {m.estimate.metric: m.estimate for m in c.metrics}
    assert {row.word for row in c.metrics} == {"no detectable change"}
    assert c.flips is not None and c.flips.mcnemar_p == 1.0


def test_a_clearly_worse_model_fails_with_the_interval_in_the_reason(table, base) -> None:
    base_bundle, base_train, base_test = base
    head_bundle, head_train, _ = _model(table, 42, C=0.001)
    [c] = same_rows.compare([RowSet(PR_SPLIT, base_test)], base_bundle, head_bundle,
                            [base_train, head_train], positive_class=None,
                            settings=SETTINGS).comparisons
    est = {m.estimate.metric: m.estimate for m in c.metrics}
    results = gates.evaluate(GATES, head_metrics={}, base_metrics={}, onnx_parity=None,
                             data_validation=None, slices=None, estimates=est)
    gate = next(r for r in results if r.key == "gates.max_regression.log_loss")
    low, high = est["log_loss"].delta_interval.low, est["log_loss"].delta_interval.high
    assert gate.status == "fail" and gate.blocks_merge
    assert f"[+{low:.4f}, +{high:.4f}]" in gate.detail
    assert c.with_gates(results).deciding.status == "fail"


def test_replaced_data_shows_both_models_on_both_test_splits(table, base) -> None:
    base_bundle, base_train, base_test = base
    # new data: the same population, other rows (the base's test split is partly new training)
    replaced = table.sample(frac=0.8, random_state=1).reset_index(drop=True)
    head_bundle, head_train, head_test = _model(replaced, 42)
    outcome = same_rows.compare(
        [RowSet(PR_SPLIT, head_test), RowSet(BASE_SPLIT, base_test)], base_bundle,
        head_bundle, [base_train, head_train], positive_class=None, settings=SETTINGS)
    assert [c.rows_label for c in outcome.comparisons] == [PR_SPLIT, BASE_SPLIT]
    assert outcome.gated is outcome.comparisons[0]
    for c, dropped, rows in zip(outcome.comparisons, outcome.left_out, (head_test, base_test),
                                strict=True):
        assert dropped > 0 and c.rows == len(rows) - dropped
    data = outcome.as_dict()["comparisons"]
    assert [d["left_out"] for d in data] == list(outcome.left_out)


def test_models_of_different_tasks_are_not_compared(base) -> None:
    base_bundle, base_train, base_test = base
    other = dict(base_bundle, task="regression")
    outcome = same_rows.compare([RowSet(PR_SPLIT, base_test)], base_bundle, other,
                                [base_train], positive_class=None, settings=SETTINGS)
    assert outcome.comparisons == ()
    assert outcome.skipped == (f"{PR_SPLIT}: the base model is binary, this PR's is regression",)
