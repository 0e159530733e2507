"""Resolve a GTO stage tag to what to deploy: stage, version and the image digest it recorded.

    uv run python -m pipelines.promote --tag 'model#prod#3'

.github/workflows/promote.yml runs it when such a tag is pushed (`gto assign`, a rollback being
an assignment of an earlier version) and deploys the result through the GitHub Environment named
after the stage. Outputs (also appended to $GITHUB_OUTPUT when set): artifact, stage, version,
image, deploy. `deploy=false` when a newer assignment of the same stage exists by the time this
runs: deploying the older one would undo it. Before saying `deploy=true` it verifies the image's
provenance (src/gitops_ml/registry/provenance.py: own namespace, registered by the main
workflow, attestation verifies for this repository); a refusal is one line and exit 2. Exit 2
also when the tag is not an assignment of a registered version, or that version recorded no image.

A canary is a stage too: `gto assign model --stage canary vX` deploys vX beside prod
(deploy/overlays/canary). With `--experiment reports/experiment.json` (written by `gitops-ml
experiment`), the outputs also carry the experiment's verdict and why, for the deployment's
summary; a report about another version is named as such, never silently attached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gitops_ml.errors import UserError
from gitops_ml.registry import artifact, provenance, tags
from gitops_ml.registry.state import Registry
from pipelines import image
from pipelines.register import github_output


def default_branch(env: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The repository's default branch from the Actions event payload; `main` outside Actions."""
    try:
        with open(env["GITHUB_EVENT_PATH"], encoding="utf-8") as fh:
            return str(json.load(fh)["repository"]["default_branch"])
    except (KeyError, OSError, ValueError, TypeError):
        return "main"


def add_provenance_args(parser: argparse.ArgumentParser) -> None:
    """The flags naming whose images may deploy (shared with pipelines.deploy)."""
    group = parser.add_argument_group("provenance (README, Governance)")
    group.add_argument("--repository", default=os.environ.get("GITHUB_REPOSITORY"),
                       help="OWNER/REPO whose main workflow must have built and attested the "
                            "image (default: $GITHUB_REPOSITORY)")
    group.add_argument("--project", type=Path, default=Path("project.yaml"),
                       help="its `image` names the registry namespace (default: "
                            "$IMAGE_REGISTRY or ghcr.io, then /<owner>/<repo>; "
                            "pipelines.image decides it for publishing too)")
    group.add_argument("--branch", default=default_branch(),
                       help="the default branch the main workflow must have run on (default: "
                            "the repository's, from the Actions event; else main)")
    group.add_argument("--allow-unattested", action="store_true",
                       default=os.environ.get("ALLOW_UNATTESTED") == "true",
                       help="deploy versions registered without an attestation (a private "
                            "repository without them), with a warning (default: "
                            "$ALLOW_UNATTESTED == true; promote.yml sets it from the "
                            "repository variable ALLOW_UNATTESTED)")
    group.add_argument("--no-verify", action="store_true",
                       help="skip the provenance checks: a local trial only; no workflow "
                            "passes it")


def verify_provenance(args: argparse.Namespace, registry: Registry, ref: str) -> None:
    """Refuse (UserError, one line) unless image `ref` may deploy; print warnings."""
    if args.no_verify:
        print(f"{Path(sys.argv[0]).stem}: warning: --no-verify: provenance of {ref} not checked",
              file=sys.stderr)
        return
    if not args.repository or args.repository.count("/") != 1:
        raise UserError(f"--repository: expected OWNER/REPO (or $GITHUB_REPOSITORY), "
                        f"got {args.repository!r}")
    image_repo = image.decide(args.project, {**os.environ, "GITHUB_REPOSITORY": args.repository})
    policy = provenance.Policy(args.repository, image_repo, branch=args.branch,
                               allow_unattested=args.allow_unattested)
    for warning in provenance.verify(registry, ref, policy):
        print(f"::warning::{warning}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.promote", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", default=os.environ.get("GITHUB_REF_NAME"),
                        help="the stage tag (default: $GITHUB_REF_NAME)")
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--dvc-yaml", type=Path, default=Path("dvc.yaml"),
                        help="declares the artifact this repository deploys")
    parser.add_argument("--experiment", type=Path,
                        help="an experiment report (reports/experiment.json) to attach")
    add_provenance_args(parser)
    return parser


def experiment_outputs(report: Path, version: str) -> dict[str, str]:
    """The experiment's verdict for the promotion's outputs; whose version it judged."""
    try:
        data = json.loads(report.read_text())
        verdict, why = str(data["verdict"]), str(data["why"])
        judged = data["models"]["challenger"].get("version")
    except FileNotFoundError:
        raise UserError(f"--experiment: {report} not found") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"--experiment: {report} is not an experiment report ({exc})") from None
    if judged != version:
        why = f"the report judged {judged}, not {version}: {why}"
    return {"experiment_verdict": verdict, "experiment_why": why}


def resolve(repo: Path, dvc_yaml: Path, tag: str) -> dict[str, str]:
    """The deployment a stage tag asks for, as workflow outputs."""
    event = tags.TAG_RE.match(tag)
    if not event or not event["stage"] or event["cancel"]:
        raise UserError(f"--tag {tag!r}: not a GTO stage assignment tag like model#prod#3")
    name, _ = artifact.declared(dvc_yaml, None)
    if event["artifact"] != name:
        raise UserError(f"--tag {tag!r}: artifact {event['artifact']!r} is not the one "
                        f"{dvc_yaml} declares ({name!r})")
    registry = Registry(name, tags.read(repo))
    assigned = registry.assignment(tag)
    version = registry.version(assigned.version)
    if version.image is None:
        raise UserError(f"{version.tag}: no image digest recorded (register versions with "
                        "`python -m pipelines.register apply`, not plain `gto register`)")
    latest_tag = registry.history(assigned.stage)[-1].tag
    deploy = latest_tag == tag
    if not deploy:
        print(f"promote: {tag} was superseded by {latest_tag}; not deploying {version.name}",
              file=sys.stderr)
    return {"artifact": name, "stage": assigned.stage, "version": version.name,
            "image": version.image, "deploy": "true" if deploy else "false"}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if not args.tag:
            raise UserError("--tag: required (or run inside GitHub Actions on a tag push)")
        outputs = resolve(args.repo, args.dvc_yaml, args.tag)
        if args.experiment is not None:
            outputs |= experiment_outputs(args.experiment, outputs["version"])
        if outputs["deploy"] == "true":
            registry = Registry(outputs["artifact"], tags.read(args.repo))
            verify_provenance(args, registry, outputs["image"])
    except provenance.Refused as exc:
        print(f"promote: refused: {exc}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"promote: error: {exc}", file=sys.stderr)
        return 2
    github_output(outputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
