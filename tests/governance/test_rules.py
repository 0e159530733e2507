"""A pull request is judged by its base branch's gates and contract; changing them is shown."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitops_ml.init.yaml_edit import set_value
from gitops_ml.report import rules

PROJECT_ROOT = str(Path(__file__).resolve().parents[2])
if PROJECT_ROOT not in sys.path:   # `pipelines/` is run as `python -m`, not installed
    sys.path.insert(0, PROJECT_ROOT)

from pipelines import pr  # noqa: E402

pytestmark = pytest.mark.e2e


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()


def edit(repo: Path, name: str, pattern: str, replacement: str) -> None:
    path = repo / name
    text, count = re.subn(pattern, replacement, path.read_text(), count=1, flags=re.M)
    assert count == 1, pattern
    path.write_text(text)


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def run_pr(repo: Path, monkeypatch) -> tuple[int, str, dict]:
    monkeypatch.chdir(repo)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    code = pr.main(["--base-ref", "main", "--no-repro"])
    return (code, (repo / "reports/pr_report.md").read_text(),
            json.loads((repo / "reports/pr_report.json").read_text()))


@pytest.fixture
def repo(main_repo: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(main_repo, copy, symlinks=True)
    return copy


def floor_metric(repo: Path) -> str:
    """A metric this project floors (the template's roc_auc; a fork's own after init)."""
    floors = yaml.safe_load((repo / "params.yaml").read_text())["gates"]["floors"]
    return next(iter(floors))


def set_floors(repo: Path, floors: dict) -> None:
    path = repo / "params.yaml"
    path.write_text(set_value(path.read_text(), ("gates", "floors"), floors, where="params.yaml"))


def test_pr_lowering_a_gate_is_judged_by_the_base_branchs_gate(repo, monkeypatch):
    metric = floor_metric(repo)
    # a floor the model is not shown to reach: its interval on the test rows cannot be wholly
    # above 0.9999, and non_inferiority blocks until it is
    set_floors(repo, {metric: {"bound": 0.9999, "rule": "non_inferiority"}})
    commit(repo, "main: a floor the model does not reach")
    git(repo, "checkout", "-qb", "pr")
    set_floors(repo, {metric: {"bound": 0.5, "rule": "non_inferiority"}})
    commit(repo, "pr: lower the floor")
    code, md, data = run_pr(repo, monkeypatch)
    assert code == 1
    floor = next(g for g in data["gates"] if g["key"] == f"gates.floors.{metric}")
    assert floor["status"] in ("fail", "inconclusive") and floor["blocks_merge"]
    assert floor["rule"].startswith("≥ 0.9999, passes only if shown above")
    assert data["rules"] == {"changed": True, "files": ["params.yaml (gates:)"],
                             "truncated": False}
    assert md.startswith("## 🔒 Rules changed: judged by main's rules; a code owner must approve")
    assert f"     {metric}:\n-      bound: 0.9999\n+      bound: 0.5\n" in md


def test_pr_without_rule_changes_has_no_rules_section(repo, monkeypatch):
    git(repo, "checkout", "-qb", "pr")
    edit(repo, "params.yaml", r"^seed: .*$", "seed: 7")
    commit(repo, "pr: another seed (an experiment, not a rule)")
    code, md, data = run_pr(repo, monkeypatch)
    assert data["rules"] == {"changed": False, "files": [], "truncated": False}
    assert "Rules changed" not in md


def test_pr_changing_the_pipeline_shows_its_diff(repo, monkeypatch):
    git(repo, "checkout", "-qb", "pr")
    path = repo / "pipelines" / "pr.py"
    path.write_text(path.read_text() + "\n# judged differently now\n")
    commit(repo, "pr: touch the PR pipeline")
    _, md, data = run_pr(repo, monkeypatch)
    assert data["rules"]["files"] == ["pipelines/pr.py"]
    assert "+# judged differently now" in md


def test_pr_relaxing_the_contract_is_judged_by_the_base_contract(repo, monkeypatch):
    # the first bounded number feature of this project's contract, capped below its data
    bounded = re.compile(r"^  (\S+): \{(.*) min: ([-0-9.e+]+), max: ([-0-9.e+]+)\}", re.M)
    column, _, low, high = bounded.search((repo / "contract.yaml").read_text()).groups()
    tight = round(float(low) + (float(high) - float(low)) / 4, 1)
    pattern = rf"^  {re.escape(column)}: \{{(.*) max: [-0-9.e+]+\}}"
    edit(repo, "contract.yaml", pattern, rf"  {column}: {{\1 max: {tight}}}")
    commit(repo, "main: a tighter contract the data breaks")
    git(repo, "checkout", "-qb", "pr")
    edit(repo, "contract.yaml", pattern, rf"  {column}: {{\1 max: {float(high) * 10 + 1}}}")
    commit(repo, "pr: relax it again")
    code, md, data = run_pr(repo, monkeypatch)
    gate = next(g for g in data["gates"] if g["key"] == "gates.data_contract")
    assert gate["status"] == "fail"
    assert gate["detail"].startswith("judged by main's contract (this pull request changes "
                                     f"it): {column}: less_than_or_equal_to({tight})")
    assert code == 1
    assert data["rules"]["files"] == ["contract.yaml"]


def test_rules_diff_is_cut_to_fit_a_comment(repo):
    git(repo, "checkout", "-qb", "pr")
    (repo / ".github" / "big.txt").write_text("x" * 100 + "\n" + "y\n" * 20_000)
    commit(repo, "pr: a big file under .github/")
    change = rules.changes(git(repo, "rev-parse", "main"), git(repo, "rev-parse", "HEAD"), repo)
    assert change.files == (".github/big.txt",)
    assert change.truncated and len(change.diff) == rules.MAX_DIFF_CHARS
