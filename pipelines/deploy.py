"""Render a stage's release (the image pinned by digest) into deploy/overlays/<stage>/.

    uv run python -m pipelines.deploy --stage prod                 # what the registry says
    uv run python -m pipelines.deploy --stage prod --version v1.2.0 \\
        --image ghcr.io/owner/repo@sha256:... --commit            # what promote.yml does

Without --version/--image it deploys what the registry holds for the stage now. With --commit
it commits the changed release file, for a GitOps controller (Argo CD, Flux) to sync; nothing is
committed when the file did not change. deploy/deploy.sh, the hook promote.yml calls, runs this.
Nothing is rendered unless the image passes the provenance checks (pipelines.promote, README
"Governance"): a rollback or a hand-run deploy meets the same rule as a promotion.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from gitops_ml import git_identity
from gitops_ml.errors import UserError
from gitops_ml.io import atomic_path
from gitops_ml.registry import artifact, provenance, release, tags
from gitops_ml.registry.state import Registry
from pipelines.promote import add_provenance_args, verify_provenance

RELEASE_FILE = "release.yaml"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--version", help="default: the version the stage holds")
    parser.add_argument("--image", help="<repository>@sha256:...; default: the version's record")
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--dvc-yaml", type=Path, default=Path("dvc.yaml"))
    parser.add_argument("--base", type=Path, default=Path("deploy/base/deployment.yaml"),
                        help="the Deployment the release patches")
    parser.add_argument("--overlays", type=Path, default=Path("deploy/overlays"),
                        help="one kustomize overlay per stage")
    parser.add_argument("--commit", action="store_true", help="commit the release file")
    add_provenance_args(parser)
    return parser


def _target(args: argparse.Namespace, name: str) -> tuple[str, str]:
    if args.version and args.image:
        return args.version, args.image
    registry = Registry(name, tags.read(args.repo))
    version = (registry.version(args.version) if args.version
               else registry.in_stage(args.stage))
    if version is None:
        raise UserError(f"--stage {args.stage}: no version assigned (gto assign first)")
    if version.image is None:
        raise UserError(f"{version.tag}: no image digest recorded")
    return version.name, args.image or version.image


def _commit(repo: Path, path: Path, message: str) -> bool:
    def git(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *argv], cwd=repo, capture_output=True, text=True,
                              check=check, timeout=60)

    git("add", "--", str(path.resolve()))
    if git("diff", "--cached", "--quiet", "--", str(path.resolve()), check=False).returncode == 0:
        return False
    git_identity.require(repo, f"commit {path}")
    git("commit", "--quiet", "-m", message, "--", str(path.resolve()))
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        name, _ = artifact.declared(args.dvc_yaml, None)
        overlay = args.overlays / args.stage
        if not (overlay / "kustomization.yaml").is_file():
            raise UserError(f"--stage {args.stage}: no overlay {overlay}/kustomization.yaml")
        try:
            deployment = yaml.safe_load(args.base.read_text())
        except FileNotFoundError:
            raise UserError(f"--base: {args.base} not found") from None
        version, image = _target(args, name)
        verify_provenance(args, Registry(name, tags.read(args.repo)), image)
        patch = release.release_patch(deployment, artifact=name, version=version,
                                      stage=args.stage, image=image, where=str(args.base))
        out = overlay / RELEASE_FILE
        with atomic_path(out) as tmp:
            tmp.write_text(release.render(patch, stage=args.stage))
        committed = args.commit and _commit(
            args.repo, out, f"Deploy {name}@{version} to {args.stage}\n\nImage: {image}\n")
    except provenance.Refused as exc:
        print(f"deploy: refused: {exc}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"deploy: error: {exc}", file=sys.stderr)
        return 2
    print(f"deploy: {name}@{version} -> {out} ({image})"
          + ("; committed" if committed else "; unchanged" if args.commit else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
