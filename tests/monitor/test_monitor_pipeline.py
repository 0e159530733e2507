"""pipelines.monitor end to end, locally. With --github it runs in the monitor workflow on the
real `gh` against the local GitHub: tests/workflows/test_monitor_scenarios.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from repo_tools import tool_env

pytestmark = pytest.mark.e2e


def monitor(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines.monitor", "--seed", "7", *args],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def env() -> dict[str, str]:
    return {**tool_env(), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def test_monitor_locally_reports_drift_on_a_simulated_batch_and_exits_3(repo_copy, env):
    out = monitor(repo_copy, env, "--source", "simulate")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "drift: detected in mean_radius" in out.stdout
    report = json.loads((repo_copy / "reports/drift.json").read_text())
    assert "mean_radius" in report["drifted"]


def test_monitor_locally_on_held_out_data_finds_no_drift(repo_copy, env):
    out = monitor(repo_copy, env, "--source", "data/test.parquet")
    assert out.returncode == 0, out.stdout + out.stderr
