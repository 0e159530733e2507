"""The local GitHub answers as GitHub's REST documentation says, unhappy paths first (no Docker).

Each test names the behaviour of one endpoint; the fake's handlers cite the docs pages.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakegithub import API_HOST, FakeGitHub
from permissions import job_permissions

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
REPO = "acme/ml"


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(tmp_path, address="127.0.0.1", port=0)
    fake.start()
    fake.create_repo(REPO)
    commit(fake, REPO, "main", "one")
    try:
        yield fake
    finally:
        fake.stop()


def commit(gh: FakeGitHub, repo: str, branch: str, text: str) -> str:
    """A commit on `branch` (from its tip, else from main's) adding one file."""
    git = ["git", "-C", str(gh.git_dir(repo))]
    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@example.com",
           "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@example.com"}
    parent = next((out.stdout.strip() for ref in (branch, "main") if (out := subprocess.run(
        [*git, "rev-parse", "-q", "--verify", f"refs/heads/{ref}"], capture_output=True,
        text=True, check=False)).returncode == 0), "")
    blob = subprocess.run([*git, "hash-object", "-w", "--stdin"], input=text, text=True,
                          capture_output=True, check=True).stdout.strip()
    base = subprocess.run([*git, "ls-tree", parent], capture_output=True, text=True,
                          check=True).stdout if parent else ""
    tree = subprocess.run([*git, "mktree"], input=base + f"100644 blob {blob}\t{text}.txt\n",
                          text=True, capture_output=True, check=True).stdout.strip()
    sha = subprocess.run([*git, "commit-tree", tree, *(["-p", parent] if parent else []),
                          "-m", text], capture_output=True, text=True, check=True,
                         env=env).stdout.strip()
    subprocess.run([*git, "update-ref", f"refs/heads/{branch}", sha], check=True)
    return sha


def call(gh: FakeGitHub, method: str, path: str, token: str | None = None,
         body: Any = None) -> tuple[int, Any, dict[str, str]]:
    headers = {"Host": API_HOST, **({"Authorization": f"Bearer {token}"} if token else {})}
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{gh.port}{path}", data=data,
                                 method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), dict(exc.headers)


def job_token(gh: FakeGitHub, permissions: dict[str, str], job: str = "job") -> str:
    token = gh.add_token(f"ghs_{job}_{len(gh.tokens)}", "workflow", {})
    gh.start_job(token, job, permissions)
    return token


# ---- commit statuses ----------------------------------------------------------------------------
def test_fake_status_needs_a_token_with_statuses_write(gh: FakeGitHub) -> None:
    sha = gh.rev(REPO, "refs/heads/main")
    body = {"state": "failure", "context": "model-check"}
    assert call(gh, "POST", f"/repos/{REPO}/statuses/{sha}", None, body)[0] == 401
    read_only = job_token(gh, {"statuses": "read", "contents": "write"})
    status, answer, _ = call(gh, "POST", f"/repos/{REPO}/statuses/{sha}", read_only, body)
    assert (status, answer["message"]) == (403, "Resource not accessible by integration")


def test_fake_status_rejects_an_unknown_state_and_an_unknown_commit(gh: FakeGitHub) -> None:
    token = job_token(gh, {"statuses": "write"})
    sha = gh.rev(REPO, "refs/heads/main")
    assert call(gh, "POST", f"/repos/{REPO}/statuses/{sha}", token,
                {"state": "passed"})[0] == 422
    status, answer, _ = call(gh, "POST", f"/repos/{REPO}/statuses/{'e' * 40}", token,
                             {"state": "success"})
    assert status == 422 and answer["message"] == f"No commit found for SHA: {'e' * 40}"


def test_fake_combined_status_is_pending_without_statuses_and_failure_wins(
        gh: FakeGitHub) -> None:
    token = job_token(gh, {"statuses": "write"})
    sha = gh.rev(REPO, "refs/heads/main")
    assert call(gh, "GET", f"/repos/{REPO}/commits/main/status", token)[1]["state"] == "pending"
    for context, state in (("a", "failure"), ("b", "success"), ("a", "success")):
        call(gh, "POST", f"/repos/{REPO}/statuses/{sha}", token,
             {"state": state, "context": context})
    combined = call(gh, "GET", f"/repos/{REPO}/commits/{sha}/status", token)[1]
    assert combined["state"] == "success" and combined["total_count"] == 2   # latest per context
    call(gh, "POST", f"/repos/{REPO}/statuses/{sha}", token, {"state": "error", "context": "b"})
    assert call(gh, "GET", f"/repos/{REPO}/commits/main/status", token)[1]["state"] == "failure"
    listed = call(gh, "GET", f"/repos/{REPO}/commits/{sha}/statuses", token)[1]
    assert [s["state"] for s in listed] == ["error", "success", "success", "failure"]


