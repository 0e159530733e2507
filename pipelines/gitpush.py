"""Push refs back to this repository from a workflow, with the token in a header, not the URL.

    python3 -m pipelines.gitpush [--force] REFSPEC...

Reads GH_TOKEN, GITHUB_SERVER_URL and GITHUB_REPOSITORY.

As actions/checkout does with `persist-credentials`: the token travels as an
`Authorization: basic` header (x-access-token:TOKEN), passed to git through GIT_CONFIG_* environment
variables so it is neither in the URL nor on the command line, and the URL is built from
GITHUB_SERVER_URL as given (https://github.com, or a GitHub Enterprise Server's own URL).
Standard library only. A push made with the workflow's GITHUB_TOKEN starts no other workflow
(GitHub's rule against recursive runs); one made with an App token or a personal token does.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence


def authenticated(env: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """This repository's URL and the environment whose git config sends the token with it (for a
    push, or a fetch of a ref the checkout does not have)."""
    missing = [k for k in ("GH_TOKEN", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY") if not env.get(k)]
    if missing:
        raise ValueError(f"gitpush: {', '.join(missing)} not set")
    server = env["GITHUB_SERVER_URL"].rstrip("/")
    header = base64.b64encode(f"x-access-token:{env['GH_TOKEN']}".encode()).decode()
    count = int(env.get("GIT_CONFIG_COUNT", "0") or "0")
    extra = {"GIT_CONFIG_COUNT": str(count + 1),
             f"GIT_CONFIG_KEY_{count}": f"http.{server}/.extraheader",
             f"GIT_CONFIG_VALUE_{count}": f"AUTHORIZATION: basic {header}"}
    return f"{server}/{env['GITHUB_REPOSITORY']}.git", {**env, **extra}


def push_command(refspecs: Sequence[str], env: Mapping[str, str],
                 force: bool = False) -> tuple[list[str], dict[str, str]]:
    """The `git push` command and the environment that authenticates it."""
    url, auth = authenticated(env)
    return ["git", "push", *(["--force"] if force else []), url, *refspecs], auth


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m pipelines.gitpush", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("refspecs", nargs="+")
    args = parser.parse_args(argv)
    try:
        cmd, env = push_command(args.refspecs, os.environ, args.force)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    return subprocess.run(cmd, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
