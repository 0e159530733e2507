"""Stage `model_tests`: behavioural tests, robustness and fairness on the exported ONNX model.

Failures are results, not errors: the stage writes them and the pull-request gates decide
(`gates.model_tests`, `gates.max_flip_rate`, `gates.fairness`). A bad tests file or setting is
an error naming the key, and then no report is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gitops_ml import config, fairness
from gitops_ml import model_tests as mt
from gitops_ml.errors import UserError
from gitops_ml.io import read_table, write_json
from gitops_ml.model_tests_spec import load as load_tests
from gitops_ml.serve.model import OnnxModel, read_meta


def summarise(tests: list[dict[str, Any]], robust: dict[str, Any] | None) -> dict[str, Any]:
    """reports/model_tests.json: every test's verdict, the counts, and the robustness check."""
    failed = [t for t in tests if not t["passed"]]
    return {"passed": not any(not t["warn_only"] for t in failed), "total": len(tests),
            "failed": len(failed), "failed_blocking": sum(not t["warn_only"] for t in failed),
            "tests": tests, "robustness": robust}


def positive_class(meta: Any, y: Any, configured: Any) -> str | None:
    """The class whose rates fairness compares, by the evaluate stage's rule: binary tasks take
    `evaluate.positive_class` or `metrics.default_positive_class` (1 for 0/1 labels, else the
    rarer class); multiclass tasks the last class."""
    from gitops_ml import metrics as mx

    if not meta.is_classifier:
        return None
    classes = list(meta.classes or [])
    if meta.task != "binary":
        if configured is not None:
            raise UserError(f"evaluate.positive_class: only for binary tasks; this task is "
                            f"{meta.task}")
        return classes[-1]
    # model.json holds labels as text; the rule needs them as the target holds them (0/1)
    actual = {str(v): v for v in y.dropna().unique()}
    labels = [actual.get(c, c) for c in classes]
    counts = {actual.get(str(k), k): int(n) for k, n in y.value_counts().items()}
    return classes[mx.positive_index(labels, configured, counts)]


def main(args: argparse.Namespace) -> None:
    params = config.read_params(args.params)
    evaluate_cfg = config.EvaluateConfig.from_params(params)
    robust_cfg = config.RobustnessConfig.from_params(params)
    seed = config.seed(params)
    spec = load_tests(args.tests)
    model_dir = Path(args.model_dir)
    meta = read_meta(model_dir)
    scorer = mt.Scorer(OnnxModel.load(model_dir, meta))
    test = read_table(args.test, key="--test")
    if meta.target not in test.columns:
        raise UserError(f"--test: target {meta.target!r} not in {args.test}")

    predicted = scorer(test)
    fair = fairness.assess(
        test, predicted.labels if meta.is_classifier else predicted.values,
        target=meta.target, task=meta.task, classes=list(meta.classes or []),
        protected=evaluate_cfg.protected,
        positive=positive_class(meta, test[meta.target], evaluate_cfg.positive_class),
        min_group_size=evaluate_cfg.min_group_size, seed=seed)
    rows = mt.sample(test, seed)
    report = summarise(mt.run(spec, scorer, rows), mt.robustness(scorer, rows, robust_cfg, seed))
    write_json(fair, args.fairness)
    write_json(report, args.report)
    flips = report["robustness"]["flip_rate"] if report["robustness"] else None
    print(f"model_tests: {report['total'] - report['failed']}/{report['total']} behavioural "
          f"tests passed, flip rate {flips}, fairness on "
          f"{', '.join(evaluate_cfg.protected) or 'no protected columns'}")
