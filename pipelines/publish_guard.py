"""Stop a publishing run that is not on the default branch, before it touches any credential.

    python3 -m pipelines.publish_guard          # the first step of each job in main.yml

main.yml pushes data to the DVC remote, the image to the registry and registration tags; a
manual dispatch on another branch must do none of it. The job-level `if:` in main.yml skips such
runs; this check fails them loudly should that `if:` ever be lost. It reads GITHUB_REF and the
event payload's repository.default_branch (GITHUB_EVENT_PATH), both set by GitHub Actions
(https://docs.github.com/en/actions/reference/workflows-and-actions/variables). Standard library
only, so it runs before anything is installed. Exit 1 with one line when the ref is not the
default branch, 2 when the context is missing.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping


def check(env: Mapping[str, str]) -> str:
    """The default branch the run is on; raises ValueError (exit 1) or KeyError (exit 2)."""
    ref = env.get("GITHUB_REF")
    event_path = env.get("GITHUB_EVENT_PATH")
    if not ref or not event_path:
        raise KeyError("GITHUB_REF and GITHUB_EVENT_PATH: not set (run inside GitHub Actions)")
    try:
        with open(event_path, encoding="utf-8") as fh:
            default = json.load(fh)["repository"]["default_branch"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyError(f"GITHUB_EVENT_PATH: no repository.default_branch in {event_path} "
                       f"({type(exc).__name__})") from None
    if ref != f"refs/heads/{default}":
        raise ValueError(f"{ref} is not the default branch refs/heads/{default}: this workflow "
                         "publishes only from the default branch")
    return default


def main(env: Mapping[str, str] | None = None) -> int:
    try:
        branch = check(os.environ if env is None else env)
    except ValueError as exc:
        print(f"::error::publish_guard: {exc}", file=sys.stderr)
        return 1
    except KeyError as exc:
        print(f"::error::publish_guard: {exc.args[0]}", file=sys.stderr)
        return 2
    print(f"publish_guard: on the default branch ({branch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
