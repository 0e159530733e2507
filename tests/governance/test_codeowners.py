"""CODEOWNERS covers the rules and deploys, and `gitops-ml init` writes it for the owner."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitops_ml.cli import main as cli
from gitops_ml.errors import UserError
from gitops_ml.init import codeowners
from gitops_ml.report import rules

PROJECT = Path(__file__).resolve().parents[2]
CODEOWNERS = PROJECT / ".github" / "CODEOWNERS"


def owned_paths(text: str) -> list[str]:
    return [line.split()[0] for line in text.splitlines()
            if line.strip() and not line.startswith("#")]


def test_codeowners_covers_every_rule_path_and_deploy():
    owned = owned_paths(CODEOWNERS.read_text())
    for path in (*rules.RULE_PATHS, "params.yaml", "model_tests.yaml", "deploy/"):
        assert f"/{path}" in owned, path
    assert owned == list(codeowners.PATHS)


def test_codeowners_render_names_the_owner_and_keeps_comments():
    text = codeowners.render(CODEOWNERS.read_text(), "octo")
    assert [ln for ln in text.splitlines() if ln.startswith("#")] == [
        ln for ln in CODEOWNERS.read_text().splitlines() if ln.startswith("#")]
    assert {line.split()[1] for line in text.splitlines() if not line.startswith("#")} == {
        "@octo"}
    assert owned_paths(text) == list(codeowners.PATHS)


def test_codeowners_render_writes_a_new_file_when_there_is_none():
    text = codeowners.render(None, "acme/ml-team")
    assert owned_paths(text) == list(codeowners.PATHS)
    assert text.splitlines()[1].split() == ["/params.yaml", "@acme/ml-team"]


def test_codeowners_rejects_a_bad_owner():
    with pytest.raises(UserError, match="owner: 'not an owner!' is not a GitHub user"):
        codeowners.render("", "not an owner!")


@pytest.mark.e2e
def test_init_writes_codeowners_for_the_owner(repo_copy: Path, monkeypatch, capsys):
    monkeypatch.chdir(repo_copy)
    assert cli(["init", "--non-interactive", "--owner", "octo", "--force"]) == 0
    text = (repo_copy / ".github" / "CODEOWNERS").read_text()
    assert owned_paths(text) == list(codeowners.PATHS)
    assert {line.split()[1] for line in text.splitlines() if not line.startswith("#")} == {
        "@octo"}
    assert "init: .github/CODEOWNERS: @octo reviews changes to the rules" in capsys.readouterr().out
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo_copy, capture_output=True,
                            text=True, check=True).stdout
    assert " M .github/CODEOWNERS" in status
