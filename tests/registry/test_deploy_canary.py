"""The canary overlay: the challenger's digest beside prod, and Gateway API weights between them."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from conftest import DIGEST_B, PROJECT, REPOSITORY

from pipelines import deploy

IMAGE_B = f"{REPOSITORY}@{DIGEST_B}"
CANARY = PROJECT / "deploy" / "overlays" / "canary"


def render(two_versions):
    shutil.copytree(CANARY, two_versions.root / "deploy" / "overlays" / "canary")
    root = two_versions.root
    assert deploy.main(["--repo", str(root), "--dvc-yaml", str(root / "dvc.yaml"),
                        "--base", str(root / "deploy" / "base" / "deployment.yaml"),
                        "--overlays", str(root / "deploy" / "overlays"), "--no-verify",
                        "--stage", "canary",
                        "--version", "v1.1.0", "--image", IMAGE_B]) == 0
    built = subprocess.run(["kubectl", "kustomize", str(root / "deploy" / "overlays" / "canary")],
                           capture_output=True, text=True, check=True, timeout=60).stdout
    return {d["kind"]: d for d in yaml.safe_load_all(built)}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
def test_canary_overlay_runs_the_challenger_digest_beside_prod(two_versions):
    by_kind = render(two_versions)
    assert set(by_kind) == {"Deployment", "Service", "HorizontalPodAutoscaler", "HTTPRoute",
                            "PodDisruptionBudget"}
    assert {d["metadata"]["namespace"] for d in by_kind.values()} == {"gitops-ml-prod"}
    deployment = by_kind["Deployment"]
    assert deployment["metadata"]["name"] == "gitops-ml-canary"
    # the base's disruption budget comes along and guards the canary's own pods
    pdb = by_kind["PodDisruptionBudget"]
    assert pdb["metadata"]["name"] == "gitops-ml-canary"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    [server] = deployment["spec"]["template"]["spec"]["containers"]
    assert server["image"] == IMAGE_B
    assert {"name": "GITOPS_ML_ROLE", "value": "challenger"} in server["env"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["gitops-ml/model-version"] == "v1.1.0"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
def test_canary_overlay_splits_traffic_by_weight_and_prod_never_selects_canary_pods(
        two_versions):
    by_kind = render(two_versions)
    backends = by_kind["HTTPRoute"]["spec"]["rules"][0]["backendRefs"]
    assert [(b["name"], b["weight"]) for b in backends] == [("gitops-ml", 90),
                                                           ("gitops-ml-canary", 10)]
    assert by_kind["Service"]["metadata"]["name"] == "gitops-ml-canary"
    pods = by_kind["Deployment"]["spec"]["template"]["metadata"]["labels"]
    prod_selector = yaml.safe_load((PROJECT / "deploy/base/service.yaml").read_text())[
        "spec"]["selector"]
    assert not all(pods.get(k) == v for k, v in prod_selector.items())
    assert all(pods.get(k) == v for k, v in by_kind["Service"]["spec"]["selector"].items())
