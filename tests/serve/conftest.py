"""Serving fixtures: small models built once per session by the real pipeline stages."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from repo_tools import mixed_frame

from gitops_ml import cli

PROJECT = Path(__file__).resolve().parents[2]
if str(PROJECT) not in sys.path:  # `pipelines/` is run as `python -m`, not installed
    sys.path.insert(0, str(PROJECT))


@dataclass(frozen=True)
class BuiltModel:
    """A model directory (model.onnx + model.json) and what produced it."""

    dir: Path
    test: Path
    pipeline: Path
    target: str


def _build(root: Path, params: dict[str, Any]) -> BuiltModel:
    root.mkdir(parents=True, exist_ok=True)
    p = root / "params.yaml"
    p.write_text(yaml.safe_dump(params, sort_keys=False))
    P = ["--params", str(p)]

    def path(name: str) -> str:
        return str(root / name)

    steps = [
        ["ingest", *P, "--out", path("raw.parquet")],
        ["contract", "infer", *P, "--data", path("raw.parquet"), "--out", path("contract.yaml")],
        ["validate", *P, "--data", path("raw.parquet"), "--contract", path("contract.yaml"),
         "--report", path("reports/data_validation.json")],
        ["split", *P, "--data", path("raw.parquet"), "--train", path("train.parquet"),
         "--test", path("test.parquet")],
        ["train", *P, "--train", path("train.parquet"), "--contract", path("contract.yaml"),
         "--out", path("pipeline.joblib")],
        ["evaluate", *P, "--model", path("pipeline.joblib"), "--test", path("test.parquet"),
         "--metrics", path("reports/metrics.json"), "--plots", path("reports/plots"),
         "--slices", path("reports/slices.json"), "--importance", path("reports/importance.json")],
        ["export", *P, "--model", path("pipeline.joblib"), "--train", path("train.parquet"),
         "--test", path("test.parquet"), "--metrics", path("reports/metrics.json"),
         "--onnx", path("models/model.onnx"), "--meta", path("models/model.json"),
         "--parity", path("reports/onnx_parity.json")],
    ]
    for argv in steps:
        assert cli.main(argv) == 0, f"stage {argv[0]} failed"
    return BuiltModel(dir=root / "models", test=root / "test.parquet",
                      pipeline=root / "pipeline.joblib", target=params["data"]["target"])


def _params(default: dict[str, Any], **data: Any) -> dict[str, Any]:
    params = copy.deepcopy(default)
    params["data"].update(data)
    # the project's positive class and protected columns name its own data, not these
    params["evaluate"].update({"slices": [], "importance_repeats": 0, "positive_class": None,
                               "protected": []})
    return params


@pytest.fixture(scope="session")
def mixed_model(tmp_path_factory: pytest.TempPathFactory,
                default_params: dict[str, Any]) -> BuiltModel:
    """Multiclass (low/mid/high) on size, weight (numbers) and colour, shape (categories);
    size and colour are nullable."""
    root = tmp_path_factory.mktemp("mixed")
    mixed_frame().to_csv(root / "mixed.csv", index=False)
    params = _params(default_params, source=str(root / "mixed.csv"), target="grade")
    # grades are classes: a classifier whatever this project trains (a fork's may be a Ridge)
    params["model"] = {"task": "auto", "estimator": "sklearn.linear_model.LogisticRegression",
                       "params": {"C": 1.0, "max_iter": 2000}}
    return _build(root, params)


@pytest.fixture(scope="session")
def regression_model(tmp_path_factory: pytest.TempPathFactory,
                     default_params: dict[str, Any]) -> BuiltModel:
    root = tmp_path_factory.mktemp("regression")
    params = _params(default_params, source="sklearn:diabetes", target="progression")
    params["model"] = {"task": "auto", "estimator": "sklearn.linear_model.Ridge",
                       "params": {"alpha": 1.0}}
    return _build(root, params)


@pytest.fixture(scope="session")
def serve_settings() -> Callable[..., Any]:
    """Settings for a model directory, with overrides."""
    from gitops_ml.serve.settings import Settings

    def make(model_dir: Path, **overrides: Any) -> Settings:
        return replace(Settings(model_dir=model_dir), **overrides)

    return make


@pytest.fixture
def client_for(serve_settings: Callable[..., Any]) -> Callable[..., Any]:
    """`with client_for(model_dir, max_rows=5) as client:` an in-process client, lifespan run."""
    from fastapi.testclient import TestClient

    from gitops_ml.serve.app import create_app

    @contextmanager
    def make(model_dir: Path, **overrides: Any) -> Iterator[TestClient]:
        app = create_app(serve_settings(model_dir, **overrides))
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client

    return make


@pytest.fixture
def mixed_client(client_for: Callable[..., Any], mixed_model: BuiltModel) -> Iterator[Any]:
    with client_for(mixed_model.dir) as client:
        yield client


GOOD = {"size": 9.5, "weight": 51.0, "colour": "red", "shape": "round"}


@pytest.fixture
def good_record() -> dict[str, Any]:
    return dict(GOOD)
