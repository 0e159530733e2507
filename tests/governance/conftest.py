"""Fixtures for the governance tests: a fake GitHub API served on a free local port."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
if str(PROJECT) not in sys.path:   # `pipelines/` is run as `python -m`, not installed
    sys.path.insert(0, str(PROJECT))

from fake_rulesets_api import FakeGitHub  # noqa: E402


@pytest.fixture
def github() -> Iterator[tuple[FakeGitHub, str]]:
    fake = FakeGitHub("acme/churn", read_only_token="read-token")
    url = fake.start()
    yield fake, url
    fake.stop()
