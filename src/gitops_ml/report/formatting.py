"""Number and table-cell formatting shared by the gates, the charts and the template."""

from __future__ import annotations

import json
import re
from typing import Any

MINUS = "\u2212"  # a real minus sign: reads better than a hyphen in tables


def num(value: float | None, digits: int = 4) -> str:
    """A metric value: fixed decimals, scientific only when very small or very large."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    size = abs(value)
    if size < 10**-digits or size >= 1e6:
        text = f"{value:.2e}"
    elif size >= 100:
        text = f"{value:,.2f}"
    else:
        text = f"{value:.{digits}f}"
    return text.replace("-", MINUS)


def signed(value: float | None, digits: int = 4) -> str:
    """A delta with its sign: `+0.0022`, `−0.0100`, `0`."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    return ("+" if value > 0 else "") + num(value, digits)


def pct(value: float | None) -> str:
    """A relative change as a signed percentage: `+6.5%`."""
    if value is None:
        return "—"
    if value == 0:
        return "0%"
    text = f"{value * 100:+.1f}%" if abs(value) >= 0.0005 else f"{value * 100:+.2g}%"
    return text.replace("-", MINUS)


_CELL_UNSAFE = re.compile(r"[|<>`\\\r\n\t]")


def cell(value: Any, limit: int = 60) -> str:
    """Text from the data (feature, class, slice names, param values) made safe for a table cell.

    Pipes, angle brackets and backticks would break the table or inject markup; long values are
    cut so one odd name cannot blow the comment's size limit.
    """
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = _CELL_UNSAFE.sub(lambda m: {"|": "¦", "<": "‹", ">": "›", "`": "'"}.get(m.group(), " "),
                            text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
