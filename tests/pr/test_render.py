"""Charts, tables and the rendered report on small in-memory inputs, and the comment size cap."""

from __future__ import annotations

import random

import pytest
from prtools import PROJECT

from gitops_ml.report import charts, render
from gitops_ml.report.diff import metric_deltas, params_diff
from gitops_ml.report.formatting import cell
from gitops_ml.report.gates import Floor, GatesConfig, MaxRegression, evaluate

TEMPLATE = (PROJECT / "reports" / "pr_report.md.j2").read_text()
SHA_A, SHA_B = "a" * 40, "b" * 40


def test_roc_on_grid_takes_best_tpr_at_or_left_of_each_fpr() -> None:
    points = [(0.0, 0.0), (0.0, 0.5), (0.1, 0.8), (0.5, 1.0), (1.0, 1.0)]
    assert charts.roc_on_grid(points, (0.0, 0.05, 0.1, 0.4, 1.0)) == [0.5, 0.5, 0.8, 0.8, 1.0]


def test_pr_on_grid_interpolates_precision_from_the_right() -> None:
    points = [(0.0, 1.0), (0.5, 0.9), (0.8, 0.95), (1.0, 0.6)]
    assert charts.pr_on_grid(points, (0.0, 0.5, 0.9, 1.0)) == [1.0, 0.95, 0.6, 0.6]


def test_macro_curve_averages_classes() -> None:
    rows = [{"class": "a", "fpr": 0.0, "tpr": 1.0}, {"class": "b", "fpr": 0.0, "tpr": 0.5}]
    curve, n = charts.macro_curve(rows, "fpr", "tpr", "roc", (0.0, 1.0))
    assert (curve, n) == ([0.75, 0.75], 2)


def test_xychart_draws_one_line_per_series() -> None:
    text = charts.xychart("ROC", "fpr", [0.0, 1.0], "tpr", [[0.1, 1.0], [0.2, 1.0]], (0.0, 1.0))
    assert text.splitlines() == [
        "xychart-beta", '  title "ROC"', '  x-axis "fpr" [0, 1]', '  y-axis "tpr" 0 --> 1',
        "  line [0.1, 1]", "  line [0.2, 1]"]


def test_binned_predictions_average_each_quantile_bin() -> None:
    rows = [{"actual": float(a), "predicted": float(a) + 1} for a in range(10)]
    assert charts.binned_predictions(rows, bins=2) == [(2.0, 3.0, 5), (7.0, 8.0, 5)]


def test_confusion_table_keeps_largest_classes() -> None:
    rows = [{"actual": c, "predicted": c, "count": n} for c, n in (("x", 5), ("y", 1), ("z", 9))]
    table = charts.confusion_table(rows, max_classes=2)
    assert table == {"labels": ["x", "z"], "matrix": [[5, 0], [0, 9]], "hidden": 1}


def test_table_ends_with_count_of_hidden_rows() -> None:
    text = charts.table(["a", "b"], [[1, 2], [3, 4], [5, 6]], "lr", max_rows=1, what="features")
    assert text.splitlines()[-1] == "| … 2 more features |  |"
    assert len(text.splitlines()) == 4


def test_cell_defuses_markup_and_pipes() -> None:
    assert cell("<img src=x>|`a`\nb") == "‹img src=x›¦'a' b"


def _results(n_features: int, classes: list[str], seed: int) -> render.Results:
    rnd = random.Random(seed)
    roc = [{"class": c, "fpr": i / 100, "tpr": min(1.0, i / 60)} for c in classes
           for i in range(101)]
    pr = [{"class": c, "recall": i / 100, "precision": 1 - i / 300} for c in classes
          for i in range(101)]
    confusion = [{"actual": a, "predicted": p, "count": rnd.randint(0, 9)}
                 for a in classes for p in classes]
    importance = [{"feature": f"feature_{i:03d}_" + "x" * 40, "importance": rnd.random(),
                   "std": 0.01} for i in range(n_features)]
    slices = {f"col_{j}": [{"slice": f"bin {k}", "n": 10, "accuracy": rnd.random(),
                            "f1_macro": rnd.random()} for k in range(20)] for j in range(12)}
    return render.Results(
        metrics={"accuracy": rnd.random(), "f1_macro": rnd.random(), "roc_auc": rnd.random(),
                 "log_loss": rnd.random()},
        params={"model": {"params": {f"p{i}": rnd.random() for i in range(200)}}},
        plots={"roc": roc, "precision_recall": pr, "confusion": confusion},
        slices=slices, importance=importance,
        data_validation={"passed": False, "rows": 10_000, "columns": n_features + 1,
                         "failed_checks": 300,
                         "failures": [{"column": f"feature_{i}", "check": "in_range",
                                       "failing": 3, "examples": [1, 2, 3]} for i in range(300)]},
        onnx_parity={"passed": True, "max_abs_diff": 1e-7, "label_agreement": 1.0,
                     "tolerance": {"max_abs_diff": 1e-3, "min_label_agreement": 1.0}})


