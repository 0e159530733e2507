"""What GitHub does between workflow runs, for the scenarios: repositories, pull requests, and
which workflow an event starts with which payload (docs.github.com, "Events that trigger
workflows"; payloads from "Webhook events and payloads")."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from harness import PROJECT, Harness, Run, repo_id
from repo_tools import git_repo_of_tracked_files

BOT = "github-actions[bot]"
DEPENDABOT = "dependabot[bot]"
WATERMARK = 'CML watermark gitops-ml PR report'


def seed(hub: Harness, repo: str, work: Path, **settings: Any) -> Path:
    """A repository holding this project's tracked files on `main` (one commit), and a clone."""
    hub.github.create_repo(repo, **settings)
    work.mkdir(parents=True, exist_ok=True)
    clone = git_repo_of_tracked_files(PROJECT, work)
    hub.git(clone, "remote", "add", "origin", hub.remote(repo))
    hub.git(clone, "push", "-q", "origin", "main", token=hub.user_token())
    return clone


def fork(hub: Harness, base: str, fork_name: str, work: Path) -> Path:
    """A fork: the base repository's main pushed to a new repository marked as its fork."""
    hub.github.create_repo(fork_name, fork_of=base)
    hub.git(work.parent, "clone", "-q", hub.remote(base), str(work))
    hub.git(work, "remote", "set-url", "origin", hub.remote(fork_name))
    hub.git(work, "push", "-q", "origin", "main", token=hub.user_token(fork_name.split("/")[0]))
    return work


def push_branch(hub: Harness, clone: Path, branch: str, edit: dict[str, str], message: str,
                login: str = "octocat", reproduce: bool = False) -> str:
    """Commit `edit` (path -> new text) on `branch` and push it as a person would; with
    `reproduce`, after `dvc repro` and with its results, as params.yaml says a change must be
    committed (`results:`; the command the PR report prints)."""
    current = hub.git(clone, "branch", "--show-current")
    if current != branch:
        hub.git(clone, "switch", "-q", "-C", branch)
    for path, text in edit.items():
        (clone / path).parent.mkdir(parents=True, exist_ok=True)
        (clone / path).write_text(text)
    if reproduce:
        done = subprocess.run([str(PROJECT / ".venv" / "bin" / "dvc"), "repro"], cwd=clone,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise AssertionError(f"dvc repro: {done.stdout}{done.stderr}")
    hub.git(clone, "add", "-A")
    hub.git(clone, "commit", "-qm", message)
    hub.git(clone, "push", "-q", "--force", "origin", branch, token=hub.user_token(login))
    return hub.git(clone, "rev-parse", "HEAD")


def pull_request_run(hub: Harness, pr: dict[str, Any], action: str = "opened",
                     **kwargs: Any) -> Run:
    """pr.yml on `pull_request`: the workflow file and code as of the PR head (GitHub uses the
    merge commit; the PR branches here are based on the current main, so they agree)."""
    base = pr["base"]["repo"]["full_name"]
    # Dependabot's pull requests run like a fork's: a read-only GITHUB_TOKEN and no Actions
    # secrets (https://docs.github.com/en/code-security/dependabot/troubleshooting-dependabot/
    # troubleshooting-dependabot-on-github-actions#restrictions-when-dependabot-triggers-events)
    is_fork = pr["head"]["repo"]["full_name"] != base or pr["user"]["login"] == DEPENDABOT
    payload = {"action": action, "number": pr["number"], "pull_request": pr}
    return hub.run("pr.yml", "pull_request", payload, repo=base,
                   ref=f"refs/pull/{pr['number']}/merge", sha=pr["merge_commit_sha"],
                   workflow_ref=pr["head"]["sha"], fork=is_fork, **kwargs)


def workflow_run_payload(hub: Harness, run: Run, *, repo: str, event: str, head_repo: str,
                         head_branch: str, head_sha: str,
                         pulls: list[dict[str, Any]]) -> dict[str, Any]:
    """The `workflow_run` event GitHub sends when `run` completes. `pull_requests` lists only
    pull requests whose head is in this repository: it is empty for a fork's (docs: webhook
    payload `workflow_run.pull_requests`; the same is true of the REST workflow run object)."""
    return {"action": "completed", "workflow_run": {
        "id": run.run_id, "name": "PR", "event": event, "status": "completed",
        "conclusion": run.conclusion, "head_sha": head_sha, "head_branch": head_branch,
        "head_commit": {"id": head_sha},
        "head_repository": {"id": repo_id(head_repo), "full_name": head_repo,
                            "owner": {"login": head_repo.split("/")[0]}},
        "repository": {"id": repo_id(repo), "full_name": repo},
        "pull_requests": [{"number": p["number"], "head": {"sha": p["head"]["sha"],
                                                         "ref": p["head"]["ref"]}}
                          for p in pulls if p["head"]["repo"]["full_name"] == repo],
        "html_url": f"http://github.localhost/{repo}/actions/runs/{run.run_id}"}}


def comment_run(hub: Harness, run: Run, pr: dict[str, Any], head_sha: str | None = None,
                event: str = "pull_request") -> Run:
    """pr-comment.yml, started by pr.yml's completion: default branch's file, default branch's
    commit (GITHUB_SHA/GITHUB_REF of a workflow_run event)."""
    repo = pr["base"]["repo"]["full_name"]
    default = hub.github.repos[repo].default_branch
    main_sha = hub.github.rev(repo, f"refs/heads/{default}")
    payload = workflow_run_payload(hub, run, repo=repo, event=event,
                                   head_repo=pr["head"]["repo"]["full_name"],
                                   head_branch=pr["head"]["ref"],
                                   head_sha=head_sha or pr["head"]["sha"], pulls=[pr])
    return hub.run("pr-comment.yml", "workflow_run", payload, repo=repo,
                   ref=f"refs/heads/{default}", sha=main_sha, workflow_ref=main_sha)


def comments(hub: Harness, repo: str, number: int) -> list[dict[str, Any]]:
    return [c for c in hub.github.comments if c["repo"] == repo and c["issue"] == number]


def tag_filter(pattern: str) -> re.Pattern[str]:
    """GitHub's filter pattern for branches and tags: `*` matches any characters but `/`, `**`
    any characters (https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-
    github-actions#filter-pattern-cheat-sheet)."""
    parts = ["[^/]*".join(map(re.escape, chunk.split("*"))) for chunk in pattern.split("**")]
    return re.compile("^" + ".*".join(parts) + "$")


def starts_on_tag_push(workflow_text: str, tag: str) -> bool:
    """Whether pushing `tag` starts this workflow (its `on.push.tags`; `!` excludes)."""
    on = yaml.safe_load(workflow_text).get(True) or {}     # PyYAML reads the key `on` as True
    patterns = ((on.get("push") or {}) if isinstance(on, dict) else {}).get("tags") or []
    started = False
    for pattern in patterns:
        if pattern.startswith("!"):
            started = started and not tag_filter(pattern[1:]).match(tag)
        elif tag_filter(pattern).match(tag):
            started = True
    return started
