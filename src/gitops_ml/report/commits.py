"""Reading the repository at a commit: refs, the merge-base with the base branch, and files.

Its own module so that what reads a commit (`baseline` for results, `rules` for the gates and
the contract) does not import the report's rendering.
"""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

from gitops_ml.errors import UserError


def git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run git; the caller decides what a non-zero exit means."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def rev_parse(ref: str, cwd: Path) -> str | None:
    """The commit a ref names, or None."""
    out = git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd)
    return out.stdout.strip() if out.returncode == 0 else None


def resolve_base(candidates: list[str], cwd: Path) -> tuple[str, str]:
    """The first ref of `candidates` that exists, and its commit."""
    for ref in candidates:
        sha = rev_parse(ref, cwd)
        if sha:
            return ref, sha
    raise UserError(f"--base-ref: none of {', '.join(candidates)} names a commit here "
                    "(in CI, check out with fetch-depth: 0)")


def merge_base(a: str, b: str, cwd: Path) -> str:
    """Where the pull request branched off the base branch."""
    out = git(["merge-base", a, b], cwd)
    if out.returncode != 0:
        raise UserError(f"--base-ref: {b} shares no history with {a} ({out.stderr.strip()})")
    return out.stdout.strip()


def show(sha: str, path: str, cwd: Path) -> str | None:
    """A file's text at a commit, or None when the commit does not have it."""
    out = git(["show", f"{sha}:{PurePosixPath(path).as_posix()}"], cwd)
    return out.stdout if out.returncode == 0 else None
