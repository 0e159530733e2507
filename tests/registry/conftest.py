"""Fixtures for the registry: a throwaway git repo holding a tiny model."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitops_ml.init.plan import model_name_in, rename_model

PROJECT = Path(__file__).resolve().parents[2]
if str(PROJECT) not in sys.path:   # `pipelines/` is run as `python -m`, not installed
    sys.path.insert(0, str(PROJECT))

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
REPOSITORY = "ghcr.io/acme/churn"

META: dict[str, Any] = {
    "name": "model", "task": "binary", "target": "churned",
    "estimator": "sklearn.linear_model.LogisticRegression",
    "features": [
        {"name": "tenure", "type": "number", "dtype": "float", "nullable": False,
         "min": 0.0, "max": 72.0},
        {"name": "plan", "type": "category", "dtype": "string", "nullable": True,
         "categories": ["basic", "pro"]},
    ],
    "classes": ["no", "yes"],
    "onnx": {"file": "model.onnx", "inputs": ["tenure", "plan"],
             "outputs": {"label": "label", "probabilities": "probabilities"},
             "missing_category": ""},
    "metrics": {"accuracy": 0.9, "roc_auc": 0.95},
    "params": {"seed": 42, "data": {"source": "churn.csv", "target": "churned"},
               "model": {"params": {"C": 1.0}}},
    "training_data": {"sha256": "c" * 64, "rows": 800},
    "git_commit": "d" * 40,
    "parity": {"passed": True},
    "libraries": {"onnx": "1.0"},
}


def tiny_onnx(weight: float, graph_name: str = "g") -> bytes:
    """A one-node ONNX model; a different weight is a different (retrained) model."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])
    w = numpy_helper.from_array(np.array([[weight]], dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], graph_name,
                              [x], [y], [w])
    return helper.make_model(graph).SerializeToString()


def meta(**changes: Any) -> dict[str, Any]:
    """A deep copy of META with top-level keys replaced."""
    out = copy.deepcopy(META)
    out.update(changes)
    return out


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


class ModelRepo:
    """A git repo with this project's dvc.yaml, deploy/ and pipelines, and a model to register."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write_model(self, meta_: dict[str, Any], onnx_bytes: bytes) -> None:
        models = self.root / "models"
        models.mkdir(exist_ok=True)
        (models / "model.json").write_text(json.dumps(meta_, indent=2))
        (models / "model.onnx").write_bytes(onnx_bytes)

    def commit(self, message: str) -> str:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.root, "rev-parse", "HEAD")

    def args(self) -> list[str]:
        """Paths for `python -m pipelines.register`, pointing into this repo."""
        return ["--repo", str(self.root), "--dvc-yaml", str(self.root / "dvc.yaml"),
                "--meta", str(self.root / "models" / "model.json")]


def apply(repo: ModelRepo, version: str, digest: str) -> int:
    """`python -m pipelines.register apply`, as main's workflow runs it after pushing the image."""
    from pipelines import register

    return register.main(["apply", *repo.args(), "--version", version,
                          "--image", REPOSITORY, "--digest", digest])


def registry(repo: ModelRepo, *args: str) -> int:
    """`gitops-ml registry ARGS --repo <repo>`, in-process."""
    from gitops_ml.cli import main as cli

    return cli(["registry", *args, "--repo", str(repo.root)])


@pytest.fixture
def two_versions(model_repo: ModelRepo) -> ModelRepo:
    """v1.0.0 (image A) and a retrained v1.1.0 (image B), registered as main would."""
    assert apply(model_repo, "v1.0.0", DIGEST_A) == 0
    model_repo.write_model(META, tiny_onnx(2.0))
    model_repo.commit("retrain")
    assert apply(model_repo, "v1.1.0", DIGEST_B) == 0
    return model_repo


@pytest.fixture
def model_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelRepo:
    for key, value in {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
                       "GIT_COMMITTER_NAME": "test",
                       "GIT_COMMITTER_EMAIL": "test@example.com"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    root = tmp_path / "repo"
    root.mkdir()
    # the tiny model below is named META["name"], whatever this project calls its own model
    dvc_text = (PROJECT / "dvc.yaml").read_text()
    (root / "dvc.yaml").write_text(rename_model(dvc_text, model_name_in(dvc_text, "dvc.yaml"),
                                                META["name"], "dvc.yaml"))
    shutil.copytree(PROJECT / "deploy" / "base", root / "deploy" / "base")
    for stage in ("staging", "prod"):
        (root / "deploy" / "overlays" / stage).mkdir(parents=True)
        shutil.copy(PROJECT / "deploy" / "overlays" / stage / "kustomization.yaml",
                    root / "deploy" / "overlays" / stage / "kustomization.yaml")
    shutil.copy(PROJECT / "deploy" / "deploy.sh", root / "deploy" / "deploy.sh")
    (root / "pipelines").mkdir()
    for name in ("__init__.py", "register.py", "promote.py", "deploy.py", "gitpush.py",
                 "image.py", "release_branch.py", "dvc_paths.py"):
        shutil.copy(PROJECT / "pipelines" / name, root / "pipelines" / name)
    (root / ".gitignore").write_text("models/\n__pycache__/\n")
    git(root, "init", "-q", "-b", "main")
    repo = ModelRepo(root)
    repo.write_model(META, tiny_onnx(1.0))
    repo.commit("template")
    return repo
