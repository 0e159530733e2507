"""The README's first command works on a stock Debian 12 system Python (PEP 668 in force).

`python3 -m pip install uv` stops there with `externally-managed-environment`, and `python3 -m
venv` fails without the python3-venv package. The README installs uv with `pip install --target`
instead, which PEP 668 leaves alone (pip skips the check for --target, --prefix and --root:
https://pip.pypa.io/en/stable/cli/pip_install/ and PEP 668, "Implementation Notes"), puts nothing
on the system Python's path, and runs uv's own binary from there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from repo_tools import git_repo_of_tracked_files

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "gitops-ml-stock-debian-python3:test"


def readme_first_command() -> str:
    """The first line of the README's first bash block, without its trailing comment."""
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README has no bash block"
    return re.sub(r"\s+#[^\n]*$", "", block.group(1).splitlines()[0]).strip()


def docker(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def image() -> str:
    if shutil.which("docker") is None or docker("info").returncode != 0:
        pytest.skip("no Docker daemon (run ../shared/tools/docker-local)")
    built = docker("build", "--quiet", "--tag", IMAGE, str(ROOT / "tests/stock_python"))
    assert built.returncode == 0, built.stderr[-3000:]
    return IMAGE


def run_in(image: str, script: str, repo: Path | None = None) -> subprocess.CompletedProcess[str]:
    mounts = ["-v", f"{repo}:/repo", "-w", "/repo"] if repo else []
    # The host's uv cache only saves downloads; uv still resolves and installs from uv.lock.
    cache = ["-v", f"{Path.home() / '.cache/uv'}:/uv-cache", "-e", "UV_CACHE_DIR=/uv-cache"]
    return docker("run", "--rm", *mounts, *cache, image, "bash", "-c", script)


def test_readme_first_command_plain_pip_is_refused_on_stock_debian(image):
    # the premise: this is the system the issue describes
    out = run_in(image, "test -f /usr/lib/python3.11/EXTERNALLY-MANAGED && "
                        "python3 -m pip install uv")
    assert out.returncode != 0 and "externally-managed-environment" in out.stderr
    assert run_in(image, "python3 -m venv /tmp/v").returncode != 0   # no python3-venv


def test_readme_first_command_runs_verbatim_on_stock_debian(image, tmp_path):
    repo = git_repo_of_tracked_files(ROOT, tmp_path / "repo")
    command = readme_first_command()
    assert command.startswith("python3 -m pip install --target")
    out = run_in(image, f"set -e; {command}; test -s models/model.onnx; uv run pytest --version",
                 repo)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert "Running stage 'train'" in out.stdout and "pytest" in out.stdout
