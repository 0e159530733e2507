"""The DVC remote in CI: may a pull request pull from it, and main pushes data, models, run-cache.

    uv run python -m pipelines.remote status   # would a pull request job pull, and why
    uv run python -m pipelines.remote push     # main: `dvc push --run-cache` when a remote exists
    uv run python -m pipelines.remote pull     # monitor: `dvc pull` when the remote may be used

No remote is needed for the embedded data sources (`sklearn:*`, `synthetic`: the ingest stage
makes them), but one saves retraining: a pull request job pulls the outputs of the stages its
change does not reach, and the run-cache, instead of rerunning them (`pipelines.pr` does it with
`dvc repro --pull --allow-missing`). A pull request from a fork gets no secrets and no OIDC token
from GitHub, so it never pulls: it reproduces, and its report says so.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from gitops_ml.config import DataConfig, read_params
from gitops_ml.errors import UserError
from pipelines.repro import dvc

# Which environment variables carry a remote's credentials, by URL scheme; any one set is enough.
# Remotes not listed (local paths, ssh with an agent, http) need none.
CREDENTIALS: dict[str, tuple[str, ...]] = {
    "s3": ("AWS_ACCESS_KEY_ID", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"),
    "gs": ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_OAUTH_ACCESS_TOKEN"),
    "azure": ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY", "AZURE_CLIENT_SECRET"),
    "gdrive": ("GDRIVE_CREDENTIALS_DATA",),
}
EMBEDDED = ("sklearn:", "synthetic")


@dataclass(frozen=True)
class Decision:
    """Whether to pull, and the one-line reason printed in the CI log."""

    pull: bool
    reason: str


def decide(source: str, remotes: Mapping[str, str], env: Mapping[str, str],
           is_fork: bool) -> Decision:
    """Pure decision: data source, configured remotes (name -> URL), environment, fork or not."""
    if not remotes:
        why = (f"data.source {source!r} is embedded, so no remote is needed"
               if source.startswith(EMBEDDED) else "`dvc remote add -d ...` to add one")
        return Decision(False, f"no DVC remote configured ({why}); stages with missing "
                               "outputs are reproduced")
    if is_fork:
        return Decision(False, "pull request from a fork: GitHub gives it no secrets, so it "
                               "does not use the DVC remote; stages with missing outputs are "
                               "reproduced")
    missing = missing_credentials(remotes, env)
    if missing:
        return Decision(False, "no credentials for remote " + "; ".join(missing))
    return Decision(True, f"remote {', '.join(remotes)} configured with credentials")


def missing_credentials(remotes: Mapping[str, str], env: Mapping[str, str]) -> list[str]:
    """The remotes whose scheme needs credentials none of which is set, with what to set."""
    missing = []
    for name, url in remotes.items():
        needed = CREDENTIALS.get(urlparse(url).scheme, ())
        if needed and not any(env.get(var) for var in needed):
            missing.append(f"{name} ({urlparse(url).scheme}: set one of {', '.join(needed)})")
    return missing


def list_remotes(cwd: Path | None = None) -> dict[str, str]:
    """`dvc remote list`: name -> URL."""
    out = subprocess.run(dvc(["remote", "list"]), cwd=cwd, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise UserError(f"dvc remote list failed: {out.stderr.strip()}")
    remotes = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            remotes[parts[0]] = parts[1]
    return remotes


def is_fork(env: Mapping[str, str]) -> bool:
    """A pull request whose head repository is not this one (both names come from the workflow)."""
    head = env.get("PR_HEAD_REPO", "")
    return bool(head) and head != env.get("GITHUB_REPOSITORY", head)


def decision(params: Path, cwd: Path, env: Mapping[str, str]) -> Decision:
    """Would a pull request job in this environment pull from the DVC remote?"""
    source = DataConfig.from_params(read_params(params)).source
    return decide(source, list_remotes(cwd), env, is_fork(env))


def push(remotes: Mapping[str, str], env: Mapping[str, str], cwd: Path | None = None) -> int:
    """Main: push data, models and the run-cache; no remote is no error, missing credentials are."""
    if not remotes:
        print("remote: skip dvc push: no DVC remote configured")
        return 0
    missing = missing_credentials(remotes, env)
    if missing:
        print(f"remote: cannot push: no credentials for remote {'; '.join(missing)} (set up the "
              "GitHub Environment as README.md \"DVC remote and run-cache\" says)",
              file=sys.stderr)
        return 1
    print(f"remote: dvc push --run-cache to {', '.join(remotes)}")
    return subprocess.run(dvc(["push", "--run-cache"]), cwd=cwd, check=False).returncode


def pull(result: Decision, cwd: Path | None = None) -> int:
    """The monitor: pull data and models when the DVC remote may be used; else say why not."""
    if not result.pull:
        print(f"remote: skip dvc pull: {result.reason}")
        return 0
    print(f"remote: dvc pull --allow-missing: {result.reason}")
    return subprocess.run(dvc(["pull", "--allow-missing"]), cwd=cwd, check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.remote", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["status", "push", "pull"])
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        if args.command == "push":
            return push(list_remotes(), os.environ)
        result = decision(Path(args.params), Path.cwd(), os.environ)
        if args.command == "pull":
            return pull(result)
    except UserError as exc:
        print(f"remote: {exc}", file=sys.stderr)
        return 2
    print(f"remote: {'pull' if result.pull else 'skip dvc pull'}: {result.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
