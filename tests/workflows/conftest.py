"""Fixtures for the workflow scenarios: one local GitHub + act harness per test module."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # `pipelines/` is not installed

from harness import Harness, prerequisites  # noqa: E402


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    why = prerequisites()
    if why:
        pytest.skip(f"workflow harness: {why}")
    harness = Harness.start(tmp_path_factory.mktemp("github"))
    try:
        yield harness
    finally:
        harness.stop()
