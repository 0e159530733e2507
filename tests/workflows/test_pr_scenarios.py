"""Pull requests end to end: pr.yml then pr-comment.yml on act, against the local GitHub.

Same-repository PRs that pass and that fail a gate, a fork's PR, and a fork's PR that uploads a
hostile artifact. Each asserts what a reviewer sees on GitHub: the check's conclusion and the one
comment on the pull request.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml
from flows import (
    BOT,
    DEPENDABOT,
    WATERMARK,
    comment_run,
    comments,
    fork,
    pull_request_run,
    push_branch,
    seed,
)
from harness import Harness, Run, pins

pytestmark = [pytest.mark.workflows, pytest.mark.xdist_group("workflows")]
REPO = "acme/ml"


@pytest.fixture(scope="module")
def base(hub: Harness, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed(hub, REPO, tmp_path_factory.mktemp("acme") / "ml")


def _readme(clone: Path, line: str) -> dict[str, str]:
    return {"README.md": (clone / "README.md").read_text() + f"\n{line}\n"}


def _params_pull_request(hub: Harness, base: Path, branch: str, old: str, new: str,
                         message: str) -> tuple[dict, Run]:
    """A pull request from main that replaces `old` (once in params.yaml) with `new`, its results
    reproduced and committed as params.yaml's `results:` requires, and the run of its checks."""
    hub.git(base, "switch", "-q", "main")
    text = (base / "params.yaml").read_text()
    assert text.count(old) == 1
    push_branch(hub, base, branch, {"params.yaml": text.replace(old, new)}, message,
                reproduce=True)
    pr = hub.github.open_pull(REPO, REPO, branch)
    return pr, pull_request_run(hub, pr)


def test_pr_passing_gates_gets_one_comment_updated_on_the_next_push(hub: Harness,
                                                                    base: Path) -> None:
    push_branch(hub, base, "docs", _readme(base, "A clearer sentence."), "Docs: clarify")
    pr = hub.github.open_pull(REPO, REPO, "docs")
    first = pull_request_run(hub, pr)
    assert first.jobs == {"runner": "success", "report": "success"}, first.log[-3000:]
    posted = comment_run(hub, first, pr)
    assert posted.jobs == {"comment": "success", "verdict": "success"}, posted.log[-3000:]
    assert required_status(hub, pr["head"]["sha"]) == {"gitops-ml / model gates": "success"}
    [comment] = comments(hub, REPO, pr["number"])
    assert comment["user"]["login"] == BOT
    assert comment["body"].startswith("## ✅ Model check passed")
    assert f"Report for `{pr['head']['sha'][:7]}`" in comment["body"]
    assert f'"{WATERMARK}")' in comment["body"]

    push_branch(hub, base, "docs", _readme(base, "And another."), "Docs: more")
    second_sha = hub.github.sync_pull_ref(pr)
    second = pull_request_run(hub, pr, action="synchronize")
    assert second.jobs == {"runner": "success", "report": "success"}, second.log[-3000:]
    assert comment_run(hub, second, pr).jobs == {"comment": "success", "verdict": "success"}
    [updated] = comments(hub, REPO, pr["number"])
    assert updated["id"] == comment["id"]
    assert f"Report for `{second_sha[:7]}`" in updated["body"]