# ---- check runs ---------------------------------------------------------------------------------
def test_fake_check_run_is_refused_to_a_person_and_to_a_job_without_checks_write(
        gh: FakeGitHub) -> None:
    sha = gh.rev(REPO, "refs/heads/main")
    body = {"name": "model-check", "head_sha": sha, "conclusion": "failure"}
    person = gh.add_token("ghp_person", "user", {"checks": "write"}, "octocat")
    status, answer, _ = call(gh, "POST", f"/repos/{REPO}/check-runs", person, body)
    assert (status, answer["message"]) == (403, "You must authenticate via a GitHub App.")
    assert call(gh, "POST", f"/repos/{REPO}/check-runs", job_token(gh, {"checks": "read"}),
                body)[0] == 403


@pytest.mark.parametrize("body", [{"head_sha": "main"}, {"name": "x"},
                                  {"name": "x", "head_sha": "main", "status": "completed"},
                                  {"name": "x", "head_sha": "main", "conclusion": "passed"}])
def test_fake_check_run_validates_its_fields(gh: FakeGitHub, body: dict[str, str]) -> None:
    assert call(gh, "POST", f"/repos/{REPO}/check-runs", job_token(gh, {"checks": "write"}),
                body)[0] == 422


def test_fake_check_runs_list_the_latest_per_name_for_a_ref(gh: FakeGitHub) -> None:
    token = job_token(gh, {"checks": "write"})
    sha = gh.rev(REPO, "refs/heads/main")
    first = call(gh, "POST", f"/repos/{REPO}/check-runs", token,
                 {"name": "model-check", "head_sha": sha, "status": "in_progress"})[1]
    assert first["status"] == "in_progress" and first["conclusion"] is None
    done = call(gh, "PATCH", f"/repos/{REPO}/check-runs/{first['id']}", token,
                {"conclusion": "failure"})[1]
    assert (done["status"], done["conclusion"]) == ("completed", "failure")
    call(gh, "POST", f"/repos/{REPO}/check-runs", token,
         {"name": "model-check", "head_sha": sha, "conclusion": "success"})
    listed = call(gh, "GET", f"/repos/{REPO}/commits/main/check-runs", token)[1]
    assert listed["total_count"] == 1 and listed["check_runs"][0]["conclusion"] == "success"
    everything = call(gh, "GET", f"/repos/{REPO}/commits/{sha}/check-runs?filter=all", token)[1]
    assert [r["conclusion"] for r in everything["check_runs"]] == ["success", "failure"]


# ---- pull requests ------------------------------------------------------------------------------
def test_fake_commit_pulls_of_a_fork_only_commit_is_empty(gh: FakeGitHub) -> None:
    gh.create_repo("contrib/ml", fork_of=REPO)
    subprocess.run(["git", "-C", str(gh.git_dir("contrib/ml")), "fetch", "-q",
                    str(gh.git_dir(REPO)), "main:main"], check=True)
    sha = commit(gh, "contrib/ml", "typo", "typo")
    gh.open_pull(REPO, "contrib/ml", "typo")
    assert call(gh, "GET", f"/repos/{REPO}/commits/{sha}/pulls")[1] == []


def test_fake_commit_pulls_lists_the_open_pr_of_a_branch_commit(gh: FakeGitHub) -> None:
    sha = commit(gh, REPO, "feature", "two")
    pr = gh.open_pull(REPO, REPO, "feature")
    assert [p["number"] for p in call(gh, "GET", f"/repos/{REPO}/commits/{sha}/pulls")[1]] == [
        pr["number"]]


def test_fake_commit_pulls_lists_the_merged_pr_of_a_default_branch_commit(
        gh: FakeGitHub) -> None:
    sha = commit(gh, REPO, "feature", "two")
    pr = gh.open_pull(REPO, REPO, "feature")
    gh.add_review(pr, "alice", "APPROVED")
    merge = gh.merge_pull(pr)
    assert gh.rev(REPO, "refs/heads/main") == merge
    for commit_sha in (merge, sha):
        [found] = call(gh, "GET", f"/repos/{REPO}/commits/{commit_sha}/pulls")[1]
        assert (found["number"], found["merge_commit_sha"]) == (pr["number"], merge)
        assert found["merged_at"]
    reviews = call(gh, "GET", f"/repos/{REPO}/pulls/{pr['number']}/reviews")[1]
    assert [(r["user"]["login"], r["state"]) for r in reviews] == [("alice", "APPROVED")]
    assert call(gh, "GET", f"/repos/{REPO}/pulls/999/reviews")[0] == 404


