"""Shared fixtures: small in-memory data and a helper that runs the pipeline stages in-process."""

from __future__ import annotations

import copy
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from repo_tools import git_repo_of_tracked_files, mixed_frame, sh

from gitops_ml import cli

ROOT = Path(__file__).resolve().parents[1]

# Identity for the commits and tags tests make in throwaway repositories, so a machine without
# `git config user.name`/`user.email` (a fresh runner) runs them too. A test that needs another
# identity sets its own, which wins; tests of the missing-identity error unset these.
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
                "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com"}


def pytest_configure(config: pytest.Config) -> None:
    for key, value in GIT_IDENTITY.items():
        os.environ.setdefault(key, value)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def default_params() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def make_mixed_csv(path: Path, rows: int = 300, seed: int = 0) -> Path:
    """A CSV with numeric and categorical columns, missing values and string labels (3 classes)."""
    mixed_frame(rows, seed).to_csv(path, index=False)
    return path


class Project:
    """A scratch copy of the pipeline's inputs, run stage by stage through the real CLI."""

    def __init__(self, root: Path, params: dict[str, Any]) -> None:
        self.root = root
        self.params = copy.deepcopy(params)
        self.contract = root / "contract.yaml"

    def path(self, name: str) -> Path:
        return self.root / name

    def write_params(self) -> Path:
        p = self.root / "params.yaml"
        p.write_text(yaml.safe_dump(self.params, sort_keys=False))
        return p

    def cli(self, *args: str) -> int:
        return cli.main([args[0], "--params", str(self.write_params()), *args[1:]])

    def ingest(self) -> int:
        return self.cli("ingest", "--out", str(self.path("raw.parquet")))

    def infer_contract(self) -> int:
        return cli.main(["contract", "infer", "--params", str(self.write_params()),
                         "--data", str(self.path("raw.parquet")), "--out", str(self.contract),
                         "--force"])

    def validate(self) -> int:
        return self.cli("validate", "--data", str(self.path("raw.parquet")),
                        "--contract", str(self.contract),
                        "--report", str(self.path("reports/data_validation.json")))

    def split(self) -> int:
        return self.cli("split", "--data", str(self.path("raw.parquet")),
                        "--train", str(self.path("train.parquet")),
                        "--test", str(self.path("test.parquet")))

    def train(self) -> int:
        return self.cli("train", "--train", str(self.path("train.parquet")),
                        "--contract", str(self.contract), "--out", str(self.path("model.joblib")))

    def evaluate(self) -> int:
        return self.cli("evaluate", "--model", str(self.path("model.joblib")),
                        "--test", str(self.path("test.parquet")),
                        "--metrics", str(self.path("reports/metrics.json")),
                        "--plots", str(self.path("reports/plots")),
                        "--slices", str(self.path("reports/slices.json")),
                        "--importance", str(self.path("reports/importance.json")))

    def export(self) -> int:
        return self.cli("export", "--model", str(self.path("model.joblib")),
                        "--train", str(self.path("train.parquet")),
                        "--test", str(self.path("test.parquet")),
                        "--metrics", str(self.path("reports/metrics.json")),
                        "--onnx", str(self.path("model.onnx")),
                        "--meta", str(self.path("model.json")),
                        "--parity", str(self.path("reports/onnx_parity.json")))

    def model_tests(self) -> int:
        tests = self.path("model_tests.yaml")
        if not tests.exists():
            tests.write_text("tests: []\n")
        return self.cli("model-tests", "--model-dir", str(self.root), "--tests", str(tests),
                        "--test", str(self.path("test.parquet")),
                        "--report", str(self.path("reports/model_tests.json")),
                        "--fairness", str(self.path("reports/fairness.json")))

    def run_all(self, *, infer: bool = True) -> None:
        """Every stage in dvc.yaml order; fails the test at the first stage that fails."""
        assert self.ingest() == 0
        if infer:
            assert self.infer_contract() == 0
        for stage in (self.validate, self.split, self.train, self.evaluate, self.export,
                      self.model_tests):
            assert stage() == 0, f"stage {stage.__name__} failed"


