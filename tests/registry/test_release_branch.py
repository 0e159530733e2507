"""pipelines.release_branch: deploy/<stage> holds the `deploy/` tree only, one commit per release
on top of the previous one, so a push with the workflow token never carries a workflow change
(GitHub refuses those without the `workflows` permission)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pipelines import release_branch

BOT = {"GIT_AUTHOR_NAME": "github-actions[bot]", "GIT_COMMITTER_NAME": "github-actions[bot]",
       "GIT_AUTHOR_EMAIL": "41898282+github-actions[bot]@users.noreply.github.com",
       "GIT_COMMITTER_EMAIL": "41898282+github-actions[bot]@users.noreply.github.com"}


def git(cwd: Path, *argv: str) -> str:
    return subprocess.run(["git", *argv], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, **BOT}).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default branch as promote.yml's deploy job has it, pushing to a bare remote that
    refuses commits changing .github/workflows/ (GitHub's rule for the workflow token)."""
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nzero=0000000000000000000000000000000000000000\n"
                    "while read old new ref; do\n"
                    '  if [ "$old" = "$zero" ]; then span="$new --not --all"; '
                    'else span="$old..$new"; fi\n'
                    '  if git log --format= --name-only $span | grep -q "^.github/workflows/"; '
                    "then echo 'refusing to allow a GitHub App to update workflow'; exit 1; fi\n"
                    "done\n")
    hook.chmod(0o755)
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows/main.yml").write_text("on: push\n")
    (repo / "deploy/overlays/prod").mkdir(parents=True)
    (repo / "deploy/overlays/prod/release.yaml").write_text("image: a@sha256:1\n")
    (repo / "src.py").write_text("x = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Deploy model@v1.0.0 to prod")
    monkeypatch.chdir(repo)
    for name, value in {**BOT, "GH_TOKEN": "t", "GITHUB_SERVER_URL": "https://github.com",
                        "GITHUB_REPOSITORY": "octo/ml", "GIT_CONFIG_COUNT": "1",
                        "GIT_CONFIG_KEY_0": f"url.{remote}.insteadOf",
                        "GIT_CONFIG_VALUE_0": "https://github.com/octo/ml.git"}.items():
        monkeypatch.setenv(name, value)
    return repo


def test_each_release_is_one_commit_of_the_deploy_tree_on_the_previous_one(checkout: Path):
    remote = checkout.parent / "origin.git"
    assert release_branch.main(["prod"]) == 0
    first = git(remote, "rev-parse", "deploy/prod")
    assert git(remote, "ls-tree", "--name-only", "deploy/prod") == "deploy"
    assert git(remote, "log", "-1", "--format=%s", "deploy/prod") == "Deploy model@v1.0.0 to prod"
    # main changes a workflow file, then the next release: the push carries no workflow change
    (checkout / ".github/workflows/main.yml").write_text("on: [push, workflow_dispatch]\n")
    git(checkout, "commit", "-qam", "Also on dispatch")
    (checkout / "deploy/overlays/prod/release.yaml").write_text("image: a@sha256:2\n")
    git(checkout, "commit", "-qam", "Deploy model@v1.1.0 to prod")
    assert release_branch.main(["prod"]) == 0
    assert git(remote, "rev-parse", "deploy/prod^") == first
    assert git(remote, "show", "deploy/prod:deploy/overlays/prod/release.yaml") == \
        "image: a@sha256:2"
    assert ".github" not in git(remote, "log", "--format=", "--name-only", "deploy/prod")


def test_the_same_release_again_pushes_nothing(checkout: Path, capsys):
    assert release_branch.main(["prod"]) == 0
    remote = checkout.parent / "origin.git"
    tip = git(remote, "rev-parse", "deploy/prod")
    assert release_branch.main(["prod"]) == 0
    assert git(remote, "rev-parse", "deploy/prod") == tip
    assert "already holds this release" in capsys.readouterr().out


def test_a_branch_that_followed_the_default_branch_is_replaced_once(checkout: Path):
    remote = checkout.parent / "origin.git"
    hook = remote / "hooks" / "pre-receive"
    hook.rename(hook.with_suffix(".off"))       # made by a person's push, as older versions did
    git(checkout, "push", "-q", str(remote), "HEAD:refs/heads/deploy/prod")
    hook.with_suffix(".off").rename(hook)
    (checkout / "deploy/overlays/prod/release.yaml").write_text("image: a@sha256:3\n")
    git(checkout, "commit", "-qam", "Deploy model@v1.2.0 to prod")
    assert release_branch.main(["prod"]) == 0
    assert git(remote, "ls-tree", "--name-only", "deploy/prod") == "deploy"
    assert git(remote, "rev-list", "--count", "deploy/prod") == "1"


def test_a_push_the_remote_refuses_fails_with_its_message(checkout: Path, capsys):
    (checkout.parent / "origin.git" / "hooks" / "pre-receive").write_text(
        "#!/bin/sh\necho 'GH006: Protected branch update failed'\nexit 1\n")
    assert release_branch.main(["prod"]) == 1
    assert "GH006: Protected branch update failed" in capsys.readouterr().err


def test_a_checkout_without_deploy_tree_is_an_error(checkout: Path, capsys):
    git(checkout, "rm", "-rq", "deploy")
    git(checkout, "commit", "-qm", "no deploy")
    assert release_branch.main(["prod"]) == 1
    assert "deploy" in capsys.readouterr().err
