"""Register the model built on main as the next GTO version, with its image digest.

    uv run python -m pipelines.register plan [--stamp]   # which version is this model?
    uv run python -m pipelines.register apply --version v1.3.0 \\
        --image ghcr.io/owner/repo --digest sha256:...    # tag model@v1.3.0 with the record

The main workflow runs `plan --stamp` before building the image, so models/model.json carries
the version that tags the image and that /v2/models/{name} reports, and `apply` after pushing
it, so the registration tag records the image digest that promotion deploys. The bump rule is in
src/gitops_ml/registry/versioning.py. Outputs (also appended to $GITHUB_OUTPUT when set):
version, bump, register (true|false), tag, reason. Exit 2 on bad input, e.g. when the version
given to `apply` is no longer the next one because another merge registered first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from gitops_ml.errors import UserError
from gitops_ml.io import write_json
from gitops_ml.registry import (
    artifact,
    audit,
    gto_ops,
    provenance,
    record,
    tags,
    versioning,
)
from gitops_ml.registry.state import Registry
from pipelines import dvc_paths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.register", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="print the version the current model gets")
    apply = sub.add_parser("apply", help="create the registration tag")
    for p in (plan, apply):
        p.add_argument("--repo", type=Path, default=Path("."))
        p.add_argument("--dvc-yaml", type=Path, default=Path("dvc.yaml"),
                       help="declares the artifact (name, path) under `artifacts:`")
        p.add_argument("--artifact", help="artifact name (default: the one in dvc.yaml)")
        p.add_argument("--meta", type=Path,
                       help="the model's metadata (default: export's --meta in dvc.yaml)")
        p.add_argument("--onnx", type=Path, help="default: the artifact's path in dvc.yaml")
        p.add_argument("--bump", default="auto", choices=["auto", *versioning.BUMPS],
                       help="override the bump rule, e.g. `patch` to ship a server-only change")
    plan.add_argument("--stamp", action="store_true",
                      help="write the version into --meta (the image then reports it)")
    apply.add_argument("--version", required=True, help="the version `plan` printed")
    apply.add_argument("--image", required=True, help="repository, e.g. ghcr.io/owner/repo")
    apply.add_argument("--digest", required=True, help="the pushed image's sha256:... digest")
    apply.add_argument("--ref", default="HEAD", help="the commit the model was built from")
    apply.add_argument("--push", metavar="REMOTE", help="push the tag to REMOTE")
    apply.add_argument("--report", type=Path,
                       help="pr_report.json of this commit's gate run: its gates are recorded")
    apply.add_argument("--approvals-from-github", action="store_true",
                       help="record the merged pull request and who approved it (GitHub API; "
                            "GH_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL)")
    apply.add_argument("--no-attestation", action="store_true",
                       help="the image has no build provenance attestation (a private "
                            "repository without them): record that, warn, register anyway")
    return parser


def github_output(values: dict[str, str]) -> None:
    """Print `key=value` lines, and append them to $GITHUB_OUTPUT inside GitHub Actions."""
    lines = "".join(f"{k}={v}\n" for k, v in values.items())
    print(lines, end="")
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(lines)


def _report(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"--report: {path} not found") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"--report: {path} is not JSON ({exc})") from None


def _pull(args: argparse.Namespace) -> dict | None:
    if not args.approvals_from_github:
        return None
    token, repo = os.environ.get("GH_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
    if not token or not repo:
        raise UserError("--approvals-from-github: needs GH_TOKEN and GITHUB_REPOSITORY")
    sha = _commit_of(args.repo, args.ref)
    return audit.approvals(os.environ.get("GITHUB_API_URL", "https://api.github.com"), repo,
                           sha, token)


def _commit_of(repo: Path, ref: str) -> str:
    done = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=repo,
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise UserError(f"--ref {ref}: not a commit")
    return done.stdout.strip()


def _load(args: argparse.Namespace) -> tuple[str, dict, bytes, Registry]:
    name, onnx_path = artifact.declared(args.dvc_yaml, args.artifact)
    onnx_file = args.onnx or args.repo / onnx_path
    if args.meta is None:
        stages = dvc_paths.load(args.dvc_yaml)
        args.meta = args.repo / dvc_paths.path(stages, "export", "--meta", str(args.dvc_yaml))
    try:
        meta = json.loads(args.meta.read_text())
        onnx_bytes = Path(onnx_file).read_bytes()
    except FileNotFoundError as exc:
        raise UserError(f"{exc.filename}: not found (run `dvc repro` first)") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"--meta {args.meta}: not JSON ({exc})") from None
    return name, meta, onnx_bytes, Registry(name, tags.read(args.repo))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        name, meta, onnx_bytes, registry = _load(args)
        fp = record.fingerprint(meta, onnx_bytes)
        plan = versioning.plan(registry, fp, args.bump)
        if args.command == "plan":
            if args.stamp:
                write_json({**meta, "version": plan.version}, args.meta)
        else:
            if plan.bump is None:
                raise UserError(f"--version {args.version}: nothing to register ({plan.reason})")
            if args.version != plan.version:
                raise UserError(f"--version {args.version}: the next version is now "
                                f"{plan.version} ({plan.reason}); plan again")
            rec = record.Record(
                artifact=name, version=plan.version, bump=plan.bump, reason=plan.reason,
                fingerprint=fp, image=record.image_ref(args.image, args.digest),
                metrics=meta.get("metrics") or {},
                build=provenance.build_context(os.environ, attested=not args.no_attestation),
                governance=audit.governance(meta, _report(args.report), _pull(args)))
            if args.no_attestation:
                print(f"::warning::{name}@{plan.version}: registered without a build provenance "
                      "attestation; deploys of it need --allow-unattested", file=sys.stderr)
            tag = gto_ops.register(args.repo, name, plan.version, rec.message(), args.ref)
            if args.push:
                gto_ops.push(args.repo, args.push, tag)
    except UserError as exc:
        print(f"register {args.command}: error: {exc}", file=sys.stderr)
        return 2
    github_output({"version": plan.version, "bump": plan.bump or "none",
                   "register": "true" if plan.bump else "false",
                   "tag": f"{name}@{plan.version}", "reason": plan.reason})
    return 0


if __name__ == "__main__":
    sys.exit(main())
