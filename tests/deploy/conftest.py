"""Fixtures: the deploy/ tree copied with a release pinned per stage, rendered by kustomize."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_tools import IMAGE, PROJECT, STAGES, VERSION

from gitops_ml.registry import release

Render = Callable[[str], list[dict[str, Any]]]


@pytest.fixture
def deploy_tree(tmp_path: Path) -> Path:
    """A copy of deploy/ with the release.yaml that `python -m pipelines.deploy` writes."""
    tree = tmp_path / "deploy"
    shutil.copytree(PROJECT / "deploy", tree)
    base = yaml.safe_load((tree / "base" / "deployment.yaml").read_text())
    for stage in STAGES:
        patch = release.release_patch(base, artifact="model", version=VERSION, stage=stage,
                                      image=IMAGE)
        (tree / "overlays" / stage / "release.yaml").write_text(release.render(patch,
                                                                               stage=stage))
    return tree


@pytest.fixture
def render(deploy_tree: Path) -> Render:
    """Render deploy/<path> with `kubectl kustomize`, as Argo CD or Flux would."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl (kustomize) not installed")

    def run(path: str) -> list[dict[str, Any]]:
        done = subprocess.run(["kubectl", "kustomize", str(deploy_tree / path)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return [d for d in yaml.safe_load_all(done.stdout) if d]

    return run