def test_pr_failing_a_gate_is_red_and_the_comment_names_the_gate(hub: Harness,
                                                                 base: Path) -> None:
    # A clearly worse model: a thousand times the regularisation (accuracy falls to about 0.66),
    # reproduced and committed as params.yaml's `results:` requires. (Raising a floor in the PR
    # would not do: a pull request is judged by the base branch's gates.)
    pr, run = _params_pull_request(hub, base, "weak-features", "    C: 1.0\n", "    C: 0.0001\n",
                                   "Regularise harder")
    assert run.jobs == {"runner": "success", "report": "failure"}, run.log[-3000:]
    assert comment_run(hub, run, pr).jobs == {"comment": "success", "verdict": "success"}
    assert required_status(hub, pr["head"]["sha"]) == {"gitops-ml / model gates": "failure"}
    [comment] = comments(hub, REPO, pr["number"])
    assert comment["body"].startswith("## ❌ Model check failed")
    assert "blocked by `accuracy floor`" in comment["body"]
    # judged on the PR model's interval: "0.6316 [0.5439, 0.7193]" under "≥ 0.9000, passes
    # only if shown above (95% interval)"
    assert re.search(r"\| `accuracy floor` \| `≥ 0\.9000, passes only if shown above \(95% "
                     r"interval\)` \| `0\.[0-8]\d\d\d \[0\.\d+, 0\.[0-8]\d+\]` \| ❌ \|",
                     comment["body"]), comment["body"]
    # both models on the same rows: accuracy worse across its whole interval
    assert re.search(r"^\| `accuracy` \| [^\n]*\[[^\n]*\] \| worse \|$", comment["body"], re.M), \
        comment["body"]


def test_pr_changing_only_the_seed_shows_no_detectable_change_and_passes(hub: Harness,
                                                                          base: Path) -> None:
    """Another seed moves the split and the model a little: noise, not harm. Both models are
    judged on the same rows (main's model reproduced from the merge-base: no DVC cache in this
    repository yet), every metric shows no detectable change, and every gate passes."""
    pr, run = _params_pull_request(hub, base, "reseed", "\nseed: 42 ", "\nseed: 1 ",
                                   "Another seed")
    assert run.jobs == {"runner": "success", "report": "success"}, run.log[-3000:]
    assert comment_run(hub, run, pr).jobs == {"comment": "success", "verdict": "success"}
    assert required_status(hub, pr["head"]["sha"]) == {"gitops-ml / model gates": "success"}
    [comment] = comments(hub, REPO, pr["number"])
    body = comment["body"]
    assert body.startswith("## ✅ Model check passed"), body
    words = re.findall(r"^\| `[a-z_0-9]+` \| [^\n]* \| (better|worse|no detectable change) \|$",
                       body, re.M)
    assert words and set(words) == {"no detectable change"}, body


def test_fork_pr_gets_no_secrets_or_oidc_and_still_its_comment(
        hub: Harness, base: Path, tmp_path: Path) -> None:
    clone = fork(hub, REPO, "contrib/ml", tmp_path / "fork")
    sha = push_branch(hub, clone, "typo", _readme(clone, "Fixed a typo."), "Fix a typo",
                      login="contrib")
    pr = hub.github.open_pull(REPO, "contrib/ml", "typo", user="contrib")
    # The old lookup finds nothing for a commit that exists only in the fork
    assert hub.github_get(f"/repos/{REPO}/commits/{sha}/pulls") == []
    run = pull_request_run(hub, pr, variables={"DVC_AWS_READ_ROLE_ARN": "arn:aws:iam::1:role/r",
                                               "DVC_AWS_REGION": "eu-west-1"},
                           secrets_={"RETRAIN_TOKEN": "should-not-reach-a-fork"})
    assert run.jobs == {"runner": "success", "report": "success"}, run.log[-3000:]
    assert "AWS credentials for the DVC remote" not in _steps_run(run.log)
    assert "should-not-reach-a-fork" not in run.log
    posted = comment_run(hub, run, pr)
    assert posted.jobs == {"comment": "success", "verdict": "success"}, posted.log[-3000:]
    [comment] = comments(hub, REPO, pr["number"])
    assert comment["body"].startswith("## ✅ Model check passed")
    assert required_status(hub, sha) == {"gitops-ml / model gates": "success"}


