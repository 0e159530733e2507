"""Only attested, registered images deploy: promote and deploy (rollback too) against a local
registry, a local signing key and the `gh attestation verify` double (tests/provenance_tools.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from provenance_tools import (
    REGISTRY_BIN,
    LocalRegistry,
    gh_env,
    install_gh,
    new_key,
    sign,
    statement,
)

from gitops_ml.init.plan import model_name_in, rename_model
from gitops_ml.registry import provenance, record

PROJECT_ROOT = str(Path(__file__).resolve().parents[2])
if PROJECT_ROOT not in sys.path:   # `pipelines/` is run as `python -m`, not installed
    sys.path.insert(0, PROJECT_ROOT)

from pipelines import deploy, promote  # noqa: E402

PROJECT = Path(__file__).resolve().parents[2]
REPOSITORY = "acme/churn"
BOT = provenance.ACTIONS_BOT_EMAIL
MAIN_REF = f"{REPOSITORY}/.github/workflows/main.yml@refs/heads/main"
FP = record.Fingerprint("a" * 64, "b" * 64, "c" * 64)

pytestmark = pytest.mark.skipif(REGISTRY_BIN is None,
                                reason="needs Debian's docker-registry (apt-get install "
                                       "docker-registry)")


def git(repo: Path, *args: str, email: str = "dev@example.com") -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "tagger", "GIT_COMMITTER_EMAIL": email}
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


class Harness:
    """A project repo, its registry namespace on a local registry, and the key that attests."""

    def __init__(self, root: Path, registry: LocalRegistry) -> None:
        self.root, self.registry = root, registry
        self.namespace = f"{registry.host}/{REPOSITORY}"
        self.key, self.trusted = new_key(root.parent)
        # the tiny model here is named `model`, whatever this project calls its own
        dvc_text = (PROJECT / "dvc.yaml").read_text()
        (root / "dvc.yaml").write_text(rename_model(
            dvc_text, model_name_in(dvc_text, "dvc.yaml"), "model", "dvc.yaml"))
        shutil.copytree(PROJECT / "deploy", root / "deploy")
        (root / "project.yaml").write_text(
            f"name: churn\nmodel: model\ndescription: churn model\nimage: {self.namespace}\n")
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "template")
        self.count = 0

    def image(self, content: bytes, namespace: str | None = None) -> str:
        name = (namespace or self.namespace).split("/", 1)[1]
        return self.registry.push_image(name, content)

    def attest(self, image: str, key=None, repository: str = REPOSITORY,
               ref: str = "refs/heads/main") -> None:
        self.registry.push_attestation(image, sign(key or self.key,
                                                   statement(image, repository, ref=ref)))

    def register(self, version: str, image: str, *, tagger: str = BOT,
                 workflow_ref: str = MAIN_REF, attested: bool = True) -> None:
        git(self.root, "commit", "-q", "--allow-empty", "-m", f"train {version}")
        rec = record.Record("model", version, "minor", "retrained", FP, image=image,
                            build={"workflow_ref": workflow_ref, "attested": attested})
        git(self.root, "tag", "-a", f"model@{version}", "-m", rec.message(), email=tagger)

    def assign(self, stage: str) -> str:
        self.count += 1
        tag = f"model#{stage}#{self.count}"
        git(self.root, "tag", "-a", tag, "-m", f"Assign {stage}", email="admin@example.com")
        return tag

    def promote(self, tag: str, *extra: str) -> int:
        return promote.main(["--repo", str(self.root), "--dvc-yaml", str(self.root / "dvc.yaml"),
                             "--project", str(self.root / "project.yaml"),
                             "--repository", REPOSITORY, "--tag", tag, *extra])

    def deploy(self, version: str, image: str, *extra: str) -> int:
        return deploy.main(["--repo", str(self.root), "--dvc-yaml", str(self.root / "dvc.yaml"),
                            "--project", str(self.root / "project.yaml"),
                            "--base", str(self.root / "deploy/base/deployment.yaml"),
                            "--overlays", str(self.root / "deploy/overlays"),
                            "--repository", REPOSITORY, "--stage", "prod",
                            "--version", version, "--image", image, *extra])


@pytest.fixture
def local_registry(tmp_path):
    # One registry per test: equal image bytes give equal digests, and attestations would leak.
    (tmp_path / "registry").mkdir()
    registry = LocalRegistry(tmp_path / "registry")
    yield registry
    registry.stop()


@pytest.fixture
def harness(tmp_path, local_registry, monkeypatch):
    root = tmp_path / "repo"
    root.mkdir()
    h = Harness(root, local_registry)
    bin_dir = tmp_path / "bin"
    install_gh(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for name, value in gh_env(local_registry, h.trusted).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    return h


def refusal(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err          # one line, nothing else
    return err[0]


def test_promote_deploys_an_attested_image_the_main_workflow_registered(harness, capsys):
    image = harness.image(b"model v1")
    harness.attest(image)
    harness.register("v1.0.0", image)
    assert harness.promote(harness.assign("prod")) == 0
    captured = capsys.readouterr()
    assert f"image={image}\n" in captured.out and "deploy=true\n" in captured.out
    # gh's account of what it verified reaches the job log (stderr), outputs stay parseable
    assert "Verification succeeded" in captured.err and "Verification" not in captured.out


def test_promote_refuses_an_image_outside_the_projects_namespace(harness, capsys):
    other = f"{harness.registry.host}/mallory/churn"
    image = harness.image(b"evil", namespace=other)
    harness.attest(image)
    harness.register("v1.0.0", image)
    assert harness.promote(harness.assign("prod")) == 2
    assert refusal(capsys) == (f"promote: refused: {image}: not in this project's registry "
                               f"namespace {harness.namespace}")


def test_promote_refuses_a_registration_tag_a_person_made(harness, capsys):
    image = harness.image(b"model v1")
    harness.attest(image)
    harness.register("v1.0.0", image, tagger="dev@example.com")
    assert harness.promote(harness.assign("prod")) == 2
    assert refusal(capsys) == ("promote: refused: model@v1.0.0: made by dev@example.com, not by "
                               f"the main workflow ({BOT})")


def test_promote_refuses_an_image_built_on_another_branch(harness, capsys):
    image = harness.image(b"model v1")
    harness.attest(image, ref="refs/heads/feature")
    branch_ref = f"{REPOSITORY}/.github/workflows/main.yml@refs/heads/feature"
    harness.register("v1.0.0", image, workflow_ref=branch_ref)
    assert harness.promote(harness.assign("prod")) == 2
    assert refusal(capsys) == (f"promote: refused: model@v1.0.0: built by {branch_ref}, not "
                               f"{MAIN_REF}")


def test_promote_refuses_an_image_without_an_attestation(harness, capsys):
    image = harness.image(b"model v1")
    harness.register("v1.0.0", image)
    assert harness.promote(harness.assign("prod")) == 2
    digest = image.split("@")[1]
    assert refusal(capsys) == (
        f"promote: refused: {image}: no build provenance attestation verifies for {REPOSITORY} "
        f"and .github/workflows/main.yml (Error: ✗ No attestations found for subject {digest})")


def test_promote_refuses_an_attestation_signed_by_another_key(harness, capsys, tmp_path):
    image = harness.image(b"model v1")
    other_key, _ = new_key(tmp_path)
    harness.attest(image, key=other_key)
    harness.register("v1.0.0", image)
    assert harness.promote(harness.assign("prod")) == 2
    assert refusal(capsys).endswith(
        "(Error: ✗ Failed to verify attestation signature against the trusted root)")


def test_promote_refuses_an_attestation_from_another_repository(harness, capsys):
    image = harness.image(b"model v1")
    harness.attest(image, repository="mallory/churn")
    harness.register("v1.0.0", image)
    assert harness.promote(harness.assign("prod")) == 2
    assert refusal(capsys).endswith(
        "expected SourceRepositoryURI to be https://github.com/acme/churn, got "
        "https://github.com/mallory/churn)")


def test_promote_refuses_a_digest_missing_from_the_registry(harness, capsys):
    image = f"{harness.namespace}@sha256:{'0' * 64}"
    harness.register("v1.0.0", image)
    assert harness.promote(harness.assign("prod")) == 2
    assert "failed to fetch OCI image manifest" in refusal(capsys)


def test_promote_unattested_version_needs_allow_unattested_and_warns(harness, capsys):
    image = harness.image(b"private model")
    harness.register("v1.0.0", image, attested=False)
    tag = harness.assign("prod")
    assert harness.promote(tag) == 2
    assert refusal(capsys) == (
        "promote: refused: model@v1.0.0: registered without a build provenance attestation "
        "(private repository?); allow unattested versions to deploy it")
    assert harness.promote(tag, "--allow-unattested") == 0
    assert capsys.readouterr().err.strip() == (
        "::warning::model@v1.0.0: deploying without a build provenance attestation (the "
        "repository cannot create one); only the registration was checked")


def test_deploy_rollback_to_an_unattested_earlier_image_is_refused(harness, capsys):
    old = harness.image(b"model v1")               # registered, never attested
    harness.register("v1.0.0", old)
    new = harness.image(b"model v2")
    harness.attest(new)
    harness.register("v1.1.0", new)
    assert harness.deploy("v1.1.0", new) == 0
    capsys.readouterr()
    assert harness.deploy("v1.0.0", old) == 2
    assert refusal(capsys).startswith(f"deploy: refused: {old}: no build provenance attestation")
    release = (harness.root / "deploy/overlays/prod/release.yaml").read_text()
    assert f"image: {new}" in release              # the refused rollback wrote nothing


def test_deploy_refuses_an_image_no_registration_names(harness, capsys):
    registered = harness.image(b"model v1")
    harness.attest(registered)
    harness.register("v1.0.0", registered)
    stray = harness.image(b"pushed by hand")
    harness.attest(stray)
    assert harness.deploy("v1.0.0", stray) == 2
    assert refusal(capsys) == (f"deploy: refused: {stray}: no registration tag (model@v…) "
                               "names this digest")


def test_workflows_never_skip_the_provenance_checks():
    for path in (PROJECT / ".github" / "workflows").glob("*.yml"):
        assert "--no-verify" not in path.read_text(), path.name
    assert "--no-verify" not in (PROJECT / "deploy" / "deploy.sh").read_text()


def test_gh_double_requires_repo_or_owner(harness):
    done = subprocess.run(["gh", "attestation", "verify", f"oci://{harness.namespace}@sha256:"
                           + "0" * 64], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 1
    assert done.stderr.strip() == ("Error: at least one of the flags in the group [owner repo] "
                                   "is required")


def test_default_branch_comes_from_the_actions_event(tmp_path):
    event = tmp_path / "event.json"
    event.write_text('{"repository": {"default_branch": "trunk"}}')
    assert promote.default_branch({"GITHUB_EVENT_PATH": str(event)}) == "trunk"
    assert promote.default_branch({}) == "main"
