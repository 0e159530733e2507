"""The /predict answer's `predictions`, written as JSON text in a few C calls, not a dict a row.

Building a dict per row (and one per row's probabilities) for orjson to walk again cost more
than scoring a 100-row batch with ONNX Runtime (bench/serve.py). Here orjson writes the numbers
once, as one flat list, and the rows are laid out by one `%` on a template: byte for byte what
`orjson.dumps` writes for the same dicts (tests/serve/test_answer.py holds it to that).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from itertools import chain

import numpy as np
import orjson


def _numbers(values: np.ndarray) -> list[bytes]:
    """Each value as orjson writes it (finite floats: scoring refused NaN and infinity)."""
    text = orjson.dumps(values.ravel().tolist())
    return text[1:-1].split(b",") if len(text) > 2 else []


@functools.cache
def _row(classes: tuple[str, ...]) -> bytes:
    """One row's template: the label, then each class's probability."""
    # '%' must not read a class name: each piece of JSON text is escaped for the template
    keys = [orjson.dumps(c).replace(b"%", b"%%") for c in classes]
    return b'{"label":%b,"probabilities":{' + b",".join(k + b":%b" for k in keys) + b"}}"


def classified(classes: Sequence[str], labels: Sequence[str],
               probabilities: np.ndarray) -> orjson.Fragment:
    """`[{"label": ..., "probabilities": {class: p, ...}}, ...]`; probabilities [rows, classes]."""
    row = _row(tuple(classes))
    n, k = len(labels), len(classes)
    if probabilities.shape != (n, k):
        raise ValueError(f"probabilities of shape {probabilities.shape} for {n} rows, {k} classes")
    values = _numbers(probabilities)
    names = list(map(orjson.dumps, labels))
    args = tuple(chain.from_iterable(zip(names, *(values[j::k] for j in range(k)), strict=True)))
    return orjson.Fragment(b"[" + b",".join([row] * n) % args + b"]")


def regressed(values: np.ndarray) -> orjson.Fragment:
    """`[{"value": v}, ...]`."""
    numbers = _numbers(values)
    return orjson.Fragment(b"[" + b",".join([b'{"value":%b}'] * len(numbers))
                           % tuple(numbers) + b"]")
