"""Edit keys of a block-style YAML file line by line, so every comment in it survives."""

from __future__ import annotations

import re
from typing import Any

import yaml

from gitops_ml.errors import UserError

_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_.-]+):(?P<rest>.*)$")
_COMMENT = re.compile(r"(?P<gap>\s+)(?P<comment>#.*)$")


def flow(value: Any) -> str:
    """`value` as one line of flow-style YAML (`[a, b]`, `{abs: 0.01}`, `sklearn:wine`)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("...").strip()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _meaningful(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _find(lines: list[str], path: tuple[str, ...], where: str) -> int:
    """Index of the line holding the last key of `path`, searched inside each parent's block."""
    start, end, parent_indent = 0, len(lines), -1
    found = -1
    for depth, key in enumerate(path):
        found = -1
        child_indent = None
        for i in range(start, end):
            line = lines[i]
            if not _meaningful(line):
                continue
            ind = _indent(line)
            if ind <= parent_indent:
                end = i
                break
            if child_indent is None:
                child_indent = ind
            m = _KEY.match(line)
            if ind == child_indent and m and m.group("key") == key:
                found = i
                break
        if found < 0:
            raise UserError(f"{where}: key {'.'.join(path[:depth + 1])} not found; "
                            "edit the file by hand or restore the key")
        parent_indent = _indent(lines[found])
        start, end = found + 1, len(lines)
    return found


def _block_end(lines: list[str], index: int) -> int:
    """First line after the nested block under `lines[index]` (comments inside it included)."""
    own = _indent(lines[index])
    end = index + 1
    last = index
    while end < len(lines):
        line = lines[end]
        if _meaningful(line):
            if _indent(line) <= own:
                break
            last = end
        end += 1
    return last + 1


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def set_value(text: str, path: tuple[str, ...], value: Any, *, where: str,
              block: bool = False) -> str:
    """`text` with `path` set to `value`; the key's comment stays put.

    The value is one flow-style line, or with `block` (a non-empty mapping) one line per entry.
    A nested block under the key (e.g. the entries of a mapping) is replaced by the new value.
    """
    lines = text.split("\n")
    i = _find(lines, path, where)
    m = _KEY.match(lines[i])
    assert m is not None
    rest = m.group("rest")
    comment = _COMMENT.search(rest) if "#" in rest else None
    block = block and isinstance(value, dict) and bool(value)
    head = f"{m.group('indent')}{m.group('key')}:" + ("" if block else f" {flow(value)}")
    if comment:
        # keep the comment in its column when the new value leaves room for it
        column = len(lines[i]) - len(comment.group("comment"))
        head = head.ljust(column - 1) + " " + comment.group("comment")
    children = [f"{m.group('indent')}  {k}: {flow(v)}" for k, v in value.items()] if block else []
    lines[i:_block_end(lines, i)] = [head, *children]
    new = "\n".join(lines)
    try:
        got = _get(yaml.safe_load(new), path)
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise UserError(f"{where}: could not set {'.'.join(path)} ({exc})") from exc
    if got != value:
        raise UserError(f"{where}: setting {'.'.join(path)} to {value!r} read back as {got!r}")
    return new