def test_fake_list_pulls_is_newest_first_by_default(gh: FakeGitHub) -> None:
    numbers = []
    for name in ("a", "b", "c"):
        commit(gh, REPO, name, name)
        numbers.append(gh.open_pull(REPO, REPO, name)["number"])
    assert [p["number"] for p in call(gh, "GET", f"/repos/{REPO}/pulls")[1]] == numbers[::-1]
    assert [p["number"] for p in call(gh, "GET", f"/repos/{REPO}/pulls?direction=asc")[1]] == \
        numbers
    assert call(gh, "GET", f"/repos/{REPO}/pulls?direction=up")[0] == 422


def test_fake_lists_send_link_headers_only_when_there_is_another_page(gh: FakeGitHub) -> None:
    token = job_token(gh, {"issues": "write"})
    for n in range(5):
        call(gh, "POST", f"/repos/{REPO}/issues", token, {"title": f"issue {n}"})
    status, page, headers = call(gh, "GET", f"/repos/{REPO}/issues?per_page=2&state=all", token)
    assert [i["title"] for i in page] == ["issue 4", "issue 3"]
    base = f"http://{API_HOST}/repos/{REPO}/issues"
    assert headers["Link"] == (f'<{base}?per_page=2&state=all&page=2>; rel="next", '
                               f'<{base}?per_page=2&state=all&page=3>; rel="last"')
    _, last, headers = call(gh, "GET", f"/repos/{REPO}/issues?per_page=2&page=3", token)
    assert [i["title"] for i in last] == ["issue 0"]
    assert 'rel="prev"' in headers["Link"] and 'rel="next"' not in headers["Link"]
    assert "Link" not in call(gh, "GET", f"/repos/{REPO}/issues", token)[2]


# ---- attestations and OIDC ----------------------------------------------------------------------
def _bundle(digest: str, predicate: str = "https://slsa.dev/provenance/v1") -> dict[str, Any]:
    statement = {"_type": "https://in-toto.io/Statement/v1", "predicateType": predicate,
                 "subject": [{"name": "img", "digest": {"sha256": digest}}], "predicate": {}}
    return {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "dsseEnvelope": {"payloadType": "application/vnd.in-toto+json",
                             "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
                             "signatures": [{"sig": "c2ln"}]}}


def test_fake_attestations_need_write_to_store_and_read_to_list(gh: FakeGitHub) -> None:
    digest = "a" * 64
    reader = job_token(gh, {"attestations": "read"})
    assert call(gh, "POST", f"/repos/{REPO}/attestations", reader,
                {"bundle": _bundle(digest)})[0] == 403
    writer = job_token(gh, {"attestations": "write"})
    assert call(gh, "POST", f"/repos/{REPO}/attestations", writer, {"bundle": {}})[0] == 422
    assert call(gh, "POST", f"/repos/{REPO}/attestations", writer,
                {"bundle": _bundle(digest)})[0] == 201
    no_scope = job_token(gh, {"contents": "read", "packages": "read"})
    assert call(gh, "GET", f"/repos/{REPO}/attestations/sha256:{digest}", no_scope)[0] == 403
    [found] = call(gh, "GET", f"/repos/{REPO}/attestations/sha256:{digest}", reader)[1][
        "attestations"]
    assert found["bundle"] == _bundle(digest)
    other = call(gh, "GET", f"/repos/{REPO}/attestations/sha256:{'b' * 64}", reader)[1]
    assert other == {"attestations": []}


def test_fake_private_repository_cannot_store_attestations(gh: FakeGitHub) -> None:
    # a private repository on a plan without artifact attestations: main.yml skips attest there
    gh.repos[REPO].private = True
    writer = job_token(gh, {"attestations": "write"})
    status, body, _ = call(gh, "POST", f"/repos/{REPO}/attestations", writer,
                           {"bundle": _bundle("a" * 64)})
    assert status == 403 and "private" in body["message"]
    assert gh.attestations == []


