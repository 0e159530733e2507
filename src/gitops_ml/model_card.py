"""The model card: one Markdown page per model version, rendered with jinja2.

Everything shown comes from the pipeline's results, params.yaml's gates and the intended-use text
the team writes, never from the clock or the checkout, so the `model_card` stage reproduces byte
for byte. The version and image digest appear when given (at registration); otherwise the card
says where to find them.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2

from gitops_ml.config import read_params
from gitops_ml.errors import UserError
from gitops_ml.io import atomic_path
from gitops_ml.report import gates
from gitops_ml.report.diff import flatten
from gitops_ml.report.formatting import cell, num

TOP_FEATURES = 10
_HTML_COMMENT = re.compile(r"<!--.*?-->\s*", re.DOTALL)   # notes to the editor, not the reader


@dataclass(frozen=True)
class CardInputs:
    """What the card is rendered from, already read and parsed."""

    meta: dict[str, Any]                 # models/model.json
    metrics: dict[str, Any]
    slices: dict[str, Any]
    importance: dict[str, Any]
    validation: dict[str, Any]
    parity: dict[str, Any]
    gates: gates.GatesConfig
    intended_use: str
    version: str | None = None
    image: str | None = None
    governance: str = ""                 # the audit trail table (registry/audit.py), if asked
    model_tests: dict[str, Any] | None = None    # reports/model_tests.json
    fairness: dict[str, Any] | None = None       # reports/fairness.json


def context(inputs: CardInputs) -> dict[str, Any]:
    """Plain values for the template; every string from the data is made table-safe here."""
    meta = inputs.meta
    try:
        features = meta["features"]
        training = meta["training_data"]
        model = {"name": cell(meta["name"]), "task": meta["task"], "target": cell(meta["target"]),
                 "estimator": cell(meta["estimator"]),
                 "classes": [cell(c) for c in meta.get("classes") or []]}
    except (KeyError, TypeError) as exc:
        raise UserError(f"--meta: model.json lacks {exc}") from None
    # Regression gates compare with main's merge-base: the pull request checked them, and a
    # card describes one model on its own.
    own = replace(inputs.gates, max_regression=())
    results = gates.evaluate(own, head_metrics=inputs.metrics, base_metrics=None,
                             onnx_parity=inputs.parity, data_validation=inputs.validation,
                             slices=inputs.slices, model_tests=inputs.model_tests,
                             fairness=inputs.fairness)
    slice_tables = []
    for column, rows in sorted(inputs.slices.items()):
        keys = [k for k in (rows[0] if rows else {}) if k not in ("slice", "n")]
        slice_tables.append({"column": cell(column), "metrics": keys, "rows": [
            {"slice": cell(r.get("slice")), "n": r.get("n"),
             "values": [num(r.get(k)) for k in keys]} for r in rows]})
    top = (inputs.importance.get("importance") or [])[:TOP_FEATURES]
    params = flatten(meta.get("params") or {})
    return {
        "model": model,
        "version": inputs.version,
        "image": inputs.image,
        "intended_use": _HTML_COMMENT.sub("", inputs.intended_use).strip(),
        "training": {"sha256": training.get("sha256"), "rows": training.get("rows"),
                     "source": cell(params.get("data.source", "—"))},
        "validation": {"passed": inputs.validation.get("passed"),
                       "rows": inputs.validation.get("rows"),
                       "columns": inputs.validation.get("columns")},
        "features": [{"name": cell(f.get("name")), "type": f.get("type"),
                      "nullable": f.get("nullable")} for f in features],
        "params": [(cell(k), cell(v)) for k, v in sorted(params.items())],
        "metrics": [(cell(k), num(v)) for k, v in sorted(inputs.metrics.items())
                    if isinstance(v, int | float)],
        "slices": slice_tables,
        "importance": [{"feature": cell(r.get("feature")), "importance": num(r.get("importance")),
                        "std": num(r.get("std"))} for r in top],
        "gates": [{"gate": cell(g.gate), "rule": g.rule, "value": g.value, "status": g.status,
                   "blocking": g.blocking} for g in results],
        "gates_passed": all(g.status == "pass" or not g.blocking for g in results),
        "libraries": sorted((meta.get("libraries") or {}).items()),
        "governance": inputs.governance,
        "fairness": _fairness(inputs.fairness),
        "behaviour": _behaviour(inputs.model_tests),
    }


def _stat(stat: Any) -> str:
    if not isinstance(stat, dict) or stat.get("value") is None:
        return "—"
    ci = stat.get("ci")
    return num(stat["value"], 3) + (f" [{num(ci[0], 3)}, {num(ci[1], 3)}]"
                                    if isinstance(ci, list) and None not in ci else "")


def _fairness(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """Per protected column: group rows with 95% intervals, and the gaps."""
    if not report:
        return None
    keys = ["mae"] if report.get("task") == "regression" else \
        ["selection_rate", "true_positive_rate", "false_positive_rate"]
    columns = []
    for column, result in sorted((report.get("columns") or {}).items()):
        columns.append({
            "column": cell(column), "stats": keys,
            "groups": [{"group": cell(g.get("group")), "n": g.get("n"),
                        "too_small": bool(g.get("too_small")),
                        "values": [_stat(g.get(k)) for k in keys]}
                       for g in result.get("groups") or []],
            "gaps": [(name, num(value)) for name, value in (result.get("gaps") or {}).items()]})
    return {"columns": columns, "min_group_size": report.get("min_group_size"),
            "positive_class": cell(report.get("positive_class") or "")}


def _behaviour(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if not report:
        return None
    robust = report.get("robustness") or {}
    return {"tests": [{"name": cell(t.get("name"), 80), "kind": t.get("kind"),
                       "passed": bool(t.get("passed")), "failing": t.get("failing"),
                       "rows": t.get("rows"), "warn_only": bool(t.get("warn_only"))}
                      for t in report.get("tests") or []],
            "flip_rate": num(robust.get("flip_rate")) if robust else None,
            "noise": robust.get("noise"), "category_swap": robust.get("category_swap")}


def render(template: str, inputs: CardInputs) -> str:
    """The card's Markdown."""
    env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined,  # noqa: S701
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    try:
        return env.from_string(template).render(**context(inputs))
    except jinja2.TemplateError as exc:
        raise UserError(f"--template: {type(exc).__name__}: {exc}") from None


