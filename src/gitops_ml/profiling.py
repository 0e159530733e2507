"""Named wall-clock sections, so a benchmark can tell the estimator's time from the pipeline's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

_SECTIONS: dict[str, float] = {}


@contextmanager
def section(name: str) -> Iterator[None]:
    """Add the block's wall time to the total for `name`."""
    start = time.perf_counter()
    try:
        yield
    finally:
        _SECTIONS[name] = _SECTIONS.get(name, 0.0) + time.perf_counter() - start


def totals() -> dict[str, float]:
    """Seconds spent in each named section so far in this process."""
    return dict(_SECTIONS)
