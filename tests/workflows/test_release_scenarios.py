"""A repository made with "Use this template", from its first push to a deployed model, on act
against the local GitHub and a local OCI registry:

1. template-init.yml on the first push names the project after the repository and commits it
   with GITHUB_TOKEN (a push that starts no workflow); it never runs in the template itself;
2. main.yml on that same first push (one commit: no parent, `before` all zeros) waits for init;
   template-init dispatches it on the initialised commit, where it reproduces, gates, builds,
   smoke-tests and pushes the image to the registry, and registers the model version tag (under
   the project's own name) with the pushed digest;
3. a stage tag pushed by a person starts promote.yml, which verifies the provenance and deploys
   exactly that digest; the same without `attestations: read` (a mutant promote.yml) fails;
4. a forged registration (the bot's record copied, an image pushed by hand) is refused;
5. a reviewed pull request merged to main is registered with its approver; the repository is
   private by then, on a plan without artifact attestations: attest is skipped, the version is
   registered as unattested, prod refuses it until variable ALLOW_UNATTESTED=true, then moves
   to it, and a rollback deploys the first (attested) digest again, verified;
6. a canary tag on the newer version deploys it beside prod.
They share one repository and run in order (each step needs the one before): one test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from flows import pull_request_run, push_branch, seed, starts_on_tag_push
from harness import Harness, Run

pytestmark = [pytest.mark.workflows, pytest.mark.xdist_group("workflows")]
REPO = "acme/churn-model"
ZERO = "0" * 40
state: dict[str, Any] = {}


@pytest.fixture(scope="module")
def repo(hub: Harness, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry (Debian package) not installed: .ci/run installs it")
    clone = seed(hub, REPO, tmp_path_factory.mktemp("acme") / "churn",
                 description="Predicts which customers churn")
    state["first"] = hub.github.rev(REPO, "refs/heads/main")
    state["registry"] = hub.start_registry()
    return clone


def registry_settings(hub: Harness) -> dict[str, Any]:
    """The local registry as a repository configures a registry other than ghcr.io (README):
    variable IMAGE_REGISTRY, secrets REGISTRY_USERNAME/REGISTRY_PASSWORD (a person's token that
    may push packages; the local registry's token service is the local GitHub)."""
    return {"variables": {"IMAGE_REGISTRY": state["registry"]},
            "secrets_": {"REGISTRY_USERNAME": "octocat",
                         "REGISTRY_PASSWORD": hub.user_token("octocat")}}


def push_event(hub: Harness, before: str, after: str, ref: str = "refs/heads/main") -> dict:
    # https://docs.github.com/en/webhooks/webhook-events-and-payloads#push
    return {"ref": ref, "before": before, "after": after, "created": before == ZERO,
            "deleted": False, "forced": False, "pusher": {"name": "octocat"},
            "head_commit": {"id": after}}


def test_template_init_skips_the_template_itself(hub: Harness, repo: Path) -> None:
    hub.github.repos[REPO].is_template = True
    try:
        run = hub.run("template-init.yml", "push", push_event(hub, ZERO, state["first"]),
                      repo=REPO, ref="refs/heads/main", sha=state["first"])
    finally:
        hub.github.repos[REPO].is_template = False
    assert run.returncode == 0 and run.jobs == {}, run.log[-2000:]


def test_template_repository_from_first_push_to_a_deployed_digest(hub: Harness,
                                                                   repo: Path) -> None:
    """The steps depend on each other (one repository, in order), so they are one test."""
    template_init_names_the_project_and_its_push_starts_nothing(hub, repo)
    main_on_the_first_push_publishes_and_registers(hub, repo)
    promote_on_a_stage_tag_deploys_the_recorded_digest(hub, repo)
    promote_without_the_attestations_permission_is_refused(hub, repo)
    a_forged_registration_of_an_unattested_image_is_refused(hub, repo)
    a_merged_pull_request_is_registered_with_its_approvals_then_rolled_back(hub, repo)
    a_canary_starts_once_promote_listens_to_canary_tags(hub, repo)


def template_init_names_the_project_and_its_push_starts_nothing(hub: Harness, repo: Path) -> None:
    run = hub.run("template-init.yml", "push", push_event(hub, ZERO, state["first"]),
                  repo=REPO, ref="refs/heads/main", sha=state["first"])
    assert run.jobs == {"init": "success"}, run.log[-4000:]
    after = hub.github.rev(REPO, "refs/heads/main")
    assert after != state["first"]
    project = hub.file_at(REPO, after, "project.yaml")
    assert "churn-model" in project or "churn_model" in project
    [push] = [e for e in hub.github.push_events() if e["after"] == after]
    assert push["token"] == "workflow"   # GITHUB_TOKEN: GitHub starts no workflow for it
    # the one-shot could not remove itself without TEMPLATE_INIT_TOKEN (workflows permission)
    assert hub.file_at(REPO, after, ".github/workflows/template-init.yml")
    # so it starts main.yml on its commit itself: workflow_dispatch, the one event a workflow
    # token may start a run with (needs `actions: write`, enforced by the fake)
    assert [(d["workflow"], d["ref"]) for d in hub.github.dispatches if d["repo"] == REPO] == [
        ("main.yml", "main")]
    state["initialised"] = after


def main_on_the_first_push_publishes_and_registers(hub: Harness, repo: Path) -> None:
    """main.yml on the first push waits for init (it would register the template's model name);
    the run template-init dispatched publishes and registers under the project's own name."""
    first = state["first"]
    waited = hub.run("main.yml", "push", push_event(hub, ZERO, first), repo=REPO,
                     ref="refs/heads/main", sha=first, **registry_settings(hub))
    assert waited.jobs == {"runner": "success"}, waited.log[-6000:]
    assert "template-init.yml names the project" in waited.log
    initialised = state["initialised"]
    run = hub.run("main.yml", "workflow_dispatch",
                  {"inputs": {}, "ref": "refs/heads/main",
                   "workflow": ".github/workflows/main.yml"},
                  repo=REPO, ref="refs/heads/main", sha=initialised, **registry_settings(hub))
    assert run.jobs == {"runner": "success", "reproduce": "success", "publish": "success",
                        "register": "success", "attest": "success"}, run.log[-6000:]
    tags = subprocess.run(["git", "-C", str(hub.github.git_dir(REPO)), "for-each-ref",
                           "--format=%(refname:short) %(contents)", "refs/tags"],
                          capture_output=True, text=True, check=True).stdout
    [tag] = [word for word in tags.split() if "@v" in word and not word.startswith(
        state["registry"])]
    assert tag.startswith("churn-model@v"), tags   # the project's name, not the template's
    image = f"{state['registry']}/{REPO}"
    # the digest in the tag is the one the registry serves for the version's image tag
    version = tag.split("@")[1]
    digest = served_digest(state["registry"], version)
    assert digest.startswith("sha256:") and digest in tags, tags
    assert image in tags
    assert [a["repo"] for a in hub.github.attestations] == [REPO]
    state.update(tag=tag, version=version, digest=digest, image=image)


def assign(hub: Harness, repo: Path, registration: str, stage: str,
           workflow_ref: str | None = None, allow_unattested: bool = False) -> Run | None:
    """A person assigns the version of `registration` to `stage` (GTO's stage tag, numbered as
    `gto assign` numbers them) and pushes it. GitHub starts promote.yml for the tag push when the
    workflow file at the tagged commit (the version's commit; GITHUB_SHA of a tag push) listens
    to that tag, and runs that file; `workflow_ref` runs another file instead (a mutant).
    `allow_unattested` sets the repository variable ALLOW_UNATTESTED=true (docs/governance.md)."""
    artifact = registration.split("@")[0]
    hub.git(repo, "fetch", "-q", "origin", "+refs/tags/*:refs/tags/*")
    count = sum(1 for t in hub.git(repo, "tag", "--list", f"{artifact}#*").split() if t)
    stage_tag = f"{artifact}#{stage}#{count + 1}"
    hub.git(repo, "tag", "-a", stage_tag, "-m", f"Assign to {stage}", registration + "^{}")
    hub.git(repo, "push", "-q", "origin", f"refs/tags/{stage_tag}", token=hub.user_token())
    tagged = hub.github.rev(REPO, f"refs/tags/{stage_tag}^{{commit}}")
    if not starts_on_tag_push(hub.file_at(REPO, workflow_ref or tagged,
                                          ".github/workflows/promote.yml"), stage_tag):
        return None                     # GitHub starts no run for this tag
    settings = registry_settings(hub)
    if allow_unattested:
        settings["variables"]["ALLOW_UNATTESTED"] = "true"
    return hub.run("promote.yml", "push",
                   push_event(hub, ZERO, hub.github.rev(REPO, f"refs/tags/{stage_tag}"),
                              ref=f"refs/tags/{stage_tag}"),
                   repo=REPO, ref=f"refs/tags/{stage_tag}", sha=tagged,
                   workflow_ref=workflow_ref or tagged, **settings)


def release(hub: Harness, stage: str) -> str:
    return hub.file_at(REPO, f"refs/heads/deploy/{stage}",
                       f"deploy/overlays/{stage}/release.yaml")


def promote_on_a_stage_tag_deploys_the_recorded_digest(hub: Harness, repo: Path) -> None:
    main = hub.github.rev(REPO, "refs/heads/main")
    hub.github.repos[REPO].protected = ["main"]   # as the README recommends, once set up
    run = assign(hub, repo, state["tag"], "prod")
    assert run.jobs == {"resolve": "success", "deploy": "success"}, run.log[-5000:]
    assert "✓ Verification succeeded!" in run.log      # provenance verified before deploying
    assert f"{state['image']}@{state['digest']}" in release(hub, "prod")
    assert hub.github.rev(REPO, "refs/heads/main") == main   # the protected branch untouched
    [push] = [e for e in hub.github.push_events() if e["ref"] == "refs/heads/deploy/prod"]
    assert push["token"] == "workflow"


def promote_without_the_attestations_permission_is_refused(hub: Harness, repo: Path) -> None:
    """Mutation: promote.yml's resolve job without `attestations: read` must fail, as on GitHub
    (gh reads the attestations API with the job's token)."""
    text = hub.file_at(REPO, "refs/heads/main", ".github/workflows/promote.yml")
    workflow = yaml.safe_load(text)
    assert workflow["jobs"]["resolve"]["permissions"].get("attestations") == "read"
    lines = text.splitlines(keepends=True)
    start = lines.index("  resolve:\n")
    cut = next(i for i in range(start + 1, len(lines))
               if re.match(r"^\s+attestations:\s*read\b", lines[i]))
    assert not any(re.match(r"^  \S", line) for line in lines[start + 1:cut])   # same job
    mutant = "".join(lines[:cut] + lines[cut + 1:])
    assert "attestations" not in yaml.safe_load(mutant)["jobs"]["resolve"]["permissions"]
    hub.git(repo, "fetch", "-q", "origin", "main")
    hub.git(repo, "switch", "-q", "-C", "mutant", "FETCH_HEAD")
    sha = push_branch(hub, repo, "mutant", {".github/workflows/promote.yml": mutant},
                      "promote.yml without attestations: read")
    run = assign(hub, repo, state["tag"], "prod", workflow_ref=sha)
    assert run.jobs.get("resolve") == "failure", run.log[-4000:]
    assert "HTTP 403: Resource not accessible by integration" in run.log, run.log[-4000:]
    hub.git(repo, "switch", "-q", "main")


def push_image_as_person(hub: Harness, tag: str) -> str:
    """An image pushed to the project's namespace by hand (a person's registry token): the
    digest the registry serves for it."""
    image = f"{state['image']}:{tag}"
    config = hub.root / f"docker-{tag}"
    config.mkdir()
    env = {**os.environ, "DOCKER_CONFIG": str(config)}
    subprocess.run(["docker", "tag", "act-runner:local", image], check=True)
    subprocess.run(["docker", "login", "-u", "mallory", "--password-stdin", state["registry"]],
                   input=hub.user_token("mallory"), text=True, env=env, capture_output=True,
                   check=True)
    subprocess.run(["docker", "push", "-q", image], env=env, capture_output=True, check=True)
    return served_digest(state["registry"], tag)


def served_digest(registry: str, tag: str) -> str:
    """The digest the registry serves for `tag`, pulled as anyone may pull a public package
    (answering the registry's Bearer challenge with an anonymous token)."""
    req = urllib.request.Request(
        f"http://{registry}/v2/{REPO}/manifests/{tag}", method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                           "application/vnd.oci.image.manifest.v1+json"})
    try:
        urllib.request.urlopen(req)
    except urllib.error.HTTPError as exc:   # the registry's Bearer challenge: anonymous pull
        challenge = dict(re.findall(r'(\w+)="([^"]*)"', exc.headers["WWW-Authenticate"]))
        realm = challenge.pop("realm")
        token = json.loads(urllib.request.urlopen(
            f"{realm}?{urllib.parse.urlencode(challenge)}").read())["token"]
        req.add_header("Authorization", f"Bearer {token}")
    return urllib.request.urlopen(req).headers["Docker-Content-Digest"]