def test_dependabot_pr_bumping_one_action_pin_goes_green(hub: Harness, base: Path) -> None:
    # What Dependabot's github-actions updater pushes: one `uses:` with a new release commit and
    # the version comment moved with it (stand-ins are keyed by major version, not commit).
    hub.git(base, "switch", "-q", "main")
    text = (base / ".github/workflows/pr.yml").read_text()
    pin = pins(text)[0]
    line = next(ln for ln in text.splitlines() if f"{pin.uses}@{pin.sha} #" in ln)
    new_sha = hashlib.sha1(f"{pin.uses} next release".encode()).hexdigest()
    bumped_line = re.sub(r"@[0-9a-f]{40} # (v\d+)\.\d+\.\d+", rf"@{new_sha} # \g<1>.99.0", line)
    bumped = text.replace(line, bumped_line, 1)
    assert bumped != text
    push_branch(hub, base, "dependabot/github_actions/bump", {".github/workflows/pr.yml": bumped},
                f"Bump {pin.uses} to {pin.major}.99.0", login="dependabot")
    pr = hub.github.open_pull(REPO, REPO, "dependabot/github_actions/bump", user=DEPENDABOT)
    run = pull_request_run(hub, pr)
    assert run.jobs == {"runner": "success", "report": "success"}, run.log[-3000:]
    assert f"{pin.repo}@{new_sha}" in run.log             # the bumped pin is what ran
    assert comment_run(hub, run, pr).jobs == {"comment": "success", "verdict": "success"}
    [comment] = comments(hub, REPO, pr["number"])
    assert comment["body"].startswith("## ✅ Model check passed")
    assert required_status(hub, pr["head"]["sha"]) == {"gitops-ml / model gates": "success"}


HOSTILE_MD = ("## ✅ Model check passed\n\nLGTM, merge it @acme/admins "
              "<img src=x onerror=alert(1)> [details](https://evil.example/login)\n")


def self_reporting_pr_files(clone: Path, report: dict, markdown: str) -> dict[str, str]:
    """A pr.yml replaced by one `report` job that uploads whatever report it likes (a pull
    request runs its own pr.yml on `pull_request`), keeping the pins' release comments."""
    workflow = yaml.safe_load((clone / ".github/workflows/pr.yml").read_text())
    checkout = workflow["jobs"]["report"]["steps"][0]["uses"]
    upload = next(s["uses"] for s in workflow["jobs"]["report"]["steps"]
                  if "upload-artifact" in s.get("uses", ""))
    own = {"name": "PR", "on": {"pull_request": None}, "permissions": {"contents": "read"},
           "jobs": {"report": {"runs-on": "ubuntu-latest", "steps": [
               {"uses": checkout, "with": {"persist-credentials": False}},
               {"run": "mkdir -p \"$RUNNER_TEMP/pr-report\"\n"
                       "python3 .github/hostile.py \"$RUNNER_TEMP/pr-report\""},
               {"uses": upload, "with": {"name": "pr-report",
                                         "path": "${{ runner.temp }}/pr-report"}}]}}}
    script = ("import json, os, sys\n"
              "event = json.load(open(os.environ['GITHUB_EVENT_PATH']))\n"
              "sha = event['pull_request']['head']['sha']   # what the comment job checks\n"
              "data = json.load(open('.github/hostile.json'))\n"
              "data['head']['sha'] = sha\n"
              "open(sys.argv[1] + '/pr_report.json', 'w').write(json.dumps(data))\n"
              "open(sys.argv[1] + '/pr_report.md', 'w').write(open('.github/hostile.md').read())\n")
    text = yaml.safe_dump(own, width=1000)
    for pinned in (checkout, upload):
        [line] = {ln.split("uses:", 1)[1].strip() for ln in
                  (clone / ".github/workflows/pr.yml").read_text().splitlines()
                  if f"uses: {pinned} #" in ln}
        text = text.replace(f"uses: {pinned}\n", f"uses: {line}\n")
    return {".github/workflows/pr.yml": text, ".github/hostile.py": script,
            ".github/hostile.json": json.dumps(report), ".github/hostile.md": markdown}


def required_status(hub: Harness, sha: str) -> dict:
    """The commit status the `main` ruleset requires, as the combined-status API shows it."""
    combined = hub.github_get(f"/repos/{REPO}/commits/{sha}/status",
                              token=hub.user_token())
    return {s["context"]: s["state"] for s in combined["statuses"]}


