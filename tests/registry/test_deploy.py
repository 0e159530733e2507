"""Deploy manifests: the kustomize base, the per-stage release pinned by digest, the renderer."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from conftest import DIGEST_A, DIGEST_B, PROJECT, REPOSITORY, git

from gitops_ml.cli import main as cli
from gitops_ml.errors import UserError
from gitops_ml.registry import release
from pipelines import deploy

BASE = PROJECT / "deploy" / "base"
IMAGE_A = f"{REPOSITORY}@{DIGEST_A}"


def docs(path):
    return yaml.safe_load(path.read_text())


def container(deployment):
    [server] = deployment["spec"]["template"]["spec"]["containers"]
    return server


def test_base_deployment_probes_use_the_v2_health_endpoints():
    server = container(docs(BASE / "deployment.yaml"))
    assert server["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert server["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert server["ports"] == [{"name": "http", "containerPort": 8080}]


def test_base_deployment_sets_requests_and_limits():
    resources = container(docs(BASE / "deployment.yaml"))["resources"]
    assert set(resources) == {"requests", "limits"}
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def test_base_deployment_runs_non_root_on_a_read_only_filesystem():
    deployment = docs(BASE / "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    server = container(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001          # the Dockerfile's user
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    assert server["securityContext"]["allowPrivilegeEscalation"] is False
    assert "replicas" not in deployment["spec"]                   # the HPA owns it


def test_base_hpa_and_service_target_the_deployment():
    name = docs(BASE / "deployment.yaml")["metadata"]["name"]
    hpa, service = docs(BASE / "hpa.yaml"), docs(BASE / "service.yaml")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": name}
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert docs(BASE / "kustomization.yaml")["resources"] == ["deployment.yaml", "service.yaml",
                                                              "hpa.yaml"]


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_overlay_patches_in_the_release_file(stage):
    kustomization = docs(PROJECT / "deploy" / "overlays" / stage / "kustomization.yaml")
    assert kustomization["resources"] == ["../../base"]
    assert {"path": deploy.RELEASE_FILE} in kustomization["patches"]


def test_release_patch_pins_the_image_by_digest_and_names_the_version():
    patch = release.release_patch(docs(BASE / "deployment.yaml"), artifact="model",
                                  version="v1.2.0", stage="prod", image=IMAGE_A)
    assert container(patch) == {"name": "server", "image": IMAGE_A}
    assert patch["spec"]["template"]["metadata"]["annotations"][release.VERSION_ANNOTATION] \
        == "v1.2.0"
    text = release.render(patch, stage="prod")
    assert yaml.safe_load(text) == patch and "&id" not in text


@pytest.mark.parametrize("image", [f"{REPOSITORY}:v1.2.0", f"{REPOSITORY}@sha256:abc",
                                   "ghcr.io/Acme/churn@" + DIGEST_A])
def test_release_patch_refuses_an_image_not_pinned_by_digest(image):
    with pytest.raises(UserError, match="^--image"):
        release.release_patch(docs(BASE / "deployment.yaml"), artifact="model",
                              version="v1.2.0", stage="prod", image=image)


def deploy_args(repo, *extra):
    root = repo.root
    return ["--repo", str(root), "--dvc-yaml", str(root / "dvc.yaml"),
            "--base", str(root / "deploy" / "base" / "deployment.yaml"),
            "--overlays", str(root / "deploy" / "overlays"), "--no-verify", *extra]


def test_deploy_renders_what_the_stage_holds_and_commits_it(two_versions):
    cli(["registry", "assign", "v1.1.0", "prod", "--repo", str(two_versions.root)])
    assert deploy.main(deploy_args(two_versions, "--stage", "prod", "--commit")) == 0
    rendered = docs(two_versions.root / "deploy" / "overlays" / "prod" / "release.yaml")
    assert container(rendered)["image"] == f"{REPOSITORY}@{DIGEST_B}"
    assert git(two_versions.root, "log", "-1", "--format=%s") == "Deploy model@v1.1.0 to prod"
    assert git(two_versions.root, "status", "--porcelain") == ""


def test_deploy_commits_nothing_when_the_release_is_unchanged(two_versions):
    args = deploy_args(two_versions, "--stage", "staging", "--version", "v1.0.0",
                       "--image", IMAGE_A, "--commit")
    assert deploy.main(args) == 0
    head = git(two_versions.root, "rev-parse", "HEAD")
    assert deploy.main(args) == 0
    assert git(two_versions.root, "rev-parse", "HEAD") == head


def test_deploy_unknown_stage_names_the_missing_overlay(two_versions, capsys):
    assert deploy.main(deploy_args(two_versions, "--stage", "canary", "--version", "v1.0.0",
                                   "--image", IMAGE_A)) == 2
    assert "--stage canary: no overlay" in capsys.readouterr().err


def test_deploy_stage_without_a_version_is_a_clear_error(two_versions, capsys):
    assert deploy.main(deploy_args(two_versions, "--stage", "prod")) == 2
    assert "--stage prod: no version assigned" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
@pytest.mark.parametrize(("stage", "min_replicas"), [("staging", 1), ("prod", 3)])
def test_kustomize_build_pins_the_digest_and_keeps_the_probes(two_versions, stage,
                                                              min_replicas):
    assert deploy.main(deploy_args(two_versions, "--stage", stage, "--version", "v1.0.0",
                                   "--image", IMAGE_A)) == 0
    built = subprocess.run(["kubectl", "kustomize", str(two_versions.root / "deploy" / "overlays"
                                                         / stage)],
                           capture_output=True, text=True, check=True, timeout=60).stdout
    by_kind = {d["kind"]: d for d in yaml.safe_load_all(built)}
    assert set(by_kind) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    server = container(by_kind["Deployment"])
    assert server["image"] == IMAGE_A
    assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert server["resources"]["limits"]["memory"] == "512Mi"
    assert {d["metadata"]["namespace"] for d in by_kind.values()} == {f"gitops-ml-{stage}"}
    assert by_kind["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == min_replicas
