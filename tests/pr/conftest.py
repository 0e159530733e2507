"""Fixtures for the PR pipeline: a throwaway git repo of this project with results on main."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prtools import PER_RUN_OUTPUTS, PROJECT, commit, sh

if str(PROJECT) not in sys.path:   # `pipelines/` is run as `python -m`, not installed
    sys.path.insert(0, str(PROJECT))


@pytest.fixture(scope="session", autouse=True)
def _tool_env() -> Iterator[None]:
    """DVC stages call `gitops-ml`: put this interpreter's scripts first on PATH; git identity."""
    saved = dict(os.environ)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.update({"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
                       "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
                       "DVC_NO_ANALYTICS": "1"})
    os.environ.pop("GITHUB_STEP_SUMMARY", None)
    yield
    os.environ.clear()
    os.environ.update(saved)


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