def _inputs(head: render.Results, base: render.Results | None,
            pipeline: render.Pipeline | None = None) -> render.ReportInputs:
    cfg = GatesConfig(floors=(Floor("roc_auc", 0.5),),
                      max_regression=(MaxRegression("accuracy", abs=0.01),),
                      onnx_parity=True, data_contract=True)
    gates = evaluate(cfg, head_metrics=head.metrics, base_metrics=base.metrics if base else None,
                     onnx_parity=head.onnx_parity, data_validation=head.data_validation,
                     slices=head.slices)
    return render.ReportInputs(
        base_ref="main", base_sha=SHA_A, head_sha=SHA_B,
        pipeline=pipeline or render.Pipeline("reproduced", ("train",)), head=head, base=base,
        metrics=metric_deltas(base.metrics if base else None, head.metrics),
        params=params_diff(base.params if base else {}, head.params), gates=gates,
        wall_seconds=12.0)


def test_render_stays_under_comment_limit_with_500_features_and_50_classes() -> None:
    classes = [f"class_{i:02d}" for i in range(50)]
    head, base = _results(500, classes, 1), _results(500, classes, 2)
    text = render.render_markdown(TEMPLATE, _inputs(head, base))
    assert len(text) < 65_536
    assert len(text) <= render.MAX_CHARS
    assert "more features" in text
    assert "more classes" in text


def test_render_shortens_long_sections_only_when_needed() -> None:
    small = _results(5, ["a", "b"], 3)
    text = render.render_markdown(TEMPLATE, _inputs(small, _results(5, ["a", "b"], 4)))
    assert "Long sections were shortened" not in text
    assert text.count("```mermaid") == 2


def test_render_raises_when_nothing_fits() -> None:
    small = _results(5, ["a", "b"], 3)
    with pytest.raises(ValueError, match="characters even at the tightest caps"):
        render.render_markdown(TEMPLATE, _inputs(small, None), max_chars=100)


def test_render_first_pull_request_shows_head_only() -> None:
    head = _results(5, ["a", "b"], 3)
    text = render.render_markdown(TEMPLATE, _inputs(head, None))
    assert "**First pull request:** main has no `reports/metrics.json` yet" in text
    assert "| metric | this PR |" in text
    assert "this PR (2nd line)" not in text


def test_render_failed_stage_names_it_and_quotes_the_error() -> None:
    head = _results(5, ["a", "b"], 3)
    inputs = _inputs(head, head, render.Pipeline("failed", ("train",), "train",
                                                 "ValueError: C must be > 0"))
    inputs = render.ReportInputs(**{**inputs.__dict__, "metrics": [], "gates": []})
    text = render.render_markdown(TEMPLATE, inputs)
    assert text.startswith("## ❌ Pipeline failed at stage `train`")
    assert "```text\nValueError: C must be > 0\n```" in text
    assert render.summary(inputs)["verdict"] == "fail"


def test_render_regression_task_draws_predicted_vs_actual() -> None:
    rows = [{"actual": float(a), "predicted": float(a) * 1.1, "residual": a * 0.1}
            for a in range(50)]
    head = render.Results(metrics={"rmse": 3.0, "r2": 0.8},
                          plots={"predicted_vs_actual": rows})
    base = render.Results(metrics={"rmse": 3.5, "r2": 0.7}, plots={"predicted_vs_actual": rows})
    inputs = render.ReportInputs(
        base_ref="main", base_sha=SHA_A, head_sha=SHA_B, pipeline=render.Pipeline("reproduced"),
        head=head, base=base, metrics=metric_deltas(base.metrics, head.metrics), params=[],
        gates=[])
    text = render.render_markdown(TEMPLATE, inputs)
    assert "Mean prediction by decile of the actual value: actual, main, this PR" in text
    assert "| rmse | 3.5000 | 3.0000 | −0.5000 (−14.3%) | 🟢 |" in text
    assert "ROC" not in text
