"""Fixtures for the template tests: the template as a git repository, and clones of it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from repo_tools import sh

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template's tracked files in a new git repo on `main` (no pipeline run; read-only)."""
    repo = tmp_path_factory.mktemp("template") / "gitops-ml"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if (ROOT / rel).is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, repo / rel)
    sh(["git", "init", "-q", "-b", "main"], repo)
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", "template"], repo)
    return repo


@pytest.fixture
def fork(template_repo: Path, tmp_path: Path) -> Path:
    """A fresh clone of the template: what `Use this template` gives a team."""
    clone = tmp_path / "fork"
    sh(["git", "clone", "-q", str(template_repo), str(clone)], tmp_path)
    return clone
