"""Only attested, registered images deploy: the three checks made before every deploy and rollback.

1. The image is in this project's own registry namespace (project.yaml `image`, else
   ghcr.io/<owner>/<repo>), pinned by digest.
2. A registration tag (`model@vX.Y.Z`) names exactly that image, and the main workflow made it:
   the tagger is the GitHub Actions bot and the record says it was built by
   <repo>/.github/workflows/main.yml on the default branch. The `model tags` ruleset
   (.github/rulesets/model-tags.json) lets nobody else create such tags.
3. Its build provenance attestation verifies for this repository, that workflow and that branch:
   `gh attestation verify oci://IMAGE --repo OWNER/REPO --signer-workflow OWNER/REPO/<workflow>
   --source-ref refs/heads/<branch>` (https://cli.github.com/manual/gh_attestation_verify).

Each refusal is one line saying which check failed and why. A version registered without an
attestation (a private repository whose plan has none; its record says `attested: false`) is
refused unless the caller allows unattested versions, and then deploys with a warning.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_ml.errors import UserError
from gitops_ml.registry.state import Registry, Version

# The identity GitHub Actions commits and tags as with the workflow token (main.yml sets it).
ACTIONS_BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
MAIN_WORKFLOW = ".github/workflows/main.yml"


class Refused(UserError):
    """A deploy refused by a provenance check; the message is the one-line reason."""


@dataclass(frozen=True)
class Policy:
    """Who may have built and registered what is deployed."""

    repository: str                       # OWNER/REPO
    image_repository: str                 # e.g. ghcr.io/owner/repo
    workflow: str = MAIN_WORKFLOW
    branch: str = "main"
    registrar: str = ACTIONS_BOT_EMAIL
    allow_unattested: bool = False

    @property
    def workflow_ref(self) -> str:
        """GITHUB_WORKFLOW_REF of a main-workflow run on the default branch."""
        return f"{self.repository}/{self.workflow}@refs/heads/{self.branch}"


def build_context(env: Mapping[str, str], attested: bool) -> dict[str, Any]:
    """What a registration records about the run that built the image (empty outside Actions)."""
    if not env.get("GITHUB_WORKFLOW_REF"):
        return {}
    server = env.get("GITHUB_SERVER_URL", "https://github.com")
    return {"workflow_ref": env["GITHUB_WORKFLOW_REF"], "sha": env.get("GITHUB_SHA", ""),
            "run_url": f"{server}/{env.get('GITHUB_REPOSITORY', '')}/actions/runs/"
                       f"{env.get('GITHUB_RUN_ID', '')}",
            "attested": attested}


Verifier = Callable[[str, Policy], None]


def gh_verify(image: str, policy: Policy) -> None:
    """Verify the image's build provenance with the GitHub CLI; Refused when it does not."""
    gh = shutil.which("gh")
    if gh is None:
        raise Refused(f"{image}: cannot verify its attestation: `gh` (GitHub CLI) not on PATH")
    argv = [gh, "attestation", "verify", f"oci://{image}", "--repo", policy.repository,
            "--signer-workflow", f"{policy.repository}/{policy.workflow}",
            "--source-ref", f"refs/heads/{policy.branch}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit status {done.returncode}"
        raise Refused(f"{image}: no build provenance attestation verifies for "
                      f"{policy.repository} and {policy.workflow} ({why})")
    # gh's own account of what it verified, for the job log an auditor reads (stderr: a
    # caller's stdout may be parsed)
    sys.stderr.write(done.stderr + done.stdout)


def check_namespace(image: str, policy: Policy) -> None:
    repository, _, digest = image.partition("@")
    if not digest:
        raise Refused(f"{image}: not pinned by digest")
    if repository != policy.image_repository:
        raise Refused(f"{image}: not in this project's registry namespace "
                      f"{policy.image_repository}")


def registered(registry: Registry, image: str, policy: Policy) -> Version:
    """The version whose registration tag, made by the main workflow, names `image`."""
    named = [v for v in registry.versions.values() if v.image == image]
    if not named:
        raise Refused(f"{image}: no registration tag ({registry.artifact}@v…) names this digest")
    version = named[-1]
    if version.tagger != policy.registrar:
        raise Refused(f"{version.tag}: made by {version.tagger or 'an unknown tagger'}, not by "
                      f"the main workflow ({policy.registrar})")
    built_by = (version.record.build if version.record else {}).get("workflow_ref", "")
    if built_by != policy.workflow_ref:
        raise Refused(f"{version.tag}: built by {built_by or 'an unrecorded workflow'}, not "
                      f"{policy.workflow_ref}")
    return version


def verify(registry: Registry, image: str, policy: Policy,
           verifier: Verifier = gh_verify) -> list[str]:
    """Run the three checks; returns warnings (an allowed unattested version), raises Refused."""
    check_namespace(image, policy)
    version = registered(registry, image, policy)
    attested = (version.record.build if version.record else {}).get("attested", True)
    if attested is False:
        if not policy.allow_unattested:
            raise Refused(f"{version.tag}: registered without a build provenance attestation "
                          "(private repository?); allow unattested versions to deploy it")
        return [f"{version.tag}: deploying without a build provenance attestation "
                "(the repository cannot create one); only the registration was checked"]
    verifier(image, policy)
    return []