def _json(path: str, flag: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"--{flag}: {path} not found (run `dvc repro`)") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"--{flag}: {path} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"--{flag}: {path} must hold a JSON object")
    return data


def _text(path: str, flag: str) -> str:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise UserError(f"--{flag}: {path} not found") from None
    return text


def _governance(repo: str) -> str:
    from gitops_ml.registry import artifact, audit, tags
    from gitops_ml.registry.state import Registry

    name, _ = artifact.declared(Path(repo) / "dvc.yaml", None)
    return audit.markdown(audit.rows(Registry(name, tags.read(Path(repo)))))


def main(args: argparse.Namespace) -> None:
    intended_use = _text(args.intended_use, "intended-use")
    if not _HTML_COMMENT.sub("", intended_use).strip():
        raise UserError(f"--intended-use: {args.intended_use} is empty; say what the model is "
                        "for and where it must not be used")
    inputs = CardInputs(
        meta=_json(args.meta, "meta"), metrics=_json(args.metrics, "metrics"),
        slices=_json(args.slices, "slices"), importance=_json(args.importance, "importance"),
        validation=_json(args.validation, "validation"), parity=_json(args.parity, "parity"),
        gates=gates.GatesConfig.from_params(read_params(args.params)),
        intended_use=intended_use, version=args.version, image=args.image,
        governance=_governance(args.audit_repo) if getattr(args, "audit_repo", None) else "",
        model_tests=_json(args.model_tests, "model-tests") if args.model_tests else None,
        fairness=_json(args.fairness, "fairness") if args.fairness else None)
    text = render(_text(args.template, "template"), inputs)
    with atomic_path(args.out) as tmp:
        tmp.write_text(text)
    print(f"model card -> {args.out}")
