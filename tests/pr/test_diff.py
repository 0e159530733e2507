"""Metric deltas (direction-aware) and the params diff of flattened keys."""

from __future__ import annotations

import pytest

from gitops_ml.report.diff import DIRECTIONS, flatten, metric_deltas, params_diff


def test_metric_deltas_mark_better_by_direction() -> None:
    deltas = {d.name: d for d in metric_deltas(
        {"roc_auc": 0.90, "rmse": 10.0, "log_loss": 0.2},
        {"roc_auc": 0.92, "rmse": 12.0, "log_loss": 0.2})}
    assert deltas["roc_auc"].change == "better"
    assert deltas["roc_auc"].abs_delta == pytest.approx(0.02)
    assert deltas["roc_auc"].rel_delta == pytest.approx(0.02 / 0.90)
    assert deltas["rmse"].change == "worse"
    assert deltas["rmse"].rel_delta == pytest.approx(0.2)
    assert deltas["log_loss"].change == "same"


def test_metric_deltas_follow_direction_table_order_then_unknown_names() -> None:
    names = [d.name for d in metric_deltas(None, {"zeta": 1, "r2": 0.5, "roc_auc": 0.9})]
    assert names == ["roc_auc", "r2", "zeta"]


def test_metric_deltas_without_baseline_are_new() -> None:
    (delta,) = metric_deltas(None, {"accuracy": 0.9})
    assert (delta.base, delta.abs_delta, delta.change) == (None, None, "new")


def test_metric_deltas_flag_removed_metrics() -> None:
    (delta,) = metric_deltas({"accuracy": 0.9}, {})
    assert delta.change == "removed"


def test_metric_direction_table_covers_both_tasks() -> None:
    higher = {m for m, d in DIRECTIONS.items() if d > 0}
    lower = {m for m, d in DIRECTIONS.items() if d < 0}
    assert higher == {"accuracy", "balanced_accuracy", "f1_macro", "f1", "precision", "recall",
                      "roc_auc", "r2"}
    assert lower == {"log_loss", "rmse", "mae"}


def test_flatten_joins_nested_keys_and_keeps_lists_whole() -> None:
    assert flatten({"model": {"params": {"C": 1.0}}, "evaluate": {"slices": ["a"]}, "seed": 1}) \
        == {"model.params.C": 1.0, "evaluate.slices": ["a"], "seed": 1}


def test_params_diff_lists_only_changed_keys() -> None:
    base = {"model": {"params": {"C": 1.0, "max_iter": 100}}, "seed": 1, "old": 1}
    head = {"model": {"params": {"C": 0.5, "max_iter": 100}}, "seed": 1, "new": 2}
    assert [c.as_dict() for c in params_diff(base, head)] == [
        {"key": "model.params.C", "base": 1.0, "head": 0.5, "kind": "changed"},
        {"key": "new", "base": None, "head": 2, "kind": "added"},
        {"key": "old", "base": 1, "head": None, "kind": "removed"},
    ]
