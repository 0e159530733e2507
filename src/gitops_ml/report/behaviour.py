"""Report tables for the model_tests stage: fairness per group and behavioural tests, main vs PR."""

from __future__ import annotations

from typing import Any

from gitops_ml.report import charts
from gitops_ml.report.formatting import cell, num

RATES = (("selection_rate", "selection"), ("true_positive_rate", "TPR"),
         ("false_positive_rate", "FPR"))
ERRORS = (("mae", "MAE"),)


def _interval(stat: dict[str, Any] | None) -> str:
    """`0.41 [0.30, 0.53]`: the value and its 95% interval."""
    if not isinstance(stat, dict) or stat.get("value") is None:
        return "—"
    ci = stat.get("ci")
    return num(stat["value"], 3) + (f" [{num(ci[0], 3)}, {num(ci[1], 3)}]"
                                    if isinstance(ci, list) and None not in ci else "")


def _value(stat: dict[str, Any] | None) -> str:
    return num(stat.get("value"), 3) if isinstance(stat, dict) else "—"


def fairness_tables(head: dict[str, Any] | None, base: dict[str, Any] | None,
                    max_groups: int) -> str:
    """Per protected column: each group's rates (or error) on main and in the PR, then the gaps."""
    columns = (head or {}).get("columns") or {}
    if not columns or max_groups == 0:
        return ""
    before_cols = (base or {}).get("columns") or {}
    regression = head.get("task") == "regression"
    stats = ERRORS if regression else RATES
    parts = []
    for column, result in sorted(columns.items()):
        before = {g.get("group"): g for g in (before_cols.get(column) or {}).get("groups") or []}
        headers, align = ["group", "n"], "lr"
        for _, label in stats:
            headers += [f"{label} main", f"{label} PR (95% CI)"]
            align += "rr"
        rows = []
        for g in result.get("groups") or []:
            b = before.get(g.get("group"), {})
            line = [cell(g.get("group")) + (" ⚠️ too small" if g.get("too_small") else ""),
                    str(g.get("n", ""))]
            for key, _ in stats:
                line += [_value(b.get(key)), _interval(g.get(key))]
            rows.append(line)
        gaps = result.get("gaps") or {}
        base_gaps = (before_cols.get(column) or {}).get("gaps") or {}
        gap_rows = [[name, num(base_gaps.get(name)), num(value)] for name, value in gaps.items()]
        parts.append(f"**{cell(column)}**\n\n"
                     + charts.table(headers, rows, align, max_groups, "groups") + "\n\n"
                     + charts.table(["gap (judged groups)", "main", "this PR"], gap_rows, "lrr"))
    small = head.get("min_group_size")
    parts.append(f"Groups under {small} rows are marked too small: shown with their interval, "
                 "left out of the gaps.")
    return "\n\n".join(parts)


def model_tests_table(head: dict[str, Any] | None, base: dict[str, Any] | None) -> str:
    """Each behavioural test's failing rows on main and in the PR, and the robustness flip rate."""
    tests = (head or {}).get("tests")
    if not isinstance(tests, list):
        return ""
    before = {t.get("name"): t for t in (base or {}).get("tests") or []}
    marks = {True: "✅", False: "❌"}
    rows = []
    for t in tests:
        b = before.get(t.get("name"))
        main = f"{b.get('failing')}/{b.get('rows')}" if b else "—"
        example = (t.get("examples") or [None])[0]
        rows.append([cell(t.get("name"), 80) + (" (warn-only)" if t.get("warn_only") else ""),
                     t.get("kind", ""), main, f"{t.get('failing')}/{t.get('rows')}",
                     marks[bool(t.get("passed"))],
                     cell(_example(example), 100) if example else ""])
    text = charts.table(["test", "kind", "failing main", "failing PR", "", "first failure"],
                        rows, "llrrcl") if rows else "No behavioural tests declared."
    robust = head.get("robustness")
    if isinstance(robust, dict):
        was = ((base or {}).get("robustness") or {}).get("flip_rate")
        text += (f"\n\nRobustness: {num(robust.get('flip_rate'))} of predictions flip under "
                 f"noise of {robust.get('noise')} std and {robust.get('category_swap')} category "
                 f"swaps (main: {num(was)}).")
    return text


def _example(example: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in example.items())
