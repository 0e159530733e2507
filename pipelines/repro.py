"""Run DVC for the PR pipeline: is anything stale, reproduce it, and name the stage that failed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Statuses that only say "this output is not in this checkout": a fresh clone without a DVC
# remote has none of the cached outputs, yet its git-tracked results may match dvc.lock exactly.
MISSING = {"deleted", "not in cache"}
# How `dvc status` reports a stage marked `always_changed` (the data fingerprint): it says nothing
# about the results, which only go stale when the fingerprint's output changes (`refresh`).
ALWAYS = "always changed"
ERROR_LINES = 30
ERROR_LINE_CHARS = 300


@dataclass(frozen=True)
class ReproOutcome:
    """What `dvc repro` did."""

    ok: bool
    stages_run: tuple[str, ...]
    stages_cached: tuple[str, ...]
    failed_stage: str | None
    error_tail: str
    seconds: float


def dvc(args: list[str]) -> list[str]:
    """The DVC command of this interpreter's environment (no reliance on PATH order)."""
    return [sys.executable, "-m", "dvc", *args]


def status(cwd: Path) -> dict[str, Any]:
    """`dvc status --json`: what is stale, per stage (`{}` when everything is up to date)."""
    out = subprocess.run(dvc(["status", "--json"]), cwd=cwd, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"dvc status failed: {out.stderr.strip()[-2000:]}")
    text = out.stdout.strip()
    # DVC may print notices before the JSON document; the document is the last line.
    return json.loads(text.splitlines()[-1]) if text else {}


def missing_tracked_data(cwd: Path) -> list[str]:
    """The `.dvc` files git tracks (`dvc add`, `dvc import`) whose data is not in the workspace.

    A checkout has the `.dvc` file but not the data it names: each `outs:` entry's `path`,
    relative to the `.dvc` file (https://dvc.org/doc/user-guide/project-structure/dvc-files).
    """
    import yaml

    listed = subprocess.run(["git", "ls-files", "-z", "--", "*.dvc"], cwd=cwd,
                            capture_output=True, text=True, check=False).stdout.split("\0")
    missing = []
    for rel in filter(None, listed):
        outs = (yaml.safe_load((cwd / rel).read_text()) or {}).get("outs") or []
        if any(not (cwd / rel).parent.joinpath(out["path"]).exists() for out in outs):
            missing.append(rel)
    return missing


