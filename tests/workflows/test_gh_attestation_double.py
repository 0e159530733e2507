"""The `gh attestation verify` double fails where the real gh fails: no token, a token that may
not read attestations, an image the registry does not have (no Docker; a local registry)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from provenance_tools import REGISTRY_BIN, LocalRegistry, gh_env, new_key, sign, statement

DOUBLE = Path(__file__).resolve().parents[1] / "gh_attestation_double.py"


def gh(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("GH_TOKEN", "GITHUB_TOKEN", "GITHUB_ACTIONS")}
    return subprocess.run([sys.executable, str(DOUBLE), *args], capture_output=True, text=True,
                          env={**clean, **env}, check=False)


def test_gh_double_in_actions_without_a_token_fails_with_gh_s_message() -> None:
    done = gh(["attestation", "verify", "oci://r/o/n@sha256:" + "0" * 64, "--repo", "o/n"],
              {"GITHUB_ACTIONS": "true"})
    assert done.returncode == 4
    assert done.stderr.startswith("gh: To use GitHub CLI in a GitHub Actions workflow, set the "
                                  "GH_TOKEN environment variable. Example:\n  env:\n"
                                  "    GH_TOKEN: ${{ github.token }}")


@pytest.fixture
def local(tmp_path: Path):
    if REGISTRY_BIN is None:
        pytest.skip("needs Debian's docker-registry (apt-get install docker-registry)")
    registry = LocalRegistry(tmp_path)
    yield registry
    registry.stop()


def test_gh_double_refuses_a_token_the_attestations_api_rejects(local: LocalRegistry,
                                                               tmp_path: Path) -> None:
    key, trusted = new_key(tmp_path)
    image = local.push_image("acme/churn", b"model")
    local.push_attestation(image, sign(key, statement(image, "acme/churn")))
    args = ["attestation", "verify", f"oci://{image}", "--repo", "acme/churn"]
    assert gh(args, gh_env(local, trusted)).returncode == 0
    done = gh(args, {**gh_env(local, trusted), "GH_TOKEN": "ghs_other"})
    assert done.returncode == 1
    assert done.stderr.strip() == ("Error: failed to fetch attestations from acme/churn: "
                                   "HTTP 401: Bad credentials")


def test_gh_double_resolves_a_tag_and_refuses_an_image_the_registry_lacks(
        local: LocalRegistry, tmp_path: Path) -> None:
    key, trusted = new_key(tmp_path)
    image = local.push_image("acme/churn", b"model")        # tagged `latest`
    local.push_attestation(image, sign(key, statement(image, "acme/churn")))
    name = image.split("@")[0]
    done = gh(["attestation", "verify", f"oci://{name}:latest", "--repo", "acme/churn"],
              gh_env(local, trusted))
    assert done.returncode == 0 and f"{image} was attested by" in done.stdout
    missing = gh(["attestation", "verify", f"oci://{name}:nope", "--repo", "acme/churn"],
                 gh_env(local, trusted))
    assert missing.returncode == 1 and "MANIFEST_UNKNOWN" in missing.stderr
