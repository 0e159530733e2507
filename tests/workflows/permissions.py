"""The GITHUB_TOKEN permissions GitHub grants one job of a workflow run.

Rules, from "Automatic token authentication", permissions for the GITHUB_TOKEN
(https://docs.github.com/en/actions/security-for-github-actions/security-guides/
automatic-token-authentication#permissions-for-the-github_token) and the `permissions` syntax
(https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#permissions
and #jobsjob_idpermissions):
- a job's `permissions` replace the workflow's; a job without them gets the workflow's; with
  neither, the repository's default (restricted: `contents` and `packages` read; permissive:
  write to every scope except `id-token`);
- "If you specify the access for any of these permissions, all of those that are not specified
  are set to none" (`metadata` stays read); `{}` therefore disables every permission;
- `read-all` / `write-all` give read / write to every available permission (`id-token` has no
  read level: write-all grants it, read-all does not);
- a pull request from a fork gets read access at most, whatever it asks ("pull requests from
  public forks ... the GITHUB_TOKEN has read-only access"), and never `id-token: write` (OIDC is
  not offered to forks' pull requests).
Keys use the REST spelling (`pull_requests`, `id_token`), as GitHub's installation tokens list
them.
"""

from __future__ import annotations

from typing import Any

SCOPES = ("actions", "attestations", "checks", "contents", "deployments", "discussions",
          "id_token", "issues", "models", "packages", "pages", "pull_requests",
          "repository_projects", "security_events", "statuses")
RESTRICTED = {"contents": "read", "packages": "read"}
PERMISSIVE = {scope: "write" for scope in SCOPES if scope != "id_token"}
LEVELS = {"read", "write", "none"}


def _block(block: Any, where: str) -> dict[str, str]:
    if block in ("read-all", "write-all"):
        level = block.split("-")[0]
        return {s: level for s in SCOPES if not (s == "id_token" and level == "read")}
    if not isinstance(block, dict):
        raise ValueError(f"{where}: permissions must be read-all, write-all or a mapping, "
                         f"got {block!r}")
    out = {}
    for scope, level in block.items():
        key = str(scope).replace("-", "_")
        if key not in SCOPES or level not in LEVELS:
            raise ValueError(f"{where}: permissions.{scope}: unknown scope or level {level!r}")
        if level != "none":
            out[key] = level
    return out


def job_permissions(workflow: dict[str, Any], job: str, *, fork: bool = False,
                    default: str = "restricted") -> dict[str, str]:
    """What the token of `job` may do: scope -> "read" | "write" (absent means none)."""
    spec = (workflow.get("jobs") or {})[job]
    if "permissions" in spec:
        perms = _block(spec["permissions"], f"jobs.{job}")
    elif "permissions" in workflow:
        perms = _block(workflow["permissions"], "workflow")
    else:
        perms = dict(RESTRICTED if default == "restricted" else PERMISSIVE)
    if fork:
        perms = {scope: "read" for scope in perms if scope != "id_token"}
    perms["metadata"] = "read"
    return perms
