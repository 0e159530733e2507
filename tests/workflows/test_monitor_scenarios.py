"""monitor.yml end to end on act, against the local GitHub: with drift (one issue, one retraining
pull request whose checks run) and without drift (nothing opened)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flows import comment_run, comments, pull_request_run, seed
from harness import Harness

pytestmark = [pytest.mark.workflows, pytest.mark.xdist_group("workflows")]
REPO = "acme/ml"


@pytest.fixture(scope="module")
def base(hub: Harness, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed(hub, REPO, tmp_path_factory.mktemp("acme") / "ml")


def monitor_run(hub: Harness, source: str, **kwargs):
    sha = hub.github.rev(REPO, "refs/heads/main")
    payload = {"inputs": {"source": source}, "ref": "refs/heads/main",
               "workflow": ".github/workflows/monitor.yml"}
    return hub.run("monitor.yml", "workflow_dispatch", payload, repo=REPO,
                   ref="refs/heads/main", sha=sha, **kwargs)


def test_monitor_without_drift_opens_nothing(hub: Harness, tmp_path: Path) -> None:
    seed(hub, "acme/steady", tmp_path / "steady")
    sha = hub.github.rev("acme/steady", "refs/heads/main")
    run = hub.run("monitor.yml", "workflow_dispatch",
                  {"inputs": {"source": "data/test.parquet"}, "ref": "refs/heads/main"},
                  repo="acme/steady", ref="refs/heads/main", sha=sha)
    assert run.jobs == {"drift": "success"}, run.log[-4000:]
    assert "drift: none in " in run.log
    assert [i for i in hub.github.issues if i["repo"] == "acme/steady"] == []
    assert [e for e in hub.github.push_events() if e["repo"] == "acme/steady" and
            e["ref"] != "refs/heads/main"] == []


def test_monitor_with_drift_opens_one_issue_and_one_pr_whose_checks_run(
        hub: Harness, base: Path) -> None:
    token = hub.user_token("retrain-bot")
    run = monitor_run(hub, "simulate", secrets_={"RETRAIN_TOKEN": token})
    assert run.jobs == {"drift": "success"}, run.log[-4000:]
    issues = [i for i in hub.github.issues if i["repo"] == REPO and not i.get("pull_request")]
    assert [(i["title"], i["labels"]) for i in issues] == [
        ("Model drift detected", ["model-drift"])]
    [pr] = [p for p in hub.github.pulls if p["base"]["repo"]["full_name"] == REPO]
    assert pr["head"]["ref"] == "retrain/drift" and pr["base"]["ref"] == "main"
    # pushed and opened with RETRAIN_TOKEN, not GITHUB_TOKEN: GitHub starts pr.yml for it
    [push] = [e for e in hub.github.push_events()
              if e["repo"] == REPO and e["ref"] == "refs/heads/retrain/drift"]
    assert push["token"] == "user" and hub.github.pull_creators[pr["number"]] == "user"
    assert hub.github.dispatches == []
    checks = pull_request_run(hub, pr)
    assert checks.jobs == {"runner": "success", "report": "success"}, checks.log[-4000:]
    assert comment_run(hub, checks, pr).jobs == {"comment": "success", "verdict": "success"}
    [comment] = comments(hub, REPO, pr["number"])
    assert comment["body"].startswith("## ")

    # Drift again the next week: the same issue is updated, the same PR force-pushed
    again = monitor_run(hub, "simulate", secrets_={"RETRAIN_TOKEN": token})
    assert again.jobs == {"drift": "success"}, again.log[-4000:]
    assert len([i for i in hub.github.issues
                if i["repo"] == REPO and not i.get("pull_request")]) == 1
    assert len([p for p in hub.github.pulls if p["base"]["repo"]["full_name"] == REPO]) == 1
    assert [c["body"] for c in comments(hub, REPO, issues[0]["number"])] == [
        "Drift seen again; report updated."]


def test_monitor_with_only_the_workflow_token_says_which_setting_is_missing(
        hub: Harness, tmp_path: Path) -> None:
    # A new repository as GitHub makes it: "Allow GitHub Actions to create and approve pull
    # requests" is off, and no App or RETRAIN_TOKEN is configured.
    seed(hub, "acme/fresh", tmp_path / "fresh")
    sha = hub.github.rev("acme/fresh", "refs/heads/main")
    run = hub.run("monitor.yml", "workflow_dispatch",
                  {"inputs": {"source": "simulate"}, "ref": "refs/heads/main"},
                  repo="acme/fresh", ref="refs/heads/main", sha=sha)
    assert run.jobs == {"drift": "failure"}, run.log[-4000:]
    assert "the workflow token may not open pull requests" in run.log
    assert "Allow GitHub Actions to create and approve pull requests" in run.log
    [issue] = [i for i in hub.github.issues if i["repo"] == "acme/fresh"]
    assert issue["labels"] == ["model-drift"]
    assert not [p for p in hub.github.pulls if p["base"]["repo"]["full_name"] == "acme/fresh"]
    # the branch went up with GITHUB_TOKEN: GitHub starts no workflow for that push
    [push] = [e for e in hub.github.push_events()
              if e["repo"] == "acme/fresh" and e["ref"] == "refs/heads/retrain/drift"]
    assert push["token"] == "workflow"


def test_monitor_with_the_workflow_token_dispatches_checks_that_reach_the_pr_head(
        hub: Harness, tmp_path: Path) -> None:
    # "Allow GitHub Actions to create and approve pull requests" on, no App or RETRAIN_TOKEN:
    # the PR is opened with GITHUB_TOKEN, which starts no pull_request run, so the monitor
    # dispatches pr.yml on the branch; its verdict lands on the PR's head commit.
    seed(hub, "acme/dispatch", tmp_path / "dispatch", allow_actions_prs=True)
    sha = hub.github.rev("acme/dispatch", "refs/heads/main")
    run = hub.run("monitor.yml", "workflow_dispatch",
                  {"inputs": {"source": "simulate"}, "ref": "refs/heads/main"},
                  repo="acme/dispatch", ref="refs/heads/main", sha=sha)
    assert run.jobs == {"drift": "success"}, run.log[-4000:]
    [pr] = [p for p in hub.github.pulls if p["base"]["repo"]["full_name"] == "acme/dispatch"]
    assert hub.github.pull_creators[pr["number"]] == "workflow"
    [dispatch] = [d for d in hub.github.dispatches if d["repo"] == "acme/dispatch"]
    # `ref`: a branch or tag name (docs: "Create a workflow dispatch event")
    ref = dispatch["ref"] if dispatch["ref"].startswith("refs/") else \
        f"refs/heads/{dispatch['ref']}"
    assert (dispatch["workflow"], ref) == ("pr.yml", f"refs/heads/{pr['head']['ref']}")
    head = hub.github.rev("acme/dispatch", ref)
    checks = hub.run("pr.yml", "workflow_dispatch", {"inputs": dispatch["inputs"], "ref": ref},
                     repo="acme/dispatch", ref=ref, sha=head)
    assert checks.jobs == {"runner": "success", "report": "success"}, checks.log[-4000:]
    judged = comment_run(hub, checks, pr, head_sha=head, event="workflow_dispatch")
    assert judged.jobs == {"comment": "success", "verdict": "success"}, judged.log[-4000:]
    status = hub.github_get(f"/repos/acme/dispatch/commits/{head}/status",
                            token=hub.user_token())
    assert [(s["context"], s["state"]) for s in status["statuses"]] == [
        ("gitops-ml / model gates", "success")]
    assert comments(hub, "acme/dispatch", pr["number"])