def test_fake_oidc_answers_only_the_running_job_with_id_token_write(gh: FakeGitHub) -> None:
    run = gh.add_token("ghs_run", "workflow", {})
    oidc = gh.add_token("oidc_run", "oidc", {})
    gh.tokens[oidc].run = run
    path = "/_runner/oidc?audience=sts.amazonaws.com"
    assert call(gh, "GET", path, oidc)[0] == 403              # between jobs
    gh.start_job(run, "build", {"contents": "read"})
    status, answer, _ = call(gh, "GET", path, oidc)
    assert status == 403 and "'build' has no `id-token: write`" in answer["message"]
    gh.start_job(run, "attest", {"id_token": "write"})
    assert call(gh, "GET", path, oidc)[0] == 200


def test_fake_signs_only_for_the_bearer_of_an_oidc_token_it_issued(gh: FakeGitHub) -> None:
    run = gh.add_token("ghs_sign", "workflow", {})
    gh.tokens[run].repository, gh.tokens[run].workflow, gh.tokens[run].ref = (
        REPO, ".github/workflows/main.yml", "refs/heads/main")
    oidc = gh.add_token("oidc_sign", "oidc", {})
    gh.tokens[oidc].run = run
    gh.start_job(run, "attest", {"id_token": "write"})
    jwt = call(gh, "GET", "/_runner/oidc?audience=sigstore", oidc)[1]["value"]
    claims = gh.oidc_issued[jwt]
    repo, _, rest = claims["job_workflow_ref"].partition("/.github/")
    path, _, ref = f".github/{rest}".partition("@")
    statement = {"predicate": {"buildDefinition": {"externalParameters": {"workflow": {
        "repository": f"http://github.localhost/{repo}", "path": path, "ref": ref}}}}}
    body = {"payloadType": "application/vnd.in-toto+json",
            "payload": base64.b64encode(json.dumps(statement).encode()).decode()}
    # a GitHub token is no signing identity; the OIDC token is (and is not a GitHub token)
    assert call(gh, "POST", "/_runner/sigstore/sign", run, body)[0] == 401
    status, answer, _ = call(gh, "POST", "/_runner/sigstore/sign", jwt, body)
    assert status == 200 and answer["sig"]


# ---- mutation: a permission a job needs, removed, fails its call --------------------------------
def test_fake_refuses_the_comment_job_once_pull_requests_permission_is_removed(
        gh: FakeGitHub) -> None:
    commit(gh, REPO, "feature", "two")
    pr = gh.open_pull(REPO, REPO, "feature")
    workflow = yaml.safe_load((WORKFLOWS / "pr-comment.yml").read_text())
    granted = job_permissions(workflow, "comment")
    path = f"/repos/{REPO}/issues/{pr['number']}/comments"
    assert call(gh, "POST", path, job_token(gh, granted, "comment"), {"body": "hi"})[0] == 201
    workflow["jobs"]["comment"]["permissions"].pop("pull-requests")
    workflow["jobs"]["comment"]["permissions"].pop("issues", None)
    mutated = job_permissions(workflow, "comment")
    assert call(gh, "POST", path, job_token(gh, mutated, "comment"), {"body": "hi"})[0] == 403


# ---- self-hosted runners (and the setup-cml stand-in's `cml runner launch`) ---------------------
CML = Path(__file__).resolve().parent / "actions" / "iterative" / "setup-cml" / "cml.py"
LAUNCH = ["runner", "launch", "--cloud=aws", "--cloud-type=t3.large", "--labels=cml-7-1",
          "--name=cml-7-1", "--single", "--idle-timeout=300", "--cloud-region=us-east-1",
          "--cloud-metadata=gitops-ml-run=cml-7-1", "--cloud-spot"]


def test_fake_registration_token_needs_administration_write(gh: FakeGitHub) -> None:
    path = f"/repos/{REPO}/actions/runners/registration-token"
    assert call(gh, "POST", path)[0] == 401
    # a GITHUB_TOKEN has no administration permission, whatever the job asks for
    status, answer, _ = call(gh, "POST", path, job_token(gh, {"contents": "write",
                                                               "actions": "write"}))
    assert (status, answer["message"]) == (403, "Resource not accessible by integration")
    reader = gh.add_token("ghp_reader", "user", {"administration": "read"})
    assert call(gh, "POST", path, reader)[0] == 403
    admin = gh.add_token("ghp_admin", "user", {"administration": "write"})
    status, answer, _ = call(gh, "POST", path, admin)
    assert status == 201 and answer["token"] in gh.registration_tokens
    assert set(answer) == {"token", "expires_at"}


