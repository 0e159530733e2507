"""Running git and DVC in throwaway repositories from tests (importable by any test module)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def tool_env() -> dict[str, str]:
    """Environment for git/DVC subprocesses: this venv's scripts on PATH, a git identity."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
                "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com"})
    return env


def sh(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command in `cwd`; a failure fails the test with the command's output."""
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=tool_env(),
                         timeout=900, check=False)
    assert out.returncode == 0, f"{' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return out


def dvc_tracked(src: Path, dvc_files: list[str]) -> list[str]:
    """Paths (relative to `src`) that `dvc add` files track: data a clone gets by `dvc pull`.
    https://dvc.org/doc/user-guide/project-structure/dvc-files (`outs:` entries, each a `path`
    relative to the .dvc file)."""
    import yaml

    out = []
    for rel in dvc_files:
        for entry in (yaml.safe_load((src / rel).read_text()) or {}).get("outs") or []:
            out.append(str(Path(rel).parent / entry["path"]))
    return out


def git_repo_of_tracked_files(src: Path, dest: Path) -> Path:
    """A new git repo at `dest` holding the files git tracks in `src`, committed on `main`,
    and the data its `.dvc` files track (as `dvc pull` would bring it): what a clean clone of
    `src` sees, with a fresh history."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=src, capture_output=True,
                            check=True).stdout.decode().split("\0")
    listed = list(filter(None, listed))
    data = dvc_tracked(src, [rel for rel in listed if rel.endswith(".dvc")])
    for rel in listed + data:
        if (src / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dest / rel)
        elif (src / rel).is_dir():      # `dvc add` of a folder
            shutil.copytree(src / rel, dest / rel)
    sh(["git", "init", "-q", "-b", "main"], dest)
    sh(["git", "add", "-A"], dest)
    sh(["git", "commit", "-qm", "template"], dest)
    if data:    # in the DVC cache too, as after `dvc pull`, so `dvc push` can carry it on
        sh([sys.executable, "-m", "dvc", "commit", "--force", "--quiet",
            *[rel for rel in listed if rel.endswith(".dvc")]], dest)
    return dest


def mixed_frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Numbers and categories, each with a nullable column, and three string classes (`grade`)."""
    rng = np.random.default_rng(seed)
    size = rng.normal(10, 3, rows)
    weight = rng.normal(50, 10, rows)
    colour = rng.choice(["red", "green", "blue"], rows).astype(object)
    shape = rng.choice(["round", "square"], rows).astype(object)
    score = size / 3 + (colour == "red") * 2 - (colour == "blue") * 2 + rng.normal(0, 0.5, rows)
    grade = np.where(score > 4.5, "high", np.where(score > 2.5, "mid", "low"))
    size[rng.random(rows) < 0.05] = np.nan
    colour[rng.random(rows) < 0.05] = None
    return pd.DataFrame({"size": size, "weight": weight, "colour": colour, "shape": shape,
                         "grade": grade})


def run_in(repo: Path, args: list[str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run a command in a fork with its own package first on the path (not the template's)."""
    env = tool_env()
    env["PYTHONPATH"] = str(repo / "src")
    out = subprocess.run(args, cwd=repo, capture_output=True, text=True, env=env,
                         timeout=timeout, check=False)
    assert out.returncode == 0, f"{' '.join(args)} failed:\n{out.stdout[-6000:]}\n{out.stderr}"
    return out
