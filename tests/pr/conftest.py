"""Fixtures for the PR pipeline: a throwaway git repo of this project with results on main."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from prtools import PROJECT

if str(PROJECT) not in sys.path:   # `pipelines/` is run as `python -m`, not installed
    sys.path.insert(0, str(PROJECT))


@pytest.fixture
def repo(main_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of `main_repo` (git history, DVC cache, outputs), as the working directory."""
    copy = tmp_path / "repo"
    shutil.copytree(main_repo, copy, symlinks=True)
    monkeypatch.chdir(copy)
    return copy