def test_fake_runner_registers_only_with_a_registration_token(gh: FakeGitHub) -> None:
    admin = gh.add_token("ghp_admin", "user", {"administration": "write"})
    body = {"name": "r1", "labels": ["gpu"], "ephemeral": True}
    assert call(gh, "POST", "/_runner/register", admin, body)[0] == 401
    reg = call(gh, "POST", f"/repos/{REPO}/actions/runners/registration-token", admin)[1]
    status, runner, _ = call(gh, "POST", "/_runner/register", reg["token"], body)
    assert status == 201 and runner["status"] == "online" and runner["ephemeral"]
    assert [lab["name"] for lab in runner["labels"]] == ["self-hosted", "Linux", "X64", "gpu"]
    assert call(gh, "POST", "/_runner/register", reg["token"], body)[0] == 422   # same name
    status, listed, _ = call(gh, "GET", f"/repos/{REPO}/actions/runners", admin)
    assert status == 200 and [r["name"] for r in listed["runners"]] == ["r1"]
    # ephemeral: gone from the repository after its one job
    taken = gh.take_runner(REPO, "gpu", "report")
    assert taken is not None and gh.take_runner(REPO, "gpu", "other") is None
    gh.release_runner(taken)
    assert call(gh, "GET", f"/repos/{REPO}/actions/runners", admin)[1]["runners"] == []


def launch(gh: FakeGitHub, tmp_path: Path, argv: list[str],
           **env: str) -> subprocess.CompletedProcess[str]:
    identity = tmp_path / "web-identity"
    identity.write_text("eyJ.token.sig")
    base = {"PATH": os.environ["PATH"], "GITHUB_API_URL": f"http://127.0.0.1:{gh.port}/api/v3",
            "GITHUB_SERVER_URL": "http://github.localhost", "GITHUB_REPOSITORY": REPO,
            "FAKE_CLOUD_DIR": str(tmp_path / "cloud"), "AWS_ROLE_ARN": "arn:aws:iam::1:role/r",
            "AWS_WEB_IDENTITY_TOKEN_FILE": str(identity), "AWS_REGION": "us-east-1"}
    return subprocess.run(["python3", str(CML), *argv], capture_output=True, text=True,
                          env={**base, **env}, check=False)


def test_cml_runner_launch_refuses_unknown_flags_and_a_missing_token(
        gh: FakeGitHub, tmp_path: Path) -> None:
    admin = gh.add_token("ghp_admin", "user", {"administration": "write"})
    unknown = launch(gh, tmp_path, [*LAUNCH, "--cloud-zone=us-east-1a"], REPO_TOKEN=admin)
    assert unknown.returncode != 0 and "--cloud-zone" in unknown.stderr
    assert "https://cml.dev/doc/ref/runner" in unknown.stderr
    missing = launch(gh, tmp_path, LAUNCH)
    assert missing.returncode != 0 and "token not found" in missing.stderr
    no_cloud = launch(gh, tmp_path, LAUNCH, REPO_TOKEN=admin, AWS_ROLE_ARN="")
    assert no_cloud.returncode != 0 and "no aws credentials" in no_cloud.stderr
    # the workflow's own token may not register runners (no administration permission)
    workflow = launch(gh, tmp_path, LAUNCH, GITHUB_TOKEN=job_token(gh, {"contents": "read"}))
    assert workflow.returncode != 0 and "(403)" in workflow.stderr
    assert gh.runners == [] and not (tmp_path / "cloud").exists()


def test_cml_runner_launch_starts_a_tagged_instance_whose_runner_registers(
        gh: FakeGitHub, tmp_path: Path) -> None:
    admin = gh.add_token("ghp_admin", "user", {"administration": "write"})
    done = launch(gh, tmp_path, LAUNCH, REPO_TOKEN=admin)
    assert done.returncode == 0, done.stderr
    [runner] = gh.runners
    assert runner["name"] == "cml-7-1" and runner["ephemeral"]
    assert "cml-7-1" in [lab["name"] for lab in runner["labels"]]
    [instance] = [json.loads(p.read_text()) for p in (tmp_path / "cloud").glob("i-*.json")]
    assert instance["tags"] == {"gitops-ml-run": "cml-7-1"} and instance["spot"]
    assert runner["instance"] == instance["id"]
