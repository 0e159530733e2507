"""CODEOWNERS for a new project: its owner must approve changes to the rules (README, Governance).

`gitops-ml init` calls `write` with the project's owner: every rule line of .github/CODEOWNERS
then names `@<owner>`, comments and paths kept. For an organisation, replace it with a team
(`@org/team`): GitHub ignores an organisation name as a code owner.
"""

from __future__ import annotations

import re
from pathlib import Path

from gitops_ml.errors import UserError

# The paths whose changes need the owner's review; the rules (src/gitops_ml/report/rules.py),
# where deploys come from, and what builds the image.
PATHS = ("/params.yaml", "/contract.yaml", "/model_tests.yaml", "/pipelines/", "/.github/",
         "/src/gitops_ml/report/", "/src/gitops_ml/contract.py", "/deploy/", "/dvc.yaml",
         "/Dockerfile", "/pyproject.toml", "/uv.lock")
OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9._-]+)?$")


def render(text: str | None, owner: str) -> str:
    """`text` (the current file, or None) with every rule owned by `@owner`."""
    if not OWNER.match(owner):
        raise UserError(f"owner: {owner!r} is not a GitHub user, organisation or org/team name")
    if text is None:
        width = max(len(p) for p in PATHS) + 2
        return ("# Who must approve changes to the rules (README, Governance). Written by "
                "`gitops-ml init`.\n" + "".join(f"{p.ljust(width)}@{owner}\n" for p in PATHS))
    out = []
    for line in text.splitlines(keepends=True):
        if line.strip() and not line.lstrip().startswith("#"):
            path = line.split()[0]
            line = f"{path.ljust(max(18, len(path) + 1))}@{owner}\n"
        out.append(line)
    return "".join(out)


def write(path: Path, owner: str) -> bool:
    """Rewrite `path` for `owner`; False (nothing written) when owner is empty or it is as is."""
    if not owner:
        return False
    current = path.read_text() if path.is_file() else None
    new = render(current, owner)
    if new == current:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)
    return True
