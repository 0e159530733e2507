"""Curves and tables for a GitHub comment: Mermaid `xychart-beta` lines on a fixed grid, tables."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from gitops_ml.report.formatting import cell

# A fixed, small grid keeps a chart a few hundred characters whatever the curve's resolution,
# and puts base and head on the same x values so Mermaid can draw them together.
GRID = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _by_class(rows: list[dict[str, Any]], x: str, y: str) -> dict[str, list[tuple[float, float]]]:
    curves: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        if isinstance(row.get(x), int | float) and isinstance(row.get(y), int | float):
            curves[str(row.get("class", ""))].append((float(row[x]), float(row[y])))
    return dict(curves)


def roc_on_grid(points: list[tuple[float, float]], grid: Sequence[float] = GRID) -> list[float]:
    """True-positive rate at each false-positive rate: the best point at or left of it."""
    out = []
    for g in grid:
        reachable = [tpr for fpr, tpr in points if fpr <= g + 1e-12]
        out.append(max(reachable) if reachable else 0.0)
    return out


def pr_on_grid(points: list[tuple[float, float]], grid: Sequence[float] = GRID) -> list[float]:
    """Interpolated precision at each recall: the best precision at that recall or beyond."""
    out = []
    for g in grid:
        reachable = [precision for recall, precision in points if recall >= g - 1e-12]
        out.append(max(reachable) if reachable else 0.0)
    return out


def macro_curve(rows: list[dict[str, Any]], x: str, y: str, kind: str,
                grid: Sequence[float] = GRID) -> tuple[list[float], int] | None:
    """One curve on the grid: the class's own for binary, the macro average for multiclass."""
    curves = _by_class(rows, x, y)
    if not curves:
        return None
    on_grid = roc_on_grid if kind == "roc" else pr_on_grid
    per_class = [on_grid(points, grid) for points in curves.values()]
    mean = [sum(values) / len(per_class) for values in zip(*per_class, strict=True)]
    return mean, len(per_class)


def _tick(value: float) -> str:
    return f"{value:.3g}"


def xychart(title: str, x_label: str, x_values: Sequence[float | str], y_label: str,
            lines: Sequence[Sequence[float]], y_range: tuple[float, float] | None = None) -> str:
    """A Mermaid `xychart-beta` with one line per series (no legend: the title names them)."""
    x_axis = ", ".join(_tick(v) if isinstance(v, float | int) else f'"{cell(v, 20)}"'
                       for v in x_values)
    out = ["xychart-beta", f'  title "{cell(title, 80)}"', f'  x-axis "{x_label}" [{x_axis}]']
    if y_range is None:
        flat = [v for line in lines for v in line]
        low, high = min(flat), max(flat)
        pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
        y_range = (low - pad, high + pad)
    out.append(f'  y-axis "{y_label}" {_tick(y_range[0])} --> {_tick(y_range[1])}')
    out.extend(f"  line [{', '.join(f'{v:.4g}' for v in line)}]" for line in lines)
    return "\n".join(out)


def binned_predictions(rows: list[dict[str, Any]], bins: int = 10
                       ) -> list[tuple[float, float, int]]:
    """Regression rows {actual, predicted} -> (mean actual, mean predicted, n) per quantile bin."""
    pairs = sorted((float(r["actual"]), float(r["predicted"])) for r in rows
                   if isinstance(r.get("actual"), int | float)
                   and isinstance(r.get("predicted"), int | float))
    if not pairs:
        return []
    bins = max(1, min(bins, len(pairs)))
    out = []
    for i in range(bins):
        chunk = pairs[i * len(pairs) // bins:(i + 1) * len(pairs) // bins]
        if chunk:
            out.append((sum(a for a, _ in chunk) / len(chunk),
                        sum(p for _, p in chunk) / len(chunk), len(chunk)))
    return out


def confusion_table(rows: list[dict[str, Any]], max_classes: int) -> dict[str, Any] | None:
    """Confusion rows -> {labels, matrix, hidden}; beyond `max_classes` keep the largest classes."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    support: dict[str, int] = defaultdict(int)
    for row in rows:
        actual, predicted = str(row.get("actual")), str(row.get("predicted"))
        n = int(row.get("count") or 0)
        counts[(actual, predicted)] += n
        support[actual] += n
        support.setdefault(predicted, 0)
    if not support:
        return None
    labels = sorted(support)
    hidden = 0
    if len(labels) > max_classes:
        keep = set(sorted(labels, key=lambda c: (-support[c], c))[:max_classes])
        hidden = len(labels) - len(keep)
        labels = [c for c in labels if c in keep]
    matrix = [[counts.get((a, p), 0) for p in labels] for a in labels]
    return {"labels": labels, "matrix": matrix, "hidden": hidden}


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str,
          max_rows: int | None = None, what: str = "rows") -> str:
    """A Markdown table; `align` is one char per column (l, r, c); long tables end in `… N more`."""
    marks = {"l": "---", "r": "---:", "c": ":-:"}
    shown = list(rows if max_rows is None else rows[:max_rows])
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in shown]
    hidden = len(rows) - len(shown)
    if hidden > 0:
        lines.append("| " + " | ".join([f"… {hidden} more {what}"] + [""] * (len(headers) - 1))
                     + " |")
    return "\n".join(lines)