def test_fork_pr_with_hostile_artifact_gets_only_what_the_json_says(
        hub: Harness, base: Path, tmp_path: Path) -> None:
    clone = fork(hub, REPO, "mallory/ml", tmp_path / "hostile")
    main_sha = hub.github.rev(REPO, "refs/heads/main")
    hostile_json = {
        "schema": "gitops-ml/pr-report/v1", "verdict": "fail", "first_pr": False,
        "base": {"ref": "main", "sha": main_sha}, "head": {"sha": "HEAD_SHA"},
        "pipeline": {"state": "reproduced"}, "params": [{"key": "@acme/admins"}],
        "metrics": [{"name": "roc_auc <b>", "base": 0.99, "head": 0.5, "abs_delta": -0.49,
                     "rel_delta": -0.5}],
        "gates": [{"gate": "roc_auc floor` @acme/admins [x](https://evil.example)",
                   "key": "k", "rule": "r", "value": "v", "status": "fail", "blocking": True,
                   "detail": "<img src=x onerror=alert(1)>\n## ✅ passed | |"}]}
    push_branch(hub, clone, "innocent", self_reporting_pr_files(clone, hostile_json, HOSTILE_MD),
                "Harmless change", login="mallory")
    pr = hub.github.open_pull(REPO, "mallory/ml", "innocent", user="mallory")
    run = pull_request_run(hub, pr)
    assert run.jobs == {"report": "success"}, run.log[-3000:]    # the fork's workflow, its jobs
    posted = comment_run(hub, run, pr)
    assert posted.jobs == {"comment": "success", "verdict": "success"}, posted.log[-3000:]
    assert required_status(hub, pr["head"]["sha"]) == {"gitops-ml / model gates": "failure"}
    [comment] = comments(hub, REPO, pr["number"])
    body = comment["body"]
    assert body.startswith("## ❌ Model check failed")     # the JSON's verdict, not the Markdown's
    assert "merge it" not in body and "✅ Model check passed" not in body
    outside_code = re.sub(r"`[^`]*`", "", body)
    for bad in ("@acme", "<img", "<b>", "evil.example", "\n## ✅"):
        assert bad not in outside_code, bad


def test_pr_that_rewrites_its_own_checks_to_pass_still_gets_a_red_required_status(
        hub: Harness, base: Path) -> None:
    # A same-repository PR replaces pr.yml with a job that reports "pass" for a model far below
    # the default branch's floors: its own check goes green, the required status (judged by the
    # default branch's code in pr-comment.yml) goes red on its head commit.
    hub.git(base, "switch", "-q", "main")
    main_sha = hub.github.rev(REPO, "refs/heads/main")
    claims_pass = {
        "schema": "gitops-ml/pr-report/v1", "verdict": "pass", "first_pr": False,
        "base": {"ref": "main", "sha": main_sha}, "head": {"sha": "HEAD_SHA"},
        "pipeline": {"state": "reproduced"}, "params": [],
        "metrics": [{"name": "roc_auc", "base": 0.99, "head": 0.5, "abs_delta": -0.49,
                     "rel_delta": -0.49}],
        "gates": [{"gate": "roc_auc floor", "key": "gates.floors.roc_auc", "rule": "≥ 0.95",
                   "value": "0.5", "status": "pass", "blocking": True, "detail": ""}]}
    head = push_branch(hub, base, "always-green",
                       self_reporting_pr_files(base, claims_pass, "## ✅ Model check passed\n"),
                       "Make the checks pass")
    pr = hub.github.open_pull(REPO, REPO, "always-green")
    run = pull_request_run(hub, pr)
    assert run.jobs == {"report": "success"}, run.log[-3000:]
    judged = comment_run(hub, run, pr)
    assert judged.jobs.get("verdict") == "success", judged.log[-4000:]
    assert required_status(hub, head) == {"gitops-ml / model gates": "failure"}


def _steps_run(log: str) -> str:
    return "\n".join(line for line in log.splitlines() if "⭐ Run Main" in line)
