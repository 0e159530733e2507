"""Helpers for the PR pipeline tests: git, params edits, and running the pipeline in-process."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def _tool_env() -> dict[str, str]:
    """DVC stages call `gitops-ml`: this interpreter's scripts first on PATH; a git identity."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
                "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
                "DVC_NO_ANALYTICS": "1"})
    return env


@contextmanager
def tool_env() -> Iterator[None]:
    """Run in-process code (which spawns git and DVC) with `_tool_env()`, then restore."""
    saved, wanted = dict(os.environ), _tool_env()
    os.environ.clear()
    os.environ.update(wanted)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def sh(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command in `cwd`, failing the test with its output when it fails."""
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False,
                         env=_tool_env())
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n"
                             f"{out.stderr}")
    return out


def commit(repo: Path, message: str) -> str:
    """Stage everything and commit; returns the new HEAD."""
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-q", "-m", message], repo)
    return sh(["git", "rev-parse", "HEAD"], repo).stdout.strip()


def set_param(repo: Path, pattern: str, replacement: str) -> None:
    """Edit params.yaml by one regex substitution (keeps its comments and layout)."""
    path = repo / "params.yaml"
    text, count = re.subn(pattern, replacement, path.read_text(), count=1, flags=re.M)
    assert count == 1, f"{pattern!r} not found in params.yaml"
    path.write_text(text)


def remove_dvc_outputs(repo: Path) -> None:
    """Make the repo look like a fresh CI checkout: no DVC cache, no git-ignored outputs, but
    the data `dvc add` tracks (CI pulls it before anything runs)."""
    from repo_tools import dvc_tracked

    tracked = [rel for rel in subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True,
                                             text=True, check=True).stdout.split()
               if rel.endswith(".dvc")]
    kept = {rel: (repo / rel).read_bytes() for rel in dvc_tracked(repo, tracked)
            if (repo / rel).is_file()}
    shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
    sh(["git", "clean", "-q", "-f", "-d", "-X", "--", "data", "models"], repo)
    for rel, content in kept.items():
        (repo / rel).write_bytes(content)


def branch(repo: Path, name: str = "pr") -> None:
    """Start a pull-request branch."""
    sh(["git", "checkout", "-q", "-b", name], repo)


def run_pr(repo: Path, *args: str) -> tuple[int, str, dict]:
    """`python -m pipelines.pr` in-process in `repo`; returns (exit code, Markdown, JSON)."""
    from pipelines import pr

    cwd = Path.cwd()
    os.chdir(repo)
    try:
        with tool_env():
            code = pr.main(list(args) if "--base-ref" in args else ["--base-ref", "main", *args])
    finally:
        os.chdir(cwd)
    md = repo / "reports" / "pr_report.md"
    js = repo / "reports" / "pr_report.json"
    return (code, md.read_text() if md.exists() else "",
            json.loads(js.read_text()) if js.exists() else {})