def a_forged_registration_of_an_unattested_image_is_refused(hub: Harness, repo: Path) -> None:
    """Someone who can push tags copies the bot's registration record, names the bot as the
    tagger and swaps in an image they pushed themselves: only the build provenance attestation
    tells it apart, and promote refuses it."""
    digest = push_image_as_person(hub, "forged")
    genuine = subprocess.run(["git", "-C", str(hub.github.git_dir(REPO)), "for-each-ref",
                              "--format=%(contents)", f"refs/tags/{state['tag']}"],
                             capture_output=True, text=True, check=True).stdout
    forged_version = "v99.0.0"
    message = genuine.replace(state["digest"], digest).replace(state["version"], forged_version)
    artifact = state["tag"].split("@")[0]
    forged = f"{artifact}@{forged_version}"
    bot = {"GIT_COMMITTER_NAME": "github-actions[bot]",
           "GIT_COMMITTER_EMAIL": "41898282+github-actions[bot]@users.noreply.github.com"}
    # on a commit of their own (GTO ties a stage tag to the one version registered on its
    # commit: a second registration on the genuine commit makes both unassignable)
    hub.git(repo, "fetch", "-q", "origin", "main")
    hub.git(repo, "switch", "-q", "-C", "forged", "FETCH_HEAD")
    commit = push_branch(hub, repo, "forged", {"NOTES.md": "nothing to see\n"}, "Notes")
    hub.git(repo, "switch", "-q", "main")
    subprocess.run(["git", "tag", "-a", forged, "-m", message, commit], cwd=repo,
                   env={**hub.git_env(), **bot}, check=True, capture_output=True)
    hub.git(repo, "push", "-q", "origin", f"refs/tags/{forged}", token=hub.user_token())
    run = assign(hub, repo, forged, "staging")
    assert run.jobs.get("resolve") == "failure", run.log[-4000:]
    assert "deploy" not in run.jobs or run.jobs["deploy"] != "success"
    assert f"{state['image']}@{digest}: no build provenance attestation verifies" in run.log, \
        run.log[-4000:]


