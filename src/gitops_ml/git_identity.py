"""Before a commit or a tag: say which git setting is missing, not git's bare exit status 128."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gitops_ml.errors import UserError


def require(repo: Path | str, action: str, tag: bool = False) -> None:
    """Raise a UserError naming the settings when git has no author or committer identity in
    `repo` (a fresh machine or CI runner without `git config user.name`/`user.email`). An
    annotated tag needs only the committer's: git records it as the tagger (git-tag(1), and
    main.yml sets only GIT_COMMITTER_* for the registration tag)."""
    for who in ("COMMITTER",) if tag else ("AUTHOR", "COMMITTER"):
        out = subprocess.run(["git", "var", f"GIT_{who}_IDENT"], cwd=repo, capture_output=True,
                             text=True, timeout=30, check=False)
        if out.returncode != 0:
            raise UserError(
                f"{action}: git has no {who.lower()} identity in {repo}: set user.name and "
                "user.email (`git config user.name 'CI'; git config user.email ci@example.com`)"
                f" or the environment variables GIT_{who}_NAME and GIT_{who}_EMAIL")
