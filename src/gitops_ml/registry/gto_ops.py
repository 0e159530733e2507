"""Write to the registry through GTO (`gto register`, `gto assign`), so every tag is GTO's own."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gitops_ml import git_identity
from gitops_ml.errors import UserError


def _gto_api():  # type: ignore[no-untyped-def]
    """Import GTO on first use: it takes seconds, and reading the registry does not need it."""
    from gto import api
    from gto.exceptions import GTOException

    return api, GTOException


def register(repo: Path, artifact: str, version: str, message: str, ref: str = "HEAD") -> str:
    """Tag `ref` as `<artifact>@<version>` with `message`; returns the tag name."""
    git_identity.require(repo, f"register {artifact}@{version}", tag=True)
    api, gto_error = _gto_api()
    try:
        api.register(str(repo), artifact, ref, version=version, message=message)
    except gto_error as exc:
        raise UserError(f"gto register {artifact} {ref} --version {version}: {exc}") from None
    return f"{artifact}@{version}"


def assign(repo: Path, artifact: str, version: str, stage: str, message: str | None = None) -> str:
    """Tag an assignment of `stage` to `version` (`<artifact>#<stage>#<n>`); returns the tag name.

    `force` lets a version return to a stage it held before: that is what a rollback is.
    """
    git_identity.require(repo, f"assign {artifact} {version} to {stage}", tag=True)
    api, gto_error = _gto_api()
    before = _tags(repo)
    try:
        api.assign(str(repo), artifact, stage, version=version, message=message, force=True)
    except gto_error as exc:
        raise UserError(f"gto assign {artifact} --version {version} --stage {stage}: {exc}"
                        ) from None
    new = sorted(_tags(repo) - before)
    if len(new) != 1:
        raise RuntimeError(f"gto assign created {len(new)} tags, expected one: {new}")
    return new[0]


def push(repo: Path, remote: str, tag: str) -> None:
    """Push one tag; a rejected push is an error, never a silent success."""
    done = subprocess.run(["git", "push", remote, f"refs/tags/{tag}"], cwd=repo,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise UserError(f"git push {remote} {tag}: {done.stderr.strip()}")


def _tags(repo: Path) -> set[str]:
    out = subprocess.run(["git", "tag", "--list"], cwd=repo, capture_output=True, text=True,
                         check=True, timeout=60)
    return set(out.stdout.split())
