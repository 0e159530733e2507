"""The rules a pull request is judged by come from its base branch, and changes to them are shown.

The rules are the `gates:` section of params.yaml, the data contract (contract.yaml), the PR
pipeline (pipelines/), the code that evaluates gates and contract (src/gitops_ml/report/,
src/gitops_ml/contract.py) and the workflows (.github/). A pull request may change them, but its
report then judges it by the base branch's gates and contract, opens with a "rules changed"
section holding the diff, and needs a code owner's approval to merge (.github/CODEOWNERS and the
`main` ruleset). Running the base branch's pipelines/ and workflows is the workflow's part: it
runs the PR pipeline from a checkout of the base (README, "Governance").
"""

from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_ml import contract as contract_mod
from gitops_ml.config import parse_yaml
from gitops_ml.report import commits

# Paths (besides params.yaml's `gates:`) whose change is a change of the rules.
RULE_PATHS = ("contract.yaml", "pipelines/", ".github/", "src/gitops_ml/report/",
              "src/gitops_ml/contract.py")
MAX_DIFF_CHARS = 12_000   # the report must fit one GitHub comment (65,536 characters)


@dataclass(frozen=True)
class RulesChange:
    """Which rule files a pull request changes, and the diff (cut to MAX_DIFF_CHARS)."""

    files: tuple[str, ...] = ()
    diff: str = ""
    truncated: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.files)

    def as_dict(self) -> dict[str, Any]:
        return {"changed": self.changed, "files": list(self.files), "truncated": self.truncated}


def _gates_of(text: str | None) -> Any:
    try:
        doc = parse_yaml(text or "") or {}
    except yaml.YAMLError:
        return {"<params.yaml is not valid YAML>": True}
    return doc.get("gates") if isinstance(doc, dict) else None


def changes(base_sha: str, head_sha: str, root: Path, params: str = "params.yaml",
            contract: str = "contract.yaml") -> RulesChange:
    """The rule changes between the merge-base and the pull request's head commit."""
    paths = [contract if p == "contract.yaml" else p for p in RULE_PATHS]
    names = commits.git(["diff", "--name-only", base_sha, head_sha, "--", *paths], root)
    files = [f for f in names.stdout.splitlines() if f]
    parts = []
    if files:
        parts.append(commits.git(["diff", "--no-color", base_sha, head_sha, "--", *files],
                                  root).stdout)
    base_gates = _gates_of(commits.show(base_sha, params, root))
    head_gates = _gates_of(commits.show(head_sha, params, root))
    if base_gates != head_gates:
        files.insert(0, f"{params} (gates:)")
        parts.insert(0, "".join(difflib.unified_diff(
            yaml.safe_dump({"gates": base_gates}, sort_keys=False).splitlines(keepends=True),
            yaml.safe_dump({"gates": head_gates}, sort_keys=False).splitlines(keepends=True),
            f"a/{params} (gates:)", f"b/{params} (gates:)")))
    diff = "".join(parts)
    truncated = len(diff) > MAX_DIFF_CHARS
    return RulesChange(tuple(files), diff[:MAX_DIFF_CHARS] if truncated else diff, truncated)


def base_params(base_sha: str, params: str, root: Path) -> dict[str, Any] | None:
    """params.yaml as the base branch has it; None when it has none or it is not a mapping."""
    try:
        doc = parse_yaml(commits.show(base_sha, params, root) or "")
    except yaml.YAMLError:
        return None
    return doc if isinstance(doc, dict) else None


def base_contract(base_sha: str, contract: str, root: Path) -> contract_mod.Contract | None:
    """The base branch's data contract; None when it has none (a first pull request)."""
    text = commits.show(base_sha, contract, root)
    if text is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contract.yaml"
        path.write_text(text)
        return contract_mod.load(path)
