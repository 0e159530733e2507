"""promote.yml: triggers on GTO's stage tags, least privilege, pinned actions, linters clean, and
its `run:` steps, executed in order in a test repo, deploy the digest the tag resolves to."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import META, PROJECT, ModelRepo, git, registry, tiny_onnx
from provenance_tools import (
    REGISTRY_BIN,
    LocalRegistry,
    gh_env,
    install_gh,
    new_key,
    sign,
    statement,
)

from gitops_ml.registry.provenance import ACTIONS_BOT_EMAIL

WORKFLOW = PROJECT / ".github" / "workflows" / "promote.yml"
FLOW = yaml.safe_load(WORKFLOW.read_text())
TAG_FILTERS = FLOW[True]["push"]["tags"]          # PyYAML reads the key `on` as True
UV_STUB = """#!/usr/bin/env bash
# setup-uv stand-in: `uv run [--flags] CMD...` runs CMD with this interpreter on PATH
[[ "$1" == run ]] || { echo "uv stub: unsupported $1" >&2; exit 64; }
shift; while [[ "$1" == --* ]]; do shift; done; exec "$@"
"""


def github_glob(pattern: str) -> re.Pattern[str]:
    """GitHub's filter pattern: `**` matches anything, `*` anything but `/`."""
    parts = [("[^/]*".join(map(re.escape, chunk.split("*")))) for chunk in pattern.split("**")]
    return re.compile("^" + ".*".join(parts) + "$")


def triggers(tag: str) -> bool:
    return any(github_glob(p).match(tag) for p in TAG_FILTERS)


@pytest.mark.parametrize("tag", ["model#prod#1", "model#staging#12", "nested=dir/x#prod#3"])
def test_promote_workflow_runs_on_stage_assignment_tags(tag):
    assert triggers(tag)


@pytest.mark.parametrize("tag", ["model@v1.0.0", "model#prod!#4", "model#dev#2",
                                 "model@v1.0.0!", "v1.0.0"])
def test_promote_workflow_ignores_registrations_and_unassignments(tag):
    assert not triggers(tag)


def test_promote_workflow_grants_permissions_per_job_only():
    # gh attestation verify reads the attestations API and the image manifest in GHCR
    # (https://cli.github.com/manual/gh_attestation_verify): both jobs verify
    assert FLOW["permissions"] == {}
    jobs = FLOW["jobs"]
    assert jobs["resolve"]["permissions"] == {"contents": "read", "attestations": "read",
                                              "packages": "read"}
    assert jobs["deploy"]["permissions"] == {"contents": "write", "attestations": "read",
                                             "packages": "read"}


def _steps_index(job: str, predicate) -> list[int]:
    return [i for i, step in enumerate(FLOW["jobs"][job]["steps"]) if predicate(step)]


