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


def main(args: argparse.Namespace) -> None:
    params = config.read_params(args.params)
    fair_cfg = config.FairnessConfig.from_params(params)
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
        protected=fair_cfg.protected, positive_class=fair_cfg.positive_class,
        min_group_size=fair_cfg.min_group_size, seed=seed)
    rows = mt.sample(test, seed)
    report = summarise(mt.run(spec, scorer, rows), mt.robustness(scorer, rows, robust_cfg, seed))
    write_json(fair, args.fairness)
    write_json(report, args.report)
    flips = report["robustness"]["flip_rate"] if report["robustness"] else None
    print(f"model_tests: {report['total'] - report['failed']}/{report['total']} behavioural "
          f"tests passed, flip rate {flips}, fairness on "
          f"{', '.join(fair_cfg.protected) or 'no protected columns'}")
