"""pr.yml with TRAIN_RUNNER kind `cml` on act, against the local GitHub and a stand-in cloud.

`launch` starts an ephemeral cloud runner with `cml runner launch` (the setup-cml stand-in,
which follows https://cml.dev/doc/ref/runner); `report` runs only on the runner that registered
with the run's label; `teardown` terminates the run's instance whatever `report` did. REPO_TOKEN
(an environment secret of `training-runner`) registers the runner and nothing else, and never
reaches the pull request's code: a pull request that rewrites pipelines/runner.py to use it
changes nothing, because `launch` runs the default branch's code.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from flows import pull_request_run, push_branch, seed
from harness import Harness, Run

pytestmark = [pytest.mark.workflows, pytest.mark.xdist_group("workflows")]
REPO = "acme/cloud"
SETTING = {"kind": "cml", "cloud": "aws", "type": "g4dn.xlarge", "region": "us-east-1",
           "idle_timeout": 300, "max_minutes": 30}
VARIABLES = {"TRAIN_RUNNER": json.dumps(SETTING),
             "CML_AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/cml-runner",
             "CML_AWS_REGION": "us-east-1"}
ALL_JOBS = {"runner": "success", "launch": "success", "report": "success",
            "teardown": "success"}
# What a pull request could add to pipelines/runner.py to steal REPO_TOKEN, were its code run
# where the token is: open an issue with it (the local GitHub records every use of a token).
STEAL = '''
import json as _json
import os as _os
import urllib.request as _request

if _os.environ.get("REPO_TOKEN"):
    _request.urlopen(_request.Request(
        f"{_os.environ['GITHUB_API_URL']}/repos/{_os.environ['GITHUB_REPOSITORY']}/issues",
        data=_json.dumps({"title": "stolen"}).encode(), method="POST",
        headers={"Authorization": f"token {_os.environ['REPO_TOKEN']}"}))
'''


@pytest.fixture(scope="module")
def base(hub: Harness, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed(hub, REPO, tmp_path_factory.mktemp("acme") / "cloud")


def cml_run(hub: Harness, pr: dict[str, Any], repo_token: str) -> tuple[Run, str]:
    run_id = 700000 + secrets.randbelow(99999)
    label = f"cml-{run_id}-1"        # pipelines/runner.py: cml-RUN_ID-RUN_ATTEMPT
    run = pull_request_run(hub, pr, variables=VARIABLES, run_id=run_id,
                           environment_secrets={"training-runner": {"REPO_TOKEN": repo_token}},
                           self_hosted=(label,))
    return run, label


def instance_of(hub: Harness, label: str) -> dict[str, Any]:
    [instance] = [i for i in hub.cloud_instances() if i["tags"].get("gitops-ml-run") == label]
    return instance


def test_cml_runner_runs_report_on_the_runner_it_registered_and_is_torn_down(
        hub: Harness, base: Path) -> None:
    # A token that may register runners (administration: write), as REPO_TOKEN must be
    repo_token = hub.user_token("runner-bot", {"administration": "write"})
    runner_py = (base / "pipelines" / "runner.py").read_text()
    push_branch(hub, base, "cloud", {"README.md": (base / "README.md").read_text() + "\nMore.\n",
                                     "pipelines/runner.py": runner_py + STEAL},
                "Docs, and a runner.py that would use REPO_TOKEN")
    pr = hub.github.open_pull(REPO, REPO, "cloud")
    run, label = cml_run(hub, pr, repo_token)
    assert run.jobs == ALL_JOBS, run.log[-4000:]
    # the runner `cml runner launch` registered took `report`, and only that (--single)
    [runner] = [r for r in hub.github.runners if r["repo"] == REPO and r["name"] == label]
    assert runner["jobs"] == ["report"] and runner["ephemeral"] and runner.get("removed")
    assert {lab["name"] for lab in runner["labels"]} >= {"self-hosted", label}
    instance = instance_of(hub, label)
    assert runner["instance"] == instance["id"]
    assert (instance["type"], instance["region"], instance["spot"]) == (
        "g4dn.xlarge", "us-east-1", True)
    assert instance["credentials"] == "web-identity"          # OIDC, no long-lived key
    assert instance["state"] == "terminated"                  # teardown found it by its tag
    # REPO_TOKEN asked for a registration token and did nothing else
    assert hub.github.token_uses[repo_token] == [
        ("POST", f"/repos/{REPO}/actions/runners/registration-token")]
    assert not [i for i in hub.github.issues if i["repo"] == REPO and i["title"] == "stolen"]


def test_cml_runner_is_torn_down_when_report_fails(hub: Harness, base: Path) -> None:
    repo_token = hub.user_token("runner-bot", {"administration": "write"})
    hub.git(base, "switch", "-q", "main")
    text = (base / "params.yaml").read_text()
    assert text.count("    C: 1.0\n") == 1
    # a changed model whose results were not reproduced and committed: report fails
    push_branch(hub, base, "unreproduced", {"params.yaml": text.replace("    C: 1.0\n",
                                                                       "    C: 0.5\n")},
                "Halve C, forget dvc repro")
    pr = hub.github.open_pull(REPO, REPO, "unreproduced")
    run, label = cml_run(hub, pr, repo_token)
    assert run.jobs == {**ALL_JOBS, "report": "failure"}, run.log[-4000:]
    [runner] = [r for r in hub.github.runners if r["repo"] == REPO and r["name"] == label]
    assert runner["jobs"] == ["report"]
    assert instance_of(hub, label)["state"] == "terminated"


def test_cml_report_waits_for_a_runner_that_launch_never_registered(
        hub: Harness, base: Path) -> None:
    # REPO_TOKEN without the permission to register runners: launch fails, and report (which
    # needs launch) does not run on any machine; teardown still runs and finds nothing to stop
    weak = hub.user_token("runner-bot", {"contents": "read"})
    hub.git(base, "switch", "-q", "main")
    push_branch(hub, base, "weak-token", {"README.md": (base / "README.md").read_text() +
                                          "\nWeak.\n"}, "Docs")
    pr = hub.github.open_pull(REPO, REPO, "weak-token")
    run, label = cml_run(hub, pr, weak)
    assert run.jobs == {"runner": "success", "launch": "failure", "teardown": "success"}, \
        run.log[-4000:]
    assert "Resource not accessible by integration" in run.log
    assert not [r for r in hub.github.runners if r["name"] == label]
    assert not [i for i in hub.cloud_instances() if i["tags"].get("gitops-ml-run") == label]
