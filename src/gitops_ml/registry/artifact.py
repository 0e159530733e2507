"""The registered artifact as dvc.yaml declares it under `artifacts:` (name, path)."""

from __future__ import annotations

from pathlib import Path

import yaml

from gitops_ml.errors import UserError


def declared(dvc_yaml: Path, name: str | None = None) -> tuple[str, str]:
    """(name, path) of artifact `name`, or of the only artifact when `name` is None."""
    try:
        doc = yaml.safe_load(dvc_yaml.read_text())
    except FileNotFoundError:
        raise UserError(f"--dvc-yaml: {dvc_yaml} not found") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{dvc_yaml}: not valid YAML ({exc})") from None
    artifacts = (doc or {}).get("artifacts") or {}
    if not isinstance(artifacts, dict) or not artifacts:
        raise UserError(f"{dvc_yaml}: no `artifacts:` section declaring the model")
    if name is None:
        if len(artifacts) != 1:
            raise UserError(f"{dvc_yaml}: {len(artifacts)} artifacts declared; pass --artifact "
                            f"(one of {', '.join(artifacts)})")
        name = next(iter(artifacts))
    spec = artifacts.get(name)
    if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
        raise UserError(f"{dvc_yaml}: artifacts.{name}.path: not declared "
                        f"(declared: {', '.join(artifacts)})")
    return name, spec["path"]