# The template's worked example, pinned: tests that quote its numbers (114 test rows, the
# mean_radius range) run on it even in a project whose params.yaml `gitops-ml init` pointed
# at other data.
EXAMPLE = {"seed": 42, "data": {"source": "sklearn:breast_cancer", "target": "diagnosis"},
           "split": {"test_size": 0.2},
           "model": {"task": "auto", "estimator": "sklearn.linear_model.LogisticRegression",
                     "params": {"C": 1.0, "max_iter": 2000}},
           "evaluate": {"slices": ["mean_radius"], "slice_bins": 4, "importance_repeats": 5,
                        "importance_max_rows": 5000, "curve_points": 101},
           "gates": {"floors": {"roc_auc": 0.95, "accuracy": 0.90}},
           "experiment": {"metric": "accuracy", "min_samples": 500, "min_lift": 0.02,
                          "alpha": 0.05, "power": 0.8}}


def _anchored(params: dict[str, Any]) -> dict[str, Any]:
    """A relative data.source file resolves against the project root, not the scratch dir."""
    source = str(params.get("data", {}).get("source", ""))
    if source and not source.startswith("sklearn:") and source.rstrip(":") != "synthetic" \
            and not Path(source).is_absolute():
        params = copy.deepcopy(params)
        params["data"]["source"] = str(ROOT / source)
    return params


@pytest.fixture
def example_params(default_params: dict[str, Any]) -> dict[str, Any]:
    """The params of the template's example (binary `diagnosis`, its slices, floors and
    experiment metric), whatever this project's own data and params are."""
    return {**copy.deepcopy(default_params), **copy.deepcopy(EXAMPLE)}


@pytest.fixture
def scratch_project(tmp_path: Path, example_params: dict[str, Any]) -> Project:
    """A scratch project with the example's params (a classifier, no positive class) and no
    contract yet, for tests that bring their own data: the project's own params (a fork's
    regressor, its positive class `Yes`) do not fit other data."""
    return Project(tmp_path, example_params)


@pytest.fixture
def example_params_file(tmp_path: Path, example_params: dict[str, Any]) -> Path:
    """`example_params` as a file, for commands run on data simulated after the example."""
    path = tmp_path / "example-params.yaml"
    path.write_text(yaml.safe_dump(example_params, sort_keys=False))
    return path


@pytest.fixture
def new_project(default_params: dict[str, Any]) -> Callable[[Path], Project]:
    """Make scratch projects with the default params and the committed contract."""
    def make(root: Path) -> Project:
        root.mkdir(parents=True, exist_ok=True)
        proj = Project(root, _anchored(default_params))
        proj.contract.write_text((ROOT / "contract.yaml").read_text())
        return proj

    return make


@pytest.fixture
def example_project(tmp_path: Path, default_params: dict[str, Any]) -> Project:
    """A scratch project on the template's example (breast cancer, logistic regression), with
    the contract inferred from that data (identical to the template's committed contract)."""
    proj = Project(tmp_path, {**default_params, **copy.deepcopy(EXAMPLE)})
    assert proj.ingest() == 0 and proj.infer_contract() == 0
    return proj


@pytest.fixture
def project(example_project: Project) -> Project:
    """A scratch project for tests that bring their own data (or quote the example's): the
    example's params, whatever this project's own are (a fork's regressor or its positive
    class `Yes` do not fit other data). `new_project` runs on the project's own."""
    return example_project


@pytest.fixture
def mixed_csv() -> Callable[..., Path]:
    return make_mixed_csv


@pytest.fixture(scope="session")
def first_repro(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The project as a clean clone sees it (tracked files only) in a new git repo, after its
    first `dvc repro`, and `git status --porcelain` at that moment (before anything commits)."""
    repo = git_repo_of_tracked_files(ROOT, tmp_path_factory.mktemp("clone") / "repo")
    sh([sys.executable, "-m", "dvc", "repro", "--quiet"], repo)
    return repo, sh(["git", "status", "--porcelain"], repo).stdout


@pytest.fixture(scope="session")
def main_repo(first_repro: tuple[Path, str]) -> Path:
    """`first_repro`'s repo with whatever its `dvc repro` changed committed on `main`. Built
    once; copy it before changing it."""
    repo, _ = first_repro
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", "pipeline results", "--allow-empty"], repo)
    return repo


@pytest.fixture
def repo_copy(main_repo: Path, tmp_path: Path) -> Path:
    """A private copy of `main_repo` (history, DVC cache and outputs) to change freely."""
    copy = tmp_path / "repo"
    shutil.copytree(main_repo, copy, symlinks=True)
    return copy
