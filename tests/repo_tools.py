"""Running git and DVC in throwaway repositories from tests (importable by any test module)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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
