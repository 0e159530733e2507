"""Fixtures for the template tests: the template as a git repository, and clones of it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from repo_tools import git_repo_of_tracked_files, sh

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:   # `pipelines/` is run as `python -m`, not installed
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template's tracked files in a new git repo on `main` (no pipeline run; read-only)."""
    repo = git_repo_of_tracked_files(ROOT, tmp_path_factory.mktemp("template") / "gitops-ml")
    return repo


@pytest.fixture
def fork(template_repo: Path, tmp_path: Path) -> Path:
    """A fresh clone of the template: what `Use this template` gives a team."""
    clone = tmp_path / "fork"
    sh(["git", "clone", "-q", str(template_repo), str(clone)], tmp_path)
    return clone
