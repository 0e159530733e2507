"""Committing or tagging without a git identity names the missing settings."""

from __future__ import annotations

import subprocess

import pytest

from gitops_ml import git_identity
from gitops_ml.errors import UserError


@pytest.fixture
def no_identity(tmp_path, monkeypatch):
    """A repository on a machine with no git identity anywhere (no global or system config)."""
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    # the premise: git itself refuses, with exit status 128
    refused = subprocess.run(["git", "commit", "--allow-empty", "-qm", "x"], cwd=repo,
                             capture_output=True, text=True, check=False)
    if refused.returncode == 0:
        pytest.skip("git auto-detects an identity from this host's name and mail domain")
    assert refused.returncode == 128
    return repo


def test_require_names_the_missing_settings(no_identity):
    with pytest.raises(UserError, match=(
            r"^register model@v1\.0\.0: git has no author identity in .*: set user\.name and "
            r"user\.email .* or the environment variables GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL")):
        git_identity.require(no_identity, "register model@v1.0.0")


def test_require_passes_with_an_identity_from_the_environment(no_identity, monkeypatch):
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "ci")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "ci@example.com")
    git_identity.require(no_identity, "commit")


def test_register_without_identity_says_so_before_tagging(no_identity):
    from gitops_ml.registry import gto_ops

    with pytest.raises(UserError, match=r"git has no committer identity"):
        gto_ops.register(no_identity, "model", "v1.0.0", "message")


def test_a_tag_needs_only_the_committer_identity_as_git_itself(no_identity, monkeypatch):
    # main.yml's register job sets only GIT_COMMITTER_*: git tags with that (the tagger)
    monkeypatch.setenv("GIT_COMMITTER_NAME", "github-actions[bot]")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "bot@example.com")
    git_identity.require(no_identity, "register model@v1.0.0", tag=True)
    with pytest.raises(UserError, match=r"git has no author identity"):
        git_identity.require(no_identity, "commit")
    subprocess.run(["git", "commit", "--allow-empty", "-qm", "x", "--author", "a <a@b.c>"],
                   cwd=no_identity, check=True)
    tagged = subprocess.run(["git", "tag", "-a", "model@v1.0.0", "-m", "m"], cwd=no_identity,
                            capture_output=True, text=True, check=False)
    assert tagged.returncode == 0, tagged.stderr
