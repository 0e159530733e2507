"""Fixtures for the workflow scenarios: one local GitHub + act harness per test module."""

from __future__ import annotations

import fcntl
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # `pipelines/` is not installed

from harness import Harness, prerequisites  # noqa: E402

LOCK = Path(tempfile.gettempdir()) / "gitops-ml-workflow-harness.lock"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    why = prerequisites()
    if why:
        pytest.skip(f"workflow harness: {why}")
    # The local GitHub must listen on 127.0.0.1:80 (harness.py), so one scenario module at a
    # time on this machine: whichever xdist worker or pytest session holds the lock runs.
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        harness = Harness.start(tmp_path_factory.mktemp("github"))
        try:
            yield harness
        finally:
            harness.stop()
