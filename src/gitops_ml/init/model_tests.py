"""The starter behavioural tests file init writes: no active test, one commented example per kind.

Written when the data changes (the old tests name columns the new data lacks) or when the file is
missing. The examples use the new contract's own column and class names, so uncommenting one is
a start rather than a puzzle. Its path is the `--tests` argument of dvc.yaml's model_tests stage.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from gitops_ml.contract import Contract
from gitops_ml.contract import load as load_contract
from gitops_ml.errors import UserError


def tests_path(dvc_yaml: Path) -> Path | None:
    """The tests file dvc.yaml's model_tests stage reads, relative to dvc.yaml; None without one."""
    stages = (yaml.safe_load(dvc_yaml.read_text()) or {}).get("stages") or {}
    cmd = (stages.get("model_tests") or {}).get("cmd")
    if not isinstance(cmd, str):
        return None
    words = shlex.split(cmd)
    if "--tests" not in words or words.index("--tests") + 1 >= len(words):
        raise UserError(f"{dvc_yaml}: stage model_tests has no `--tests PATH`")
    return dvc_yaml.parent / words[words.index("--tests") + 1]


def starter(contract: Contract) -> str:
    """The file's text for a project with this contract."""
    numeric = contract.numeric[0] if contract.numeric else None
    categorical = next((c for c in contract.features if not c.is_numeric and c.categories), None)
    classes = [str(c) for c in contract.target.categories or ()]
    score_of = f"\n#     score_of: {classes[-1]}" if classes else ""
    expect = f"label: {classes[0]}" if classes else "range: [0, 100]"
    if categorical is not None:
        values = ", ".join(str(v) for v in (categorical.categories or ())[:2])
        inv = f"#     column: {categorical.name}\n#     values: [{values}]"
    elif numeric is not None:
        spec = next(c for c in contract.features if c.name == numeric)
        low = spec.min if spec.min is not None else 0
        high = spec.max if spec.max is not None else 1
        inv = f"#     column: {numeric}\n#     range: [{low}, {high}]"
    else:
        inv = "#     column: <a feature>\n#     values: [<a>, <b>]"
    num = numeric or "<a numeric feature>"
    tolerance = _invariance_tolerance(contract)
    example = f"{{{num}: 1.0}}" if numeric else "{<feature>: <value>}"
    return f"""\
# Behavioural tests of the served (ONNX) model, run by the `model_tests` stage on the test
# set and gated by `gates.model_tests` (README, "Fairness and behaviour"). Validated strictly:
# an unknown key is an error naming it. Uncomment and adapt one example per behaviour you can
# defend; any test may add `warn_only: true`.
tests: []
#   - name: changing {inv.splitlines()[0].split(': ')[1]} does not move the prediction
#     kind: invariance
{inv}
{tolerance}
#     # Calibrate it before relying on it: retrain on bootstrap resamples of the training set
#     # and rerun this test; how far the resampled models move is noise, so the tolerance goes
#     # above the largest of those moves (the template's model_tests.yaml shows one such
#     # calibration). Too tight, and a pull request that changes nothing fails.
#
#   - name: more {num} never lowers the score
#     kind: directional
#     column: {num}
#     change: 1.0                 # added to the column
#     expect: increase            # or decrease{score_of}
#
#   - name: cases the model must get right
#     kind: minimum_functionality
#     examples:                   # unnamed features take the test set's median / commonest value
#       - name: a clear case
#         features: {example}
#         {expect}
"""


def _invariance_tolerance(contract: Contract) -> str:
    """The example's `tolerance` line: a probability for classes, target units for regression."""
    target = contract.target
    if target.categories is not None:
        return "#     tolerance: 0.05             # largest change of any class probability (0-1)"
    if target.min is None or target.max is None or target.max <= target.min:
        return (f"#     tolerance: <a value>        # largest change of the predicted "
                f"{target.name}, in its units")
    import numpy as np

    # two significant digits, never in exponent form (YAML would read `2e+06` as a string)
    value = np.format_float_positional(0.05 * (target.max - target.min), precision=2,
                                       unique=False, fractional=False, trim="-")
    source = f"5% of its range in contract.yaml ({target.min:g} to {target.max:g})"
    return (f"#     tolerance: {value:<17}# largest change of the predicted {target.name}, in its "
            f"units:\n#     #   {source}")


def add_starter(plan: Any, paths: Any) -> None:
    """Add the starter file to init's plan when the data changed or the file is missing."""
    target = tests_path(paths.dvc_yaml)
    if target is None or (plan.contract is None and target.exists()):
        return
    contract = plan.contract if plan.contract is not None else load_contract(paths.contract)
    plan.writes[target] = starter(contract)
