"""`gitops-ml registry`: list versions and stages, resolve a stage, promote and roll back."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gitops_ml.errors import UserError


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the registry subcommands to `parser` (imports nothing heavy)."""
    sub = parser.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")

    def command(name: str, help_: str, func: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--repo", type=Path, default=Path("."), help="git repository")
        p.add_argument("--dvc-yaml", type=Path, default=None,
                       help="declares the artifact (default: <repo>/dvc.yaml)")
        p.add_argument("--artifact", help="artifact name (default: the one in dvc.yaml)")
        p.set_defaults(func=func)
        return p

    listing = command("list", "registered versions, their images, and what each stage holds",
                      _list)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    which = command("which", "the version and image digest a stage holds", _which)
    which.add_argument("stage")
    which.add_argument("--json", action="store_true", help="machine-readable output")
    trail = command("audit", "the audit trail: approvals, gates, data hash and image digest of "
                    "every registered version", _audit)
    trail.add_argument("--json", action="store_true", help="machine-readable output")
    history = command("history", "every assignment of a stage, oldest first", _history)
    history.add_argument("stage")
    for name, help_, func in (
        ("assign", "assign a stage to a version (gto assign); push the tag to deploy it",
         _assign),
        ("rollback", "assign a stage back to the version it held before", _rollback),
    ):
        p = command(name, help_, func)
        if name == "assign":
            p.add_argument("version")
        p.add_argument("stage")
        p.add_argument("--push", metavar="REMOTE",
                       help="push the new tag to REMOTE (this is what triggers the deploy)")


def _registry(args: argparse.Namespace) -> Any:
    from gitops_ml.registry import artifact, tags
    from gitops_ml.registry.state import Registry

    name, _ = artifact.declared(args.dvc_yaml or args.repo / "dvc.yaml", args.artifact)
    return Registry(name, tags.read(args.repo))


def _short(image: str | None) -> str:
    if not image:
        return "-"
    repo, _, digest = image.partition("@")
    return f"{repo}@{digest[:19]}…"


def _list(args: argparse.Namespace) -> None:
    reg = _registry(args)
    stages = reg.stages()
    held: dict[str, list[str]] = {}
    for stage, version in stages.items():
        held.setdefault(version.name, []).append(stage)
    if args.json:
        print(json.dumps({
            "artifact": reg.artifact,
            "stages": {s: v.name for s, v in stages.items()},
            "versions": [{"version": v.name, "commit": v.commit, "image": v.image,
                          "bump": v.record.bump if v.record else None,
                          "stages": held.get(v.name, [])}
                         for v in reg.versions.values()],
        }, indent=2))
        return
    if not reg.versions:
        print(f"{reg.artifact}: no versions registered")
        return
    rows = [("version", "commit", "bump", "stages", "image")]
    for v in reversed(reg.versions.values()):
        rows.append((v.name, v.commit[:8], v.record.bump if v.record else "-",
                     ",".join(held.get(v.name, [])) or "-", _short(v.image)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])


def _which(args: argparse.Namespace) -> None:
    reg = _registry(args)
    version = reg.in_stage(args.stage)
    if version is None:
        raise UserError(f"stage {args.stage!r}: holds no {reg.artifact} version")
    if args.json:
        print(json.dumps({"artifact": reg.artifact, "stage": args.stage,
                          "version": version.name, "image": version.image}))
    else:
        print(f"{reg.artifact} {args.stage}: {version.name} {version.image or '(no image)'}")


def _audit(args: argparse.Namespace) -> None:
    from gitops_ml.registry import audit

    table = audit.rows(_registry(args))
    if args.json:
        print(json.dumps(table, indent=2))
    else:
        print(audit.markdown(table) or "no versions registered", end="" if table else "\n")


def _history(args: argparse.Namespace) -> None:
    reg = _registry(args)
    for a in reg.history(args.stage):
        print(f"{a.tag}  {'unassigned' if a.removed else 'assigned'}  {a.version}")


def _assign(args: argparse.Namespace) -> None:
    _assign_version(args, _registry(args), args.version)


def _rollback(args: argparse.Namespace) -> None:
    reg = _registry(args)
    previous = reg.previous_in_stage(args.stage)
    if previous is None:
        raise UserError(f"stage {args.stage!r}: no earlier version to roll back to")
    _assign_version(args, reg, previous.name)


def _assign_version(args: argparse.Namespace, reg: Any, version: str) -> None:
    from gitops_ml.registry import gto_ops

    target = reg.version(version)
    if target.image is None:
        raise UserError(f"{target.tag}: no image digest recorded, so it cannot be deployed")
    tag = gto_ops.assign(args.repo, reg.artifact, version, args.stage)
    if args.push:
        gto_ops.push(args.repo, args.push, tag)
        print(f"{tag}: {args.stage} -> {version} ({target.image}); pushed to {args.push}")
    else:
        print(f"{tag}: {args.stage} -> {version} ({target.image}); deploy it with: "
              f"git push origin '{tag}'")