def a_merged_pull_request_is_registered_with_its_approvals_then_rolled_back(
        hub: Harness, repo: Path) -> None:
    """A reviewed pull request merged to main: main.yml publishes and registers a new version
    whose record names the pull request and its approver. The repository has gone private on a
    plan without artifact attestations (docs/governance.md): attest is skipped and the version
    is registered unattested; prod refuses it until ALLOW_UNATTESTED=true, then moves to it, and
    a rollback (a new stage tag on the earlier version) deploys the earlier digest again."""
    hub.git(repo, "fetch", "-q", "origin", "main")
    hub.git(repo, "switch", "-q", "-C", "tune", "FETCH_HEAD")
    params = (repo / "params.yaml").read_text()
    tuned = params.replace("    C: 1.0\n", "    C: 0.9\n")
    assert tuned != params
    # the change also lets promote.yml deploy canaries (README "Or a canary"): a stage tag runs
    # the promote.yml of the version's commit, so versions registered from here on can canary
    promote = (repo / ".github/workflows/promote.yml").read_text()
    prod = '      - "**#prod#*"\n'
    listening = promote.replace(prod, prod + '      - "**#canary#*"\n')
    assert listening != promote
    push_branch(hub, repo, "tune", {"params.yaml": tuned,
                                    ".github/workflows/promote.yml": listening},
                "Regularise a little more; deploy canaries", reproduce=True)
    pr = hub.github.open_pull(REPO, REPO, "tune")
    # its checks restore the DVC cache main.yml saved on the default branch (exact key or the
    # `dvc-Linux-` restore-key prefix): the Actions cache is scoped per repository and ref
    checks = pull_request_run(hub, pr)
    assert checks.jobs == {"runner": "success", "report": "success"}, checks.log[-4000:]
    assert re.search(r"Cache restored from key: dvc-Linux-", checks.log), checks.log[-4000:]
    hub.github.add_review(pr, "alice", "APPROVED")
    before = hub.github.rev(REPO, "refs/heads/main")
    merge = hub.github.merge_pull(pr)
    hub.github.repos[REPO].private = True     # the fake refuses to store attestations now
    attestations = len(hub.github.attestations)
    run = hub.run("main.yml", "push", push_event(hub, before, merge), repo=REPO,
                  ref="refs/heads/main", sha=merge, **registry_settings(hub))
    # attest is skipped (no job result in act's log), register runs with --no-attestation
    assert run.jobs == {"runner": "success", "reproduce": "success", "publish": "success",
                        "register": "success"}, run.log[-6000:]
    assert len(hub.github.attestations) == attestations
    assert "registered without a build provenance attestation" in run.log, run.log[-6000:]
    artifact = state["tag"].split("@")[0]
    tags = subprocess.run(["git", "-C", str(hub.github.git_dir(REPO)), "for-each-ref",
                           "--sort=creatordate", "--format=%(refname:short)",
                           f"refs/tags/{artifact}@v*"], capture_output=True, text=True,
                          check=True).stdout.split()
    newest = next(t for t in reversed(tags) if t not in (state["tag"], f"{artifact}@v99.0.0"))
    record = subprocess.run(["git", "-C", str(hub.github.git_dir(REPO)), "for-each-ref",
                             "--format=%(contents)", f"refs/tags/{newest}"],
                            capture_output=True, text=True, check=True).stdout
    assert f'"pull_request":{pr["number"]}' in record, record
    assert '"approved_by":["alice"]' in record, record
    assert '"attested":false' in record, record
    state["newest"] = newest
    refused = assign(hub, repo, newest, "prod")
    assert refused.jobs.get("resolve") == "failure", refused.log[-4000:]
    assert "deploy" not in refused.jobs
    assert f"{newest}: registered without a build provenance attestation" in refused.log
    moved = assign(hub, repo, newest, "prod", allow_unattested=True)
    assert moved.jobs == {"resolve": "success", "deploy": "success"}, moved.log[-5000:]
    assert f"{newest}: deploying without a build provenance attestation" in moved.log
    assert f"{state['image']}@{state['digest']}" not in release(hub, "prod")
    state["newest_image"] = re.search(rf"{re.escape(state['image'])}@sha256:[0-9a-f]{{64}}",
                                      release(hub, "prod")).group(0)
    rollback = assign(hub, repo, state["tag"], "prod")
    assert rollback.jobs == {"resolve": "success", "deploy": "success"}, rollback.log[-5000:]
    assert "✓ Verification succeeded!" in rollback.log
    assert f"{state['image']}@{state['digest']}" in release(hub, "prod")


def a_canary_starts_once_promote_listens_to_canary_tags(hub: Harness, repo: Path) -> None:
    """README "Or a canary": the first version's commit has a promote.yml without canary tags,
    so its canary tag starts nothing; the newer version's commit listens, and its canary tag
    deploys it beside prod (deploy/overlays/canary), prod keeping its digest. The newer version
    is unattested (registered while the repository was private): ALLOW_UNATTESTED=true."""
    assert assign(hub, repo, state["tag"], "canary") is None
    prod_before = release(hub, "prod")
    run = assign(hub, repo, state["newest"], "canary", allow_unattested=True)
    assert run is not None, "no promote.yml run for the canary tag"
    assert run.jobs == {"resolve": "success", "deploy": "success"}, run.log[-5000:]
    assert state["newest_image"] in release(hub, "canary")
    assert release(hub, "prod") == prod_before
