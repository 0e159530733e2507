"""Fixtures for the PR pipeline: a throwaway git repo of this project with results on main."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from prtools import PER_RUN_OUTPUTS, PROJECT, commit, sh

if str(PROJECT) not in sys.path:   # `pipelines/` is run as `python -m`, not installed
    sys.path.insert(0, str(PROJECT))


@pytest.fixture(scope="session")
def main_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project in a new git repo whose `main` holds committed pipeline results (one repro)."""
    repo = tmp_path_factory.mktemp("project") / "repo"
    listed = sh(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], PROJECT)
    for name in filter(None, listed.stdout.split("\0")):
        src = PROJECT / name
        if name in PER_RUN_OUTPUTS or not src.is_file():
            continue
        dst = repo / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    sh(["git", "init", "-q", "-b", "main"], repo)
    commit(repo, "template")
    sh([sys.executable, "-m", "dvc", "repro", "--quiet"], repo)
    commit(repo, "pipeline results")
    return repo


@pytest.fixture
def repo(main_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of `main_repo` (git history, DVC cache, outputs), as the working directory."""
    copy = tmp_path / "repo"
    shutil.copytree(main_repo, copy, symlinks=True)
    monkeypatch.chdir(copy)
    return copy


