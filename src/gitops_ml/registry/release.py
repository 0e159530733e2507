"""Render a stage's release: the kustomize patch that pins the serving image by digest."""

from __future__ import annotations

from typing import Any

import yaml

from gitops_ml.errors import UserError
from gitops_ml.registry.record import IMAGE_RE
from gitops_ml.registry.tags import STAGE_RE, version_key

VERSION_ANNOTATION = "gitops-ml/model-version"


def workload(deployment: dict[str, Any], where: str) -> tuple[str, str]:
    """(Deployment name, name of its first container): what the patch must match."""
    try:
        if deployment["kind"] != "Deployment":
            raise ValueError(f"kind is {deployment['kind']!r}, not Deployment")
        return (str(deployment["metadata"]["name"]),
                str(deployment["spec"]["template"]["spec"]["containers"][0]["name"]))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise UserError(f"{where}: not a Deployment with a container ({exc})") from None


def release_patch(deployment: dict[str, Any], *, artifact: str, version: str, stage: str,
                  image: str, where: str = "deployment") -> dict[str, Any]:
    """A strategic-merge patch: the container runs `image`, the pods carry the model version."""
    if not STAGE_RE.match(stage):
        raise UserError(f"--stage: not a GTO stage name: {stage!r}")
    version_key(version)
    if not IMAGE_RE.match(image):
        raise UserError(f"--image: expected <repository>@sha256:<64 hex>, got {image!r}")
    name, container = workload(deployment, where)
    # An annotation, not a label: labels feed selectors, and the version must not.
    annotations = {VERSION_ANNOTATION: version, "gitops-ml/model": f"{artifact}@{version}"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": dict(annotations)},
        "spec": {"template": {
            "metadata": {"annotations": dict(annotations)},
            "spec": {"containers": [{"name": container, "image": image}]},
        }},
    }


def render(patch: dict[str, Any], *, stage: str) -> str:
    """The release file's text: a header saying where it comes from, then the patch."""
    meta = patch["metadata"]["annotations"]
    header = (f"# Written by `python -m pipelines.deploy` when {meta['gitops-ml/model']} was "
              f"assigned to {stage}.\n# Do not edit: assign a version to the stage instead "
              f"(README, Model registry and deployment).\n")
    return header + yaml.safe_dump(patch, sort_keys=False)