@pytest.mark.parametrize("job", ["resolve", "deploy"])
def test_promote_workflow_verifying_steps_get_a_token_and_a_registry_login(job):
    verifying = _steps_index(job, lambda s: "pipelines.promote" in s.get("run", "")
                             or "deploy/deploy.sh" in s.get("run", ""))
    logins = _steps_index(job, lambda s: "docker/login-action" in s.get("uses", ""))
    naming = _steps_index(job, lambda s: "pipelines.image name --login" in s.get("run", ""))
    assert len(verifying) == 1 and len(logins) == 1 and len(naming) == 1
    steps = FLOW["jobs"][job]["steps"]
    # gh refuses to run in Actions without GH_TOKEN
    assert steps[verifying[0]]["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert naming[0] < logins[0] < verifying[0]
    login = steps[logins[0]]["with"]
    assert login["registry"] == f"${{{{ steps.{steps[naming[0]]['id']}.outputs.registry }}}}"
    # the workflow token logs in to ghcr.io only; any other registry takes the secrets
    assert "'ghcr.io' && secrets.GITHUB_TOKEN || secrets.REGISTRY_PASSWORD" in login["password"]


@pytest.mark.parametrize("job", ["resolve", "deploy"])
def test_promote_workflow_verifying_jobs_check_out_the_registration_tags(job):
    """Both jobs check the digest against the registration tags (registry/provenance.py); a
    checkout with actions/checkout's default fetch-depth 1 has no tags, and every deploy would
    be refused (https://github.com/actions/checkout#usage: `fetch-depth: 0` for all tags)."""
    [checkout] = [s for s in FLOW["jobs"][job]["steps"]
                  if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"].get("fetch-depth") == 0 or checkout["with"].get("fetch-tags") is True


@pytest.mark.parametrize("job", ["resolve", "deploy"])
def test_promote_workflow_takes_the_namespace_and_unattested_rule_from_variables(job):
    for step in FLOW["jobs"][job]["steps"]:
        if "pipelines.promote" in step.get("run", "") or "deploy.sh" in step.get("run", ""):
            assert step["env"]["IMAGE_REGISTRY"] == "${{ vars.IMAGE_REGISTRY }}"
            assert step["env"]["ALLOW_UNATTESTED"] == "${{ vars.ALLOW_UNATTESTED }}"


def test_promote_workflow_deploys_through_the_stages_environment():
    deploy = FLOW["jobs"]["deploy"]
    assert deploy["environment"]["name"] == "${{ needs.resolve.outputs.stage }}"
    assert deploy["if"] == "needs.resolve.outputs.deploy == 'true'"


def test_promote_workflow_pins_actions_and_keeps_expressions_out_of_scripts():
    for job in FLOW["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
            if "actions/checkout" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False
            assert "${{" not in step.get("run", "")


@pytest.mark.parametrize("command", [
    ["zizmor", "--offline", str(WORKFLOW)],
    ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
])
def test_promote_workflow_passes_the_linters(command):
    tool = Path(sys.executable).parent / command[0]
    done = subprocess.run([str(tool), *command[1:]], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def expand(value: str, context: dict[str, str]) -> str:
    """Replace `${{ expr }}` with the context's value; an unknown expression fails the test."""
    def one(match: re.Match[str]) -> str:
        assert match[1] in context, f"expression not emulated: {match[1]}"
        return context[match[1]]
    return re.sub(r"\$\{\{\s*(.+?)\s*\}\}", one, str(value))


def run_job(job: str, repo: Path, env: dict[str, str], context: dict[str, str],
            tmp: Path) -> dict[str, str]:
    """Run a job's `run:` steps in `repo`; returns what they wrote to $GITHUB_OUTPUT."""
    output = tmp / f"{job}.output"
    output.write_text("")
    for step in FLOW["jobs"][job]["steps"]:
        if "run" not in step:
            continue
        step_env = {**env, "GITHUB_OUTPUT": str(output),
                    **{k: expand(v, context) for k, v in (step.get("env") or {}).items()}}
        done = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=repo,
                              env=step_env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{step.get('name')}: {done.stdout}{done.stderr}"
    return dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)


def test_promote_workflow_rollback_tag_deploys_the_earlier_digest(model_repo: ModelRepo,
                                                                  tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch):
    # Both versions built, pushed and attested as main.yml does, with local stand-ins for GHCR
    # and Sigstore (tests/provenance_tools.py): promote and deploy verify before deploying.
    if REGISTRY_BIN is None:
        pytest.skip("needs Debian's docker-registry (apt-get install docker-registry)")
    (tmp_path / "registry").mkdir()
    local = LocalRegistry(tmp_path / "registry")
    try:
        _rollback_flow(model_repo, tmp_path, monkeypatch, local)
    finally:
        local.stop()


def _rollback_flow(repo: ModelRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   local: LocalRegistry) -> None:
    from pipelines import register

    namespace = f"{local.host}/octo/gitops-ml"
    (repo.root / "project.yaml").write_text(
        f"name: gitops-ml\nmodel: model\ndescription: test\nimage: {namespace}\n")
    repo.commit("identity")
    key, trusted = new_key(tmp_path)
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", ACTIONS_BOT_EMAIL)
    monkeypatch.setenv("GITHUB_WORKFLOW_REF",
                       "octo/gitops-ml/.github/workflows/main.yml@refs/heads/main")
    images = []
    for version, weight in (("v1.0.0", 1.0), ("v1.1.0", 2.0)):
        repo.write_model(META, tiny_onnx(weight))
        repo.commit(f"train {version}")
        image = local.push_image("octo/gitops-ml", f"model {version}".encode())
        local.push_attestation(image, sign(key, statement(image, "octo/gitops-ml")))
        assert register.main(["apply", *repo.args(), "--version", version, "--image", namespace,
                              "--digest", image.split("@")[1]]) == 0
        images.append(image)
    monkeypatch.delenv("GITHUB_WORKFLOW_REF")
    registry(repo, "assign", "v1.0.0", "prod")
    registry(repo, "assign", "v1.1.0", "prod")
    registry(repo, "rollback", "prod")                      # model#prod#3 -> v1.0.0
    remote = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo.root), str(remote))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text(UV_STUB)
    (bin_dir / "uv").chmod(stat.S_IRWXU)
    install_gh(bin_dir)
    push_url = "https://github.com/octo/gitops-ml.git"   # pipelines.gitpush: token in a header
    env = {**os.environ,
           "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                   f"{os.environ['PATH']}",
           **gh_env(local, trusted),
           "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "octo/gitops-ml",
           # the push goes to the bare repo instead of GitHub
           "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.{remote}.insteadOf",
           "GIT_CONFIG_VALUE_0": push_url}
    context = {"github.ref_name": "model#prod#3", "github.token": local.api_token,
               "github.event.repository.default_branch": "main",
               "vars.IMAGE_REGISTRY": "", "vars.ALLOW_UNATTESTED": "",
               # the local registry is not ghcr.io: the workflow needs the registry secrets
               "secrets.REGISTRY_USERNAME != '' && secrets.REGISTRY_PASSWORD != ''": "true"}

    resolved = run_job("resolve", repo.root, env, context, tmp_path)
    assert resolved.pop("name") == namespace
    assert resolved == {"registry": local.host, "artifact": "model", "stage": "prod",
                        "version": "v1.0.0", "image": images[0], "deploy": "true"}
    context.update({f"needs.resolve.outputs.{k}": v for k, v in resolved.items()})
    run_job("deploy", repo.root, env, context, tmp_path)

    # to the stage's deploy branch, never the (protected) default branch
    release = git(remote, "show", "deploy/prod:deploy/overlays/prod/release.yaml")
    assert f"image: {images[0]}" in release
    assert git(remote, "log", "-1", "--format=%s", "deploy/prod") == "Deploy model@v1.0.0 to prod"
    # the branch holds the deploy tree only (pipelines.release_branch): never a workflow file
    assert git(remote, "ls-tree", "--name-only", "deploy/prod") == "deploy"
    assert git(remote, "log", "-1", "--format=%s", "main") != "Deploy model@v1.0.0 to prod"


@pytest.mark.parametrize(("value", "allowed"), [("true", True), ("", False), ("yes", False)])
def test_promote_allows_unattested_versions_only_when_the_variable_is_true(value, allowed,
                                                                          monkeypatch):
    from pipelines import promote

    monkeypatch.setenv("ALLOW_UNATTESTED", value)
    assert promote.build_parser().parse_args(["--tag", "model#prod#1"]).allow_unattested is allowed
