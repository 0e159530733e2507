"""A repository made with "Use this template", from its first push to a deployed model, on act
against the local GitHub and a local OCI registry:

1. template-init.yml on the first push names the project after the repository and commits it
   with GITHUB_TOKEN (a push that starts no workflow); it never runs in the template itself;
2. main.yml on that same first push (one commit: no parent, `before` all zeros) reproduces,
   gates, builds, smoke-tests and pushes the image to the registry, and registers the model
   version tag with the pushed digest;
3. a stage tag pushed by a person starts promote.yml, which deploys exactly that digest.
They share one repository and run in order (each step needs the one before): one test.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from flows import seed
from harness import Harness

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


def main_on_the_first_push_publishes_and_registers(hub: Harness, repo: Path) -> None:
    first = state["first"]
    run = hub.run("main.yml", "push", push_event(hub, ZERO, first), repo=REPO,
                  ref="refs/heads/main", sha=first, **registry_settings(hub))
    assert run.jobs == {"reproduce": "success", "publish": "success", "register": "success",
                        "attest": "success"}, run.log[-6000:]
    tags = subprocess.run(["git", "-C", str(hub.github.git_dir(REPO)), "for-each-ref",
                           "--format=%(refname:short) %(contents)", "refs/tags"],
                          capture_output=True, text=True, check=True).stdout
    [tag] = [word for word in tags.split() if "@v" in word and not word.startswith(
        state["registry"])]
    image = f"{state['registry']}/{REPO}"
    # the digest in the tag is the one the registry serves for the version's image tag
    version = tag.split("@")[1]
    req = urllib.request.Request(
        f"http://{state['registry']}/v2/{REPO}/manifests/{version}", method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                           "application/vnd.oci.image.manifest.v1+json"})
    digest = urllib.request.urlopen(req).headers["Docker-Content-Digest"]
    assert digest.startswith("sha256:") and digest in tags, tags
    assert image in tags
    assert [a["repo"] for a in hub.github.attestations] == [REPO]
    state.update(tag=tag, version=version, digest=digest, image=image)


def promote_on_a_stage_tag_deploys_the_recorded_digest(hub: Harness, repo: Path) -> None:
    artifact = state["tag"].split("@")[0]
    stage_tag = f"{artifact}#prod#1"
    hub.git(repo, "fetch", "-q", "origin", "+refs/tags/*:refs/tags/*")
    hub.git(repo, "tag", "-a", stage_tag, "-m", "Assign to prod", state["tag"] + "^{}")
    hub.git(repo, "push", "-q", "origin", f"refs/tags/{stage_tag}", token=hub.user_token())
    main = hub.github.rev(REPO, "refs/heads/main")
    hub.github.repos[REPO].protected = ["main"]   # as the README recommends, once set up
    run = hub.run("promote.yml", "push",
                  push_event(hub, ZERO, hub.github.rev(REPO, f"refs/tags/{stage_tag}"),
                             ref=f"refs/tags/{stage_tag}"),
                  repo=REPO, ref=f"refs/tags/{stage_tag}", sha=main, workflow_ref=main,
                  **registry_settings(hub))
    assert run.jobs == {"resolve": "success", "deploy": "success"}, run.log[-5000:]
    assert "✓ Verification succeeded!" in run.log      # provenance verified before deploying
    release = hub.file_at(REPO, "refs/heads/deploy/prod", "deploy/overlays/prod/release.yaml")
    assert f"{state['image']}@{state['digest']}" in release, release
    assert hub.github.rev(REPO, "refs/heads/main") == main   # the protected branch untouched
    [push] = [e for e in hub.github.push_events() if e["ref"] == "refs/heads/deploy/prod"]
    assert push["token"] == "workflow"
