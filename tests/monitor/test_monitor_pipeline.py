"""pipelines.monitor end to end, locally. With --github it runs in the monitor workflow on the
real `gh` against the local GitHub: tests/workflows/test_monitor_scenarios.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
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
    # the feature the simulation shifted (mean_radius in the template's example)
    shifted = re.search(r"simulated \d+ rows with (\S+) shifted", out.stdout).group(1)
    assert f"drift: detected in {shifted}" in out.stdout
    report = json.loads((repo_copy / "reports/drift.json").read_text())
    assert shifted in report["drifted"]
    assert not (repo_copy / "gh-state.json").exists()


def test_monitor_locally_on_held_out_data_finds_no_drift(repo_copy, env):
    import pandas as pd

    # A small table's test split (a fork of the 344 Palmer penguins holds out 69 rows) is under
    # monitor.min_rows; judge it at its own size. The template's example (114 rows) is unchanged.
    held_out = len(pd.read_parquet(repo_copy / "data/test.parquet"))
    params = repo_copy / "params.yaml"
    if held_out < yaml.safe_load(params.read_text())["monitor"]["min_rows"]:
        text, found = re.subn(r"(?m)^(  min_rows:) \d+", rf"\g<1> {held_out}", params.read_text())
        assert found == 1, "monitor.min_rows not found in params.yaml"
        params.write_text(text)
    out = monitor(repo_copy, env, "--source", "data/test.parquet")
    assert out.returncode == 0, out.stdout + out.stderr
