"""The stand-in cache store: restore (exact key, else newest entry matching a restore-key
prefix, as actions/cache v5 documents) and save (refuses an existing key, as the service does).

The harness mounts one folder per repository at /opt/actions-cache (the repository's cache
service), with one subfolder per ref. GitHub's scoping ("Restrictions for accessing a cache",
https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/
caching-dependencies-to-speed-up-workflows#restrictions-for-accessing-a-cache): a run saves
under its own ref (GITHUB_REF; refs/pull/N/merge for a pull request) and restores from its own
ref, then the pull request's base branch, then the default branch; never from another branch
or pull request. Without the mount (a job outside the harness) the store lives for the job.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import time
from pathlib import Path

SERVICE = Path("/opt/actions-cache")


def scope(ref: str) -> Path:
    root = SERVICE if SERVICE.is_dir() else Path(os.environ["RUNNER_TEMP"]) / "actions-cache"
    return root / ref.replace("/", "%2F")


def readable() -> list[Path]:
    """Where this run may restore from, in GitHub's order."""
    refs = [os.environ.get("GITHUB_REF", "")]
    if os.environ.get("GITHUB_BASE_REF"):
        refs.append(f"refs/heads/{os.environ['GITHUB_BASE_REF']}")
    try:
        with open(os.environ["GITHUB_EVENT_PATH"]) as fh:
            default = json.load(fh)["repository"]["default_branch"]
        refs.append(f"refs/heads/{default}")
    except (KeyError, OSError, ValueError):
        pass
    return [scope(ref) for ref in dict.fromkeys(r for r in refs if r)]


def output(name: str, value: str) -> None:
    with open(os.environ["GITHUB_OUTPUT"], "a") as out:
        out.write(f"{name}={value}\n")


def paths() -> list[str]:
    return [p.strip() for p in os.environ["INPUT_PATH"].splitlines() if p.strip()]


def restore() -> int:
    key = os.environ["INPUT_KEY"]
    prefixes = [p.strip() for p in os.environ.get("INPUT_RESTORE_KEYS", "").splitlines()
                if p.strip()]
    output("cache-primary-key", key)
    found = None
    for folder in readable():          # the first scope with a match wins, as on GitHub
        entries = sorted(folder.glob("*.tar"), key=lambda p: p.stat().st_mtime,
                         reverse=True) if folder.is_dir() else []
        names = [p.stem for p in entries]
        found = key if key in names else next(
            (n for prefix in prefixes for n in names if n.startswith(prefix)), None)
        if found is not None:
            break
    if found is None:
        print(f"Cache not found for input keys: {', '.join([key, *prefixes])}")
        output("cache-hit", "false")
        return 0
    with tarfile.open(folder / f"{found}.tar") as tar:
        workspace = os.path.realpath(os.environ["GITHUB_WORKSPACE"])
        for member in tar.getmembers():   # the "data" filter's rule (Python < 3.11.4 lacks it)
            target = os.path.realpath(os.path.join(workspace, member.name))
            if not (target == workspace or target.startswith(workspace + os.sep)) or \
                    member.issym() or member.islnk() or member.isdev():
                print(f"Error: refusing cache entry {member.name}", file=sys.stderr)
                return 1
        tar.extractall(workspace)  # noqa: S202 - every member checked above
    output("cache-hit", str(found == key).lower())
    output("cache-matched-key", found)
    print(f"Cache restored from key: {found}")
    return 0


def save() -> int:
    key = os.environ["INPUT_KEY"]
    if not key:
        print("Error: Key is required", file=sys.stderr)
        return 1
    store = scope(os.environ.get("GITHUB_REF", ""))
    store.mkdir(parents=True, exist_ok=True)
    target = store / f"{key}.tar"
    if target.exists():
        print(f"Warning: Cache save failed: a cache with key {key} already exists")
        return 0
    workspace = Path(os.environ["GITHUB_WORKSPACE"])
    with tarfile.open(target, "w") as tar:
        for p in paths():
            if (workspace / p).exists():
                tar.add(workspace / p, arcname=p)
    os.utime(target, (time.time(), time.time()))
    print(f"Cache saved with key: {key}")
    return 0


if __name__ == "__main__":
    sys.exit(restore() if sys.argv[1] == "restore" else save())
