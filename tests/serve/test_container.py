"""The serving image, built and run with Docker: the same smoke test as the main workflow."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipelines import image, smoke

ROOT = Path(__file__).resolve().parents[2]
TAG = "gitops-ml:container-test"

pytestmark = pytest.mark.container


def _docker_unavailable() -> str | None:
    if shutil.which("docker") is None:
        return "docker CLI not installed (run ../shared/tools/docker-local)"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "no Docker daemon answers `docker info` (run ../shared/tools/docker-local)"
    return None


@pytest.fixture(scope="module")
def built_image() -> str:
    reason = _docker_unavailable()
    if reason:
        pytest.skip(reason)
    missing = [p for p in ("models/model.onnx", "models/model.json", "models/pipeline.joblib",
                           "data/test.parquet") if not (ROOT / p).is_file()]
    if missing:
        pytest.skip(f"pipeline outputs missing ({', '.join(missing)}): run `uv run dvc repro`")
    version = image.model_version(ROOT / "models")
    build = subprocess.run(
        ["docker", "build", "--quiet", "--tag", TAG, "--build-arg", f"VERSION={version}",
         "--build-arg", "REVISION=test",
         # the local stand-in: the Dockerfile's default is pinned by a digest only a registry has
         "--build-arg", "PYTHON_IMAGE=python:3.11-slim", str(ROOT)],
        capture_output=True, text=True, timeout=900, check=False)
    assert build.returncode == 0, build.stderr[-2000:]
    return TAG


def test_image_serves_the_pipeline_predictions_and_stops_cleanly(built_image):
    # ready, predictions vs scikit-learn, a 4xx naming the field, non-root, `docker stop` -> 0
    assert smoke.main(["--image", built_image, "--model-dir", str(ROOT / "models"),
                       "--pipeline", str(ROOT / "models/pipeline.joblib"),
                       "--test", str(ROOT / "data/test.parquet")]) == 0


def test_image_has_no_training_stack(built_image):
    code = ("import importlib.util as u; "
            "print([m for m in ('sklearn', 'scipy', 'pandas', 'skl2onnx') if u.find_spec(m)])")
    out = subprocess.run(["docker", "run", "--rm", built_image, "python", "-c", code],
                         capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_image_labels_carry_the_model_version(built_image):
    out = subprocess.run(["docker", "image", "inspect", "--format",
                          '{{index .Config.Labels "org.opencontainers.image.version"}}',
                          built_image], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == image.model_version(ROOT / "models")


def test_image_answers_as_its_openapi_says_under_schemathesis(built_image):
    """schemathesis with every check (schemathesis.toml) against the running image."""
    with smoke.running_image(built_image) as (url, _container):
        smoke.wait_ready(url, 60)
        run = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
             "--max-examples", "50", "--seed", "1", "--no-color"],
            cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-4000:]


def test_image_405_names_the_allowed_method(built_image):
    with smoke.running_image(built_image) as (url, _container):
        smoke.wait_ready(url, 60)
        request = urllib.request.Request(f"{url}/predict", method="GET")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 (local URL)
    assert info.value.code == 405 and info.value.headers["Allow"] == "POST"
