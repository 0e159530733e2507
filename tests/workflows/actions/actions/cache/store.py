"""The stand-in cache store: restore (exact key, else newest entry matching a restore-key
prefix, as actions/cache v5 documents) and save (refuses an existing key, as the service does)."""

from __future__ import annotations

import os
import sys
import tarfile
import time
from pathlib import Path

STORE = Path(os.environ["RUNNER_TEMP"]) / "actions-cache"


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
    entries = sorted(STORE.glob("*.tar"), key=lambda p: p.stat().st_mtime, reverse=True) \
        if STORE.is_dir() else []
    names = [p.stem for p in entries]
    found = key if key in names else next(
        (n for prefix in prefixes for n in names if n.startswith(prefix)), None)
    if found is None:
        print(f"Cache not found for input keys: {', '.join([key, *prefixes])}")
        output("cache-hit", "false")
        return 0
    with tarfile.open(STORE / f"{found}.tar") as tar:
        tar.extractall(os.environ["GITHUB_WORKSPACE"], filter="data")
    output("cache-hit", str(found == key).lower())
    output("cache-matched-key", found)
    print(f"Cache restored from key: {found}")
    return 0


def save() -> int:
    key = os.environ["INPUT_KEY"]
    if not key:
        print("Error: Key is required", file=sys.stderr)
        return 1
    STORE.mkdir(parents=True, exist_ok=True)
    target = STORE / f"{key}.tar"
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
