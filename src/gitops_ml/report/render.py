"""Assemble the report from the diffs and gates, and render it with jinja2 within GitHub's limit."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import jinja2

from gitops_ml.report import behaviour, charts, comparison
from gitops_ml.report import data_change as data_change_mod
from gitops_ml.report.consistency import Consistency
from gitops_ml.report.data_change import DataChange
from gitops_ml.report.diff import MetricDelta, ParamChange
from gitops_ml.report.formatting import cell, num, pct, signed
from gitops_ml.report.gates import GateResult
from gitops_ml.report.rules import RulesChange

SCHEMA = "gitops-ml/pr-report/v1"
# GitHub rejects comments over 65,536 characters; CML's watermark and the comment workflow's
# footer need a little room, so the report itself stays under this.
MAX_CHARS = 60_000
MARKS = {"better": "🟢", "worse": "🔴", "same": "⚪", "new": "🆕", "removed": "✖️", "changed": "🔵"}
STATUS_MARKS = {"pass": "✅", "fail": "❌", "inconclusive": "❔", "skip": "⏭️", "error": "❌"}


@dataclass(frozen=True)
class Results:
    """What one commit's pipeline produced: the git-tracked reports, read as plain data."""

    metrics: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    slices: dict[str, Any] | None = None
    importance: list[dict[str, Any]] = field(default_factory=list)
    data_validation: dict[str, Any] | None = None
    onnx_parity: dict[str, Any] | None = None
    model_tests: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None


