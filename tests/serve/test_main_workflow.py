"""The main workflow and the Dockerfile pass their linters and keep their promises."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitops_ml.errors import UserError
from pipelines import image

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / ".github/workflows/main.yml"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is a dev dependency; run `uv sync`")
    return path


def workflow() -> dict:
    return yaml.safe_load(MAIN.read_text())


def test_main_workflow_is_zizmor_clean():
    out = subprocess.run([tool("zizmor"), "--offline", str(MAIN)], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_main_workflow_matches_the_github_schema():
    out = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                          str(MAIN)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_is_hadolint_clean():
    out = subprocess.run([tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_main_workflow_pins_every_action_to_a_commit():
    uses = re.findall(r"uses:\s*(\S+)(.*)", MAIN.read_text())
    assert uses
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), ref
        assert re.search(r"# v\d+\.\d+\.\d+", comment), ref


def test_only_publish_and_register_may_write_and_only_what_they_need():
    jobs = workflow()["jobs"]
    assert workflow()["permissions"] == {}
    expected = {"publish": {"packages"}, "register": {"contents"},
                "attest": {"id-token", "attestations", "packages"},
                "reproduce": {"id-token"},   # OIDC for the DVC remote's push role
                "launch": {"id-token"}, "teardown": {"id-token"}}   # the CML cloud role
    for name, job in jobs.items():
        writes = {k for k, v in job["permissions"].items() if v == "write"}
        assert writes == expected.get(name, set()), name
        # reproduce's comes from the runner choice (TRAIN_RUNNER max_minutes)
        assert name == "reproduce" or job["timeout-minutes"] <= 30


def test_publish_tags_sha_model_version_and_latest_only_on_main():
    steps = workflow()["jobs"]["publish"]["steps"]
    meta = next(s for s in steps if s.get("id") == "meta")["with"]["tags"]
    assert "type=sha,format=long,prefix=sha-" in meta
    assert ("type=raw,value=${{ steps.image.outputs.version }},"
            "enable=${{ needs.reproduce.outputs.register == 'true' }}") in meta
    assert "type=raw,value=latest,enable={{is_default_branch}}" in meta
    push = next(s for s in steps if s.get("id") == "push")["with"]
    assert push["provenance"] == "mode=max" and push["sbom"] is True and push["push"] is True
    attest_job = workflow()["jobs"]["attest"]
    attest = next(s for s in attest_job["steps"]
                  if "attest-build-provenance" in s.get("uses", ""))["with"]
    assert attest_job["needs"] == "publish"
    assert attest["subject-digest"] == "${{ needs.publish.outputs.digest }}"


def test_publish_smoke_tests_the_image_before_logging_in_and_pushes_that_image():
    job = workflow()["jobs"]["publish"]
    assert job["needs"] == "reproduce"
    steps = job["steps"]
    index = {name: i for i, step in enumerate(steps)
             for name in [step.get("id") or step.get("uses", "").split("@")[0] or step["name"]]}
    smoke = next(i for i, st in enumerate(steps) if "pipelines.smoke --image" in st.get("run", ""))
    login = index["docker/login-action"]
    assert index["build"] < smoke < login < index["push"]
    build, push = steps[index["build"]]["with"], steps[index["push"]]["with"]
    assert build["load"] is True and build["push"] is False
    assert "gitops-ml:smoke" in build["tags"] and "gitops-ml:smoke" in steps[smoke]["run"]
    # the same inputs in both builds, so the push is the tested image; a step checks the IDs
    assert build["build-args"] == push["build-args"] and build["labels"] == push["labels"]
    assert "SOURCE_DATE_EPOCH=" in push["build-args"]
    check = next(st for st in steps if "pipelines.image same" in st.get("run", ""))
    assert check["env"] == {"TESTED": "${{ steps.build.outputs.imageid }}",
                            "PUSHED": "${{ steps.push.outputs.imageid }}"}
    assert not any("attest-build-provenance" in st.get("uses", "") for st in steps)


def test_image_same_passes_only_for_equal_ids(capsys):
    assert image.main(["same", "--tested", "sha256:abc", "--pushed", "sha256:abc"]) == 0
    assert image.main(["same", "--tested", "sha256:abc", "--pushed", "sha256:def"]) == 1
    assert "is not the smoke-tested image sha256:abc" in capsys.readouterr().err
    assert image.main(["same", "--tested", "", "--pushed", "sha256:def"]) == 1


def test_model_version_falls_back_to_the_onnx_hash(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"onnx bytes")
    (tmp_path / "model.json").write_text(json.dumps({"onnx": {"file": "model.onnx"}}))
    expected = "model-" + hashlib.sha256(b"onnx bytes").hexdigest()[:12]
    assert image.model_version(tmp_path) == expected


def test_model_version_prefers_the_registry_version(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({"version": "1.4.0",
                                                     "onnx": {"file": "model.onnx"}}))
    assert image.model_version(tmp_path) == "1.4.0"


def test_model_version_rejects_a_version_that_is_no_tag(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({"version": "1.4.0 beta",
                                                     "onnx": {"file": "model.onnx"}}))
    with pytest.raises(ValueError, match="not a valid image tag"):
        image.model_version(tmp_path)


def test_register_runs_only_for_a_new_version_after_publish_with_its_digest():
    jobs = workflow()["jobs"]
    reproduce = " ".join(s.get("run", "") for s in jobs["reproduce"]["steps"])
    assert "python -m pipelines.register plan --stamp" in reproduce
    register = jobs["register"]
    assert register["needs"] == ["reproduce", "publish", "attest"]
    condition = " ".join(register["if"].split())
    assert "needs.reproduce.outputs.register == 'true'" in condition
    assert "needs.publish.result == 'success'" in condition
    step = register["steps"][-1]
    assert step["env"]["DIGEST"] == "${{ needs.publish.outputs.digest }}"
    assert 'pipelines.register apply --version "$VERSION" --image "$IMAGE"' in step["run"]
    assert '--digest "$DIGEST"' in step["run"]


def test_register_records_the_audit_trail_of_the_merged_pull_request():
    jobs = workflow()["jobs"]
    register = jobs["register"]
    assert register["permissions"] == {"contents": "write", "pull-requests": "read"}
    step = register["steps"][-1]
    assert "--approvals-from-github" in step["run"]
    assert "--report reports/pr_report.json" in step["run"]
    assert step["env"]["GH_TOKEN"] == "${{ github.token }}"
    # the report the flag reads travels from the reproduce job, which wrote it
    upload = next(s for s in jobs["reproduce"]["steps"]
                  if "actions/upload-artifact" in s.get("uses", ""))
    assert "reports/pr_report.json" in upload["with"]["path"].split()


def test_register_records_no_attestation_exactly_when_attest_did_not_run():
    register = workflow()["jobs"]["register"]
    condition = " ".join(register["if"].split())
    # a failed attest registers nothing: a record saying `attested` would refuse every deploy
    assert "(needs.attest.result == 'success' || needs.attest.result == 'skipped')" in condition
    step = register["steps"][-1]
    assert step["env"]["ATTESTED"] == "${{ needs.attest.result == 'success' }}"
    for attested, flagged in (("true", False), ("false", True)):
        argv = subprocess.run(
            ["bash", "-c", step["run"].replace("uv run --frozen python -m pipelines.register",
                                               "printf '%s\\n'").split("python3 -m")[0]],
            env={"ATTESTED": attested, "PATH": "/usr/bin:/bin"}, capture_output=True,
            text=True, check=True).stdout.split()
        assert ("--no-attestation" in argv) is flagged


def test_image_namespace_defaults_to_ghcr_and_the_repository_in_lowercase():
    assert image.namespace("", "Octo/Gitops-ML") == "ghcr.io/octo/gitops-ml"


def test_image_namespace_takes_the_registry_variable_for_the_repository():
    assert image.namespace("", "octo/x", "127.0.0.1:5000") == "127.0.0.1:5000/octo/x"


def test_image_namespace_prefers_project_image_when_the_variable_agrees():
    assert image.namespace("reg.example/team/x", "octo/x", "reg.example") == "reg.example/team/x"
    assert image.namespace("reg.example/team/x", "octo/x") == "reg.example/team/x"


def test_image_namespace_refuses_a_project_image_on_another_registry_than_the_variable():
    with pytest.raises(UserError, match="project.yaml image 'ghcr.io/team/x' is not on "
                                        "IMAGE_REGISTRY '127.0.0.1:5000'"):
        image.namespace("ghcr.io/team/x", "octo/x", "127.0.0.1:5000")


def test_image_name_refuses_a_foreign_registry_without_its_secrets(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/x")
    monkeypatch.setenv("IMAGE_REGISTRY", "reg.example")
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    project = tmp_path / "project.yaml"
    assert image.main(["name", "--login", "--project", str(project)]) == 2
    assert "set repository secrets REGISTRY_USERNAME and REGISTRY_PASSWORD" in \
        capsys.readouterr().err
    monkeypatch.setenv("REGISTRY_CREDENTIALS", "true")
    assert image.main(["name", "--login", "--project", str(project)]) == 0
    assert capsys.readouterr().out == "name=reg.example/octo/x\nregistry=reg.example\n"


def test_image_name_logs_in_to_ghcr_with_the_workflow_token(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_REPOSITORY", "Octo/X")
    monkeypatch.delenv("IMAGE_REGISTRY", raising=False)
    monkeypatch.delenv("REGISTRY_CREDENTIALS", raising=False)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    assert image.main(["name", "--login", "--project", str(tmp_path / "none.yaml")]) == 0
    assert capsys.readouterr().out == "name=ghcr.io/octo/x\nregistry=ghcr.io\n"


def test_attest_logs_in_to_the_published_registry_before_pushing_the_attestation():
    # https://github.com/actions/attest-build-provenance#container-image: the login is in the
    # job that pushes the attestation
    steps = workflow()["jobs"]["attest"]["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    login, attest = uses.index("docker/login-action"), uses.index("actions/attest-build-provenance")
    assert login < attest and steps[attest]["with"]["push-to-registry"] is True
    assert steps[login]["with"]["registry"] == "${{ needs.publish.outputs.registry }}"
    assert workflow()["jobs"]["publish"]["outputs"]["registry"] == \
        "${{ steps.image.outputs.registry }}"


def test_publish_takes_the_namespace_from_the_one_decision_promote_verifies_against():
    steps = workflow()["jobs"]["publish"]["steps"]
    naming = next(s for s in steps if s.get("id") == "image")
    assert "python -m pipelines.image name --login" in naming["run"]
    assert naming["env"]["IMAGE_REGISTRY"] == "${{ vars.IMAGE_REGISTRY }}"
    # nothing else in the workflow composes an image name or a registry
    text = MAIN.read_text()
    assert "github.repository }}/" not in text and "'ghcr.io' }}" not in text
    assert "${REPOSITORY,,}" not in text
    meta = next(s for s in steps if s.get("id") == "meta")["with"]
    assert meta["images"] == "${{ steps.image.outputs.name }}"
    login = next(s for s in steps if "docker/login-action" in s.get("uses", ""))["with"]
    assert login["registry"] == "${{ steps.image.outputs.registry }}"
    assert "'ghcr.io' && secrets.GITHUB_TOKEN || secrets.REGISTRY_PASSWORD" in login["password"]


def test_model_artifact_carries_the_image_inputs_dvc_yaml_declares():
    steps = workflow()["jobs"]["reproduce"]["steps"]
    listing = next(s for s in steps if s.get("id") == "inputs")
    assert listing["run"] == "uv run --frozen python -m pipelines.dvc_paths --output paths image"
    upload = next(s for s in steps if "actions/upload-artifact" in s.get("uses", ""))
    assert upload["with"]["path"].splitlines() == ["${{ steps.inputs.outputs.paths }}",
                                                   "reports/pr_report.json"]
    # no path literal of a pipeline output left in the workflow
    text = MAIN.read_text()
    for literal in ("models/model.onnx", "models/pipeline.joblib", "data/test.parquet"):
        assert literal not in text, literal