def materialise_tracked_data(cwd: Path, pull: bool, why: str) -> tuple[str, ...]:
    """Bring the `dvc add`-tracked data a checkout lacks into the workspace: `dvc pull` it when
    the DVC remote may be used, else `dvc checkout` it from the local DVC cache (restored by
    pr.yml). The data fingerprint reads it, so this runs before anything else.

    Returns the `.dvc` files it materialised; raises RuntimeError naming them when DVC cannot.
    """
    targets = missing_tracked_data(cwd)
    if not targets:
        return ()
    command = "pull" if pull else "checkout"
    print(f"pr: dvc {command} {' '.join(targets)}", file=sys.stderr)
    out = subprocess.run(dvc([command, *targets]), cwd=cwd, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        where = "the DVC remote" if pull else f"the local DVC cache ({why})"
        raise RuntimeError(f"data tracked by {', '.join(targets)} is not in this checkout and "
                           f"`dvc {command}` could not bring it from {where}: "
                           f"{(out.stdout + out.stderr).strip()[-2000:]}")
    return tuple(targets)


def refresh(cwd: Path, stages: tuple[str, ...]) -> None:
    """Run the `always_changed` stages (the data fingerprint) alone, so `dvc status` sees the data.

    Raises RuntimeError with DVC's output when one fails (e.g. data.source names no file).
    """
    for stage in stages:
        out = subprocess.run(dvc(["repro", "--single-item", stage]), cwd=cwd,
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"dvc repro {stage} failed: "
                               f"{(out.stdout + out.stderr).strip()[-2000:]}")


def always_changed(stale: dict[str, Any]) -> tuple[str, ...]:
    """The stages `dvc status` reports as "always changed" (they may also miss outputs)."""
    return tuple(name for name, entries in stale.items()
                 if isinstance(entries, list) and ALWAYS in entries)


def stale_stages(stale: dict[str, Any]) -> tuple[str, ...]:
    """The stages whose code, params, data or git-tracked outputs differ from dvc.lock.

    Missing outputs do not count (a fresh clone without a DVC remote has none of the cached
    outputs, yet its git-tracked results may match dvc.lock exactly), nor does a dependency that
    is only missing because it is such an output of another stage. Anything else does: a
    modified dependency, param or git-tracked output, a changed command ... A stage reported
    only as "always changed" does not count by itself: run `refresh` first.
    """
    missing_outs = {path for entries in stale.values() if isinstance(entries, list)
                    for entry in entries if isinstance(entry, dict)
                    for path, state in (entry.get("changed outs") or {}).items()
                    if state in MISSING}
    return tuple(name for name, entries in stale.items()
                 if not _only_missing(_without_always(entries), missing_outs))


def _without_always(entries: Any) -> Any:
    return [e for e in entries if e != ALWAYS] if isinstance(entries, list) else entries


def _only_missing(entries: Any, missing_outs: set[str]) -> bool:
    if not isinstance(entries, list):
        return False
    for entry in entries:
        if not isinstance(entry, dict):
            return False   # e.g. "always changed"
        for kind, items in entry.items():
            if not isinstance(items, dict):
                return False
            if kind == "changed outs":
                if any(v not in MISSING for v in items.values()):
                    return False
            elif kind == "changed deps":
                if not all(isinstance(state, str) and state in MISSING and path in missing_outs
                           for path, state in items.items()):
                    return False
            else:
                return False   # changed command, checksum, new stage ...
    return True


def up_to_date(stale: dict[str, Any]) -> bool:
    """True when nothing but uncached outputs is missing: the committed results match dvc.lock."""
    return not stale_stages(stale)


_RUNNING = re.compile(r"^Running stage '([^']+)'")
_FAILED = re.compile(r"failed to reproduce '([^']+)'")
_CACHED = re.compile(r"^Stage '([^']+)' is cached - skipping run")


def parse_output(text: str) -> tuple[tuple[str, ...], str | None]:
    """The stages `dvc repro` ran, and the one it failed at (if any)."""
    run = tuple(m.group(1) for line in text.splitlines() if (m := _RUNNING.match(line.strip())))
    failed = _FAILED.search(text)
    return run, failed.group(1) if failed else None


def parse_cached(text: str) -> tuple[str, ...]:
    """The stages `dvc repro` restored from the run-cache instead of running them."""
    return tuple(m.group(1) for line in text.splitlines() if (m := _CACHED.match(line.strip())))


def error_tail(text: str) -> str:
    """The last lines of a failed run, cut to a size a comment can carry, fences defused."""
    lines = [line.rstrip()[:ERROR_LINE_CHARS] for line in text.splitlines() if line.strip()]
    noise = ("To track the changes with git", "To enable auto staging", "dvc config core.autostage",
             "Use `dvc push`")
    lines = [line for line in lines if not line.strip().startswith(noise)]
    return "\n".join(lines[-ERROR_LINES:]).replace("```", "'''")


def repro(cwd: Path, echo: bool = True, pull: bool = False) -> ReproOutcome:
    """`dvc repro`, streamed to stderr for the CI log and captured for the report.

    `pull`: fetch the run-cache and the outputs of unchanged stages from the DVC remote instead
    of rerunning them (`--pull`), and skip unchanged stages whose outputs are only missing
    (`--allow-missing`): a stage whose inputs did not change is never retrained.
    """
    start = time.monotonic()
    args = ["repro", "--pull", "--allow-missing"] if pull else ["repro"]
    proc = subprocess.Popen(dvc(args), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    captured = []
    assert proc.stdout is not None
    for line in proc.stdout:
        captured.append(line)
        if echo:
            sys.stderr.write(line)
    code = proc.wait()
    text = "".join(captured)
    stages, failed = parse_output(text)
    if code != 0 and failed is None:
        failed = stages[-1] if stages else None
    return ReproOutcome(code == 0, stages, parse_cached(text), failed,
                        error_tail(text) if code != 0 else "", time.monotonic() - start)


def plots_diff(base_sha: str, out_dir: Path, cwd: Path) -> str | None:
    """`dvc plots diff <base>` as HTML in `out_dir`; returns an error message instead of raising."""
    out = subprocess.run(dvc(["plots", "diff", base_sha, "--out", str(out_dir)]), cwd=cwd,
                         capture_output=True, text=True, check=False)
    return None if out.returncode == 0 else (out.stderr or out.stdout).strip()[-500:]