@dataclass(frozen=True)
class Pipeline:
    """How the head results came to be: reproduced, already up to date, failed or not run."""

    state: str                              # reproduced | up_to_date | failed | not_run
    stages_run: tuple[str, ...] = ()
    failed_stage: str | None = None
    error_tail: str = ""
    inputs_unchanged: bool = False          # the stages' recorded inputs equal the baseline's
    seconds: float = 0.0
    stages_cached: tuple[str, ...] = ()     # restored from the DVC run-cache, not run
    pulled: bool = False                    # unchanged stages' outputs came from the DVC remote
    remote: str = ""                        # why the DVC remote was or was not used


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows; built by `pipelines.pr`, rendered here."""

    base_ref: str
    base_sha: str
    head_sha: str
    pipeline: Pipeline
    head: Results
    base: Results | None                    # None: main has no metrics yet (first pull request)
    metrics: list[MetricDelta]
    params: list[ParamChange]
    gates: list[GateResult]
    config_error: str | None = None
    results: Consistency | None = None      # committed results vs reproduced (None: config error)
    wall_seconds: float = 0.0
    command: str = "uv run python -m pipelines.pr"
    artifact: str = "pr-report"
    rules: RulesChange = RulesChange()      # rule files this PR changes (judged by the base's)
    data_change: DataChange | None = None   # baseline vs this PR's reports/data.json
    # both models on the same rows (gitops_ml.report.same_rows.Outcome); None: no baseline
    same_rows: Any = None


@dataclass(frozen=True)
class Caps:
    """How much of each long section to show; tightened step by step until the report fits."""

    features: int = 20
    classes: int = 10
    slices: int = 10
    slice_columns: int = 4
    params: int = 30
    failures: int = 10
    charts: bool = True
    details: bool = True


CAP_STEPS = (
    Caps(),
    Caps(features=10, classes=6, slices=6, slice_columns=2, params=15, failures=5),
    Caps(features=5, classes=4, slices=4, slice_columns=1, params=10, failures=3, charts=False),
    Caps(features=0, classes=0, slices=0, slice_columns=0, params=5, failures=1, charts=False,
         details=False),
)


def verdict(inputs: ReportInputs) -> str:
    """`fail` when the pipeline or config broke or a blocking gate failed; else `warn` or `pass`."""
    if inputs.config_error or inputs.pipeline.state == "failed":
        return "fail"
    mismatch = inputs.results is not None and inputs.results.state == "mismatch"
    if any(g.blocks_merge for g in inputs.gates):
        return "fail"
    if mismatch and inputs.results.blocking:
        return "fail"
    if mismatch or any(g.status in ("fail", "error") for g in inputs.gates):
        return "warn"
    return "pass"


def summary(inputs: ReportInputs) -> dict[str, Any]:
    """The machine-readable report (`pr_report.json`)."""
    dv = inputs.head.data_validation or {}
    p = inputs.pipeline
    return {
        "schema": SCHEMA,
        "verdict": verdict(inputs),
        "first_pr": inputs.base is None,
        "base": {"ref": inputs.base_ref, "sha": inputs.base_sha},
        "head": {"sha": inputs.head_sha},
        "pipeline": {"state": p.state, "stages_run": list(p.stages_run),
                     "failed_stage": p.failed_stage, "error": p.error_tail or None,
                     "inputs_unchanged": p.inputs_unchanged, "seconds": round(p.seconds, 1),
                     "stages_cached": list(p.stages_cached), "pulled": p.pulled,
                     "remote": p.remote or None},
        "results": inputs.results.as_dict() if inputs.results else None,
        "config_error": inputs.config_error,
        "metrics": [m.as_dict() for m in inputs.metrics],
        "params": [c.as_dict() for c in inputs.params],
        "gates": [g.as_dict() for g in inputs.gates],
        "data_validation": {k: dv.get(k) for k in ("passed", "rows", "columns", "failed_checks")}
        if dv else None,
        "wall_seconds": round(inputs.wall_seconds, 1),
        "rules": inputs.rules.as_dict(),
        "data_change": inputs.data_change.as_dict() if inputs.data_change else None,
        "same_rows": inputs.same_rows.as_dict() if inputs.same_rows is not None else None,
    }


def _short(sha: str) -> str:
    return sha[:7] if sha else "—"


def _metrics_table(inputs: ReportInputs) -> str:
    if inputs.base is None:
        rows = [[m.name, num(m.head)] for m in inputs.metrics]
        return charts.table(["metric", "this PR"], rows, "lr")
    rows = [[m.name, num(m.base), num(m.head),
             f"{signed(m.abs_delta)} ({pct(m.rel_delta)})" if m.abs_delta is not None else "—",
             MARKS.get(m.change, "")] for m in inputs.metrics]
    return charts.table(["metric", "main", "this PR", "Δ", ""], rows, "lrrrc")


def _headline(inputs: ReportInputs) -> str:
    same = inputs.same_rows.comparisons if inputs.same_rows is not None else ()
    if same and same[0].metrics:      # the first metric on the same rows, with its word
        row = same[0].metrics[0]
        e = row.estimate
        return (f"{e.metric} {num(e.base)} → {num(e.head)} ({signed(e.delta)} "
                f"[{signed(e.delta_interval.low)}, {signed(e.delta_interval.high)}], "
                f"{row.word}, same rows)")
    m = next((m for m in inputs.metrics if m.head is not None), None)
    if m is None:
        return ""
    if m.base is None or m.abs_delta is None:
        return f"{m.name} {num(m.head)}"
    word = {"better": "better", "worse": "worse", "same": "unchanged"}.get(m.change, m.change)
    return f"{m.name} {num(m.base)} → {num(m.head)} ({signed(m.abs_delta)}, {word})"


def _params(changes: list[ParamChange], cap: int) -> list[str]:
    out = []
    for c in changes[:cap]:
        if c.kind == "added":
            out.append(f"`{cell(c.key)}` added: {cell(c.head)}")
        elif c.kind == "removed":
            out.append(f"`{cell(c.key)}` removed (was {cell(c.base)})")
        else:
            out.append(f"`{cell(c.key)}` {cell(c.base)} → {cell(c.head)}")
    if len(changes) > cap:
        out.append(f"… {len(changes) - cap} more")
    return out


def _gates_table(gates: list[GateResult]) -> str:
    rows = [[cell(g.gate, 80) + ("" if g.blocking else " (warning only)"), cell(g.rule, 80),
             cell(g.value), STATUS_MARKS[g.status] + (f" {cell(g.detail, 160)}" if g.detail
                                                       else "")] for g in gates]
    return charts.table(["gate", "rule", "value", ""], rows, "llrl")


def _results_table(results: Consistency | None) -> str:
    if results is None or not results.mismatches:
        return ""
    rows = [[cell(m.name), num(m.committed), num(m.reproduced),
             signed(m.reproduced - m.committed) if m.committed is not None
             and m.reproduced is not None else "—"] for m in results.mismatches]
    return charts.table(["metric", "committed", "reproduced", "Δ"], rows, "lrrr")


def _validation(dv: dict[str, Any] | None, caps: Caps) -> dict[str, Any] | None:
    if not dv:
        return None
    failures = dv.get("failures") or []
    rows = [[cell(f.get("column")), cell(f.get("check")), str(f.get("failing", "")),
             cell(", ".join(map(str, (f.get("examples") or [])[:3])), 60)] for f in failures]
    return {
        "passed": bool(dv.get("passed")), "rows": dv.get("rows"), "columns": dv.get("columns"),
        "failed_checks": dv.get("failed_checks", len(failures)),
        "table": charts.table(["column", "check", "failing rows", "examples"], rows, "llrl",
                              caps.failures, "failed checks") if rows else "",
    }


def _slices(head: dict[str, Any] | None, base: dict[str, Any] | None, caps: Caps) -> str:
    if not head or caps.slice_columns == 0:
        return ""
    parts = []
    columns = sorted(head)
    for column in columns[:caps.slice_columns]:
        rows = head[column] or []
        metrics = [k for k in (rows[0] if rows else {}) if k not in ("slice", "n")]
        before = {r.get("slice"): r for r in ((base or {}).get(column) or [])}
        headers, align = ["slice", "n"], "lr"
        for m in metrics:
            headers += [f"{m} main", f"{m} PR"]
            align += "rr"
        table_rows = []
        for r in rows:
            b = before.get(r.get("slice"), {})
            line = [cell(r.get("slice")), str(r.get("n", ""))]
            for m in metrics:
                line += [num(b.get(m)), num(r.get(m))]
            table_rows.append(line)
        parts.append(f"**{cell(column)}**\n\n" + charts.table(headers, table_rows, align,
                                                             caps.slices, "slices"))
    if len(columns) > caps.slice_columns:
        parts.append(f"… {len(columns) - caps.slice_columns} more sliced columns in "
                     "`reports/slices.json`")
    return "\n\n".join(parts)


def _curve(inputs: ReportInputs, plot: str, x: str, y: str, kind: str,
           x_label: str, y_label: str, title: str) -> str:
    head = charts.macro_curve(inputs.head.plots.get(plot) or [], x, y, kind)
    if head is None:
        return ""
    base = charts.macro_curve(inputs.base.plots.get(plot) or [], x, y, kind) if inputs.base \
        else None
    lines, n = [head[0]], head[1]
    if base is not None:
        lines.insert(0, base[0])
    which = "main (1st line) vs this PR (2nd line)" if base is not None else "this PR"
    averaged = f", macro average of {n} classes" if n > 1 else ""
    return charts.xychart(f"{title}{averaged}: {which}", x_label, list(charts.GRID), y_label,
                          lines, (0.0, 1.0))


def _predicted_vs_actual(inputs: ReportInputs) -> tuple[str, str]:
    head = charts.binned_predictions(inputs.head.plots.get("predicted_vs_actual") or [])
    if not head:
        return "", ""
    base = charts.binned_predictions(inputs.base.plots.get("predicted_vs_actual") or []) \
        if inputs.base else []
    lines = [[a for a, _, _ in head]]
    if base:
        lines.append([p for _, p, _ in base])
    lines.append([p for _, p, _ in head])
    which = "actual, main, this PR" if base else "actual, this PR"
    chart = charts.xychart(f"Mean prediction by decile of the actual value: {which}",
                           "decile of actual", [str(i + 1) for i in range(len(head))],
                           "value", lines)
    rows = [[str(i + 1), str(n), num(a), num(base[i][1]) if i < len(base) else "—", num(p)]
            for i, (a, p, n) in enumerate(head)]
    return chart, charts.table(["decile", "n", "mean actual", "main", "this PR"], rows, "rrrrr")


def _confusion(rows: list[dict[str, Any]], caps: Caps) -> str:
    data = charts.confusion_table(rows, max(caps.classes, 1))
    if data is None or caps.classes == 0:
        return ""
    labels = [cell(c, 24) for c in data["labels"]]
    body = [[labels[i]] + [str(v) for v in row] for i, row in enumerate(data["matrix"])]
    text = charts.table(["actual \\ predicted", *labels], body, "l" + "r" * len(labels))
    if data["hidden"]:
        text += f"\n\n… {data['hidden']} more classes (smallest by support) not shown"
    return text


def _importance(head: list[dict[str, Any]], base: list[dict[str, Any]], caps: Caps) -> str:
    if not head or caps.features == 0:
        return ""
    before = {r.get("feature"): r.get("importance") for r in base}
    ranked = sorted(head, key=lambda r: -(r.get("importance") or 0))
    rows = [[cell(r.get("feature")), num(before.get(r.get("feature"))),
             num(r.get("importance"))] for r in ranked]
    return charts.table(["feature", "main", "this PR"], rows, "lrr", caps.features, "features")


def same_rows_markdown(inputs: ReportInputs) -> str:
    """Each same-row comparison as a table, with where the base model came from."""
    same = inputs.same_rows
    if same is None:
        return ""
    if same.problem:
        return (f"> **Not compared on the same rows:** {cell(same.problem, 300)}. The table "
                "below compares each model's committed metrics, each on its own test split.\n")
    parts = []
    for c, left_out in zip(same.comparisons, same.left_out, strict=True):
        head = f"**Both models on {cell(c.rows_label)}**"
        if left_out:
            head += (f" ({left_out:,} rows left out: a model trained on them; "
                     f"{c.rows:,} remained)")
        parts.append(head + "\n\n" + comparison.markdown(c))
    if same.own is not None:
        level = f"{same.own.settings.confidence * 100:g}%"
        parts.append(f"The floors judge this PR's model alone on all {same.own.rows:,} rows of "
                     f"its test split (none of them trained it): " + ", ".join(
                         f"{m.estimate.metric} {num(m.estimate.head)} "
                         f"[{num(m.estimate.head_interval.low)}, "
                         f"{num(m.estimate.head_interval.high)}]" for m in same.own.metrics)
                     + f" ({level} intervals).\n")
    parts += [f"> Not compared on {cell(reason, 300)}.\n" for reason in same.skipped]
    parts.append(f"<sub>Base model from {cell(same.source, 200)}.</sub>\n")
    return "\n".join(parts)


def sections(inputs: ReportInputs, caps: Caps) -> dict[str, Any]:
    """The Markdown pieces the template lays out, cut to `caps`."""
    head_plots = inputs.head.plots
    confusion = _confusion(head_plots.get("confusion") or [], caps) if caps.details else ""
    pva_chart, pva_table = _predicted_vs_actual(inputs) if caps.details else ("", "")
    return {
        "headline": _headline(inputs),
        "data_change": data_change_mod.markdown(inputs.data_change),
        "metrics_table": _metrics_table(inputs) if inputs.metrics else "",
        "same_rows": same_rows_markdown(inputs),
        "params": _params(inputs.params, caps.params),
        "gates_table": _gates_table(inputs.gates) if inputs.gates else "",
        "results_table": _results_table(inputs.results),
        "validation": _validation(inputs.head.data_validation, caps),
        "slices": _slices(inputs.head.slices, inputs.base.slices if inputs.base else None, caps)
        if caps.details else "",
        "roc": _curve(inputs, "roc", "fpr", "tpr", "roc", "false positive rate",
                      "true positive rate", "ROC") if caps.charts else "",
        "pr": _curve(inputs, "precision_recall", "recall", "precision", "pr", "recall",
                     "precision", "Precision-recall") if caps.charts else "",
        "pva_chart": pva_chart if caps.charts else "",
        "pva_table": pva_table,
        "confusion": confusion,
        "importance": _importance(inputs.head.importance,
                                  inputs.base.importance if inputs.base else [], caps)
        if caps.details else "",
        "fairness": behaviour.fairness_tables(
            inputs.head.fairness, inputs.base.fairness if inputs.base else None, caps.slices)
        if caps.details else "",
        "model_tests": behaviour.model_tests_table(
            inputs.head.model_tests, inputs.base.model_tests if inputs.base else None)
        if caps.details else "",
        "truncated": caps != CAP_STEPS[0],
    }


def _environment() -> jinja2.Environment:
    # Markdown, not HTML: autoescape would mangle it; every value from the data goes through
    # `cell` before it reaches the template.
    return jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined,  # noqa: S701
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render_markdown(template: str, inputs: ReportInputs, max_chars: int = MAX_CHARS) -> str:
    """Render the report, tightening the caps until it fits in `max_chars`."""
    env = _environment()
    tmpl = env.from_string(template)
    data = summary(inputs)
    context = {"r": data, "base_short": _short(inputs.base_sha),
               "head_short": _short(inputs.head_sha), "inputs": inputs}
    text = ""
    for caps in CAP_STEPS:
        text = tmpl.render(**context, s=sections(inputs, caps))
        if len(text) <= max_chars:
            return text
    # Still too long (an enormous error log or gate list): cut the error tail, the only unbounded
    # free text, and say so.
    cut = replace(inputs, pipeline=replace(inputs.pipeline,
                                           error_tail=inputs.pipeline.error_tail[-2000:]))
    text = tmpl.render(**context | {"inputs": cut}, s=sections(cut, CAP_STEPS[-1]))
    if len(text) > max_chars:
        raise ValueError(f"report is {len(text)} characters even at the tightest caps")
    return text
