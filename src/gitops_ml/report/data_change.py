"""What changed in the data between the baseline and the pull request (`reports/data.json`).

`ingest` writes the summary (source, SHA-256 of the source file, batch hashes, rows, column
types); comparing the two commits' summaries says whether the model was retrained on other data,
and so whether a metric moved because of the change or because of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitops_ml.report.formatting import cell


@dataclass(frozen=True)
class DataChange:
    """The data as the baseline and the pull request ingested it (None: no summary there)."""

    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def changed(self) -> bool:
        """True when the pull request trained on other data than the baseline."""
        if self.before is None or self.after is None:
            return False
        keys = ("source", "sha256", "batches", "rows", "columns")
        return any(self.before.get(k) != self.after.get(k) for k in keys)

    def _columns(self, side: dict[str, Any] | None) -> dict[str, str]:
        cols = (side or {}).get("columns") or {}
        return {str(k): str(v) for k, v in cols.items()} if isinstance(cols, dict) else {}

    @property
    def added(self) -> list[str]:
        return sorted(set(self._columns(self.after)) - set(self._columns(self.before)))

    @property
    def removed(self) -> list[str]:
        return sorted(set(self._columns(self.before)) - set(self._columns(self.after)))

    @property
    def retyped(self) -> list[tuple[str, str, str]]:
        """Columns on both sides whose type changed: (name, before, after)."""
        before, after = self._columns(self.before), self._columns(self.after)
        return [(c, before[c], after[c]) for c in sorted(set(before) & set(after))
                if before[c] != after[c]]

    def as_dict(self) -> dict[str, Any]:
        b, a = self.before or {}, self.after or {}
        return {
            "changed": self.changed,
            "source": {"before": b.get("source"), "after": a.get("source")},
            "sha256": {"before": b.get("sha256"), "after": a.get("sha256")},
            "rows": {"before": b.get("rows"), "after": a.get("rows")},
            "batches": {"before": len(b.get("batches") or []),
                        "after": len(a.get("batches") or [])},
            "columns_added": self.added, "columns_removed": self.removed,
            "columns_retyped": [{"column": c, "before": x, "after": y}
                                for c, x, y in self.retyped],
        }


def compare(before: dict[str, Any] | None, after: dict[str, Any] | None) -> DataChange | None:
    """The change, or None when the pull request has no data summary to compare."""
    if not isinstance(after, dict):
        return None
    return DataChange(before if isinstance(before, dict) else None, after)


def _hash(value: Any) -> str:
    return f"`{str(value)[:12]}`" if value else "— (made by code: see `data.source`)"


def _names(names: list[str], cap: int = 10) -> str:
    shown = ", ".join(f"`{cell(n, 40)}`" for n in names[:cap])
    return shown + (f" … {len(names) - cap} more" if len(names) > cap else "")


def markdown(change: DataChange | None) -> str:
    """The report section: empty unless the pull request trained on other data."""
    if change is None or not change.changed:
        return ""
    d = change.as_dict()
    rows = d["rows"]
    delta = ""
    if isinstance(rows["before"], int) and isinstance(rows["after"], int):
        delta = f" ({rows['after'] - rows['before']:+,})"
    lines = [
        "### 🔵 The data changed: this pull request retrained on other data",
        "",
        f"- rows: {rows['before']:,} → {rows['after']:,}{delta}"
        if isinstance(rows["before"], int) and isinstance(rows["after"], int)
        else f"- rows: {rows['before']} → {rows['after']}",
    ]
    if d["source"]["before"] != d["source"]["after"]:
        lines.append(f"- `data.source`: `{cell(d['source']['before'], 80)}` → "
                     f"`{cell(d['source']['after'], 80)}`")
    lines.append(f"- content SHA-256: {_hash(d['sha256']['before'])} → "
                 f"{_hash(d['sha256']['after'])}")
    if d["batches"]["before"] != d["batches"]["after"]:
        lines.append(f"- labelled batches: {d['batches']['before']} → {d['batches']['after']}")
    if change.added:
        lines.append(f"- columns added: {_names(change.added)}")
    if change.removed:
        lines.append(f"- columns removed: {_names(change.removed)}")
    if change.retyped:
        lines.append("- columns retyped: " + ", ".join(
            f"`{cell(c, 40)}` {x} → {y}" for c, x, y in change.retyped[:10]))
    lines += ["", "> Regression gates (`gates.max_regression`) compare this model with the "
              "baseline's, which was trained on different data: a metric can move because the "
              "data did, not the change. The test set changed too, so read the deltas with that "
              "in mind; the floors (`gates.floors`) still apply as absolute limits.", ""]
    return "\n".join(lines)
