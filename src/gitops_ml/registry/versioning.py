"""The version number a new model gets, from comparing it with the highest registered version.

- the feature schema changed (names, order, types, categories, classes, task, outputs): major;
- the model itself changed (model.onnx, ignoring what differs between two exports): minor;
- only model.json's metadata changed (metrics, params, library versions): patch;
- nothing changed: no new version (the model is the one already registered).

The first version is v1.0.0. A previous version registered without a record (plain
`gto register`) cannot be compared, so the new one is treated as a retrain (minor).
"""

from __future__ import annotations

from dataclasses import dataclass

from gitops_ml.errors import UserError
from gitops_ml.registry.record import Fingerprint
from gitops_ml.registry.state import Registry, Version
from gitops_ml.registry.tags import version_key

BUMPS = ("major", "minor", "patch")


@dataclass(frozen=True)
class Plan:
    """What registering the current model would do."""

    version: str            # the new version, or the registered one when nothing changed
    bump: str | None        # initial | major | minor | patch; None: register nothing
    reason: str
    previous: Version | None


def decide_bump(previous: Fingerprint | None, new: Fingerprint) -> tuple[str | None, str]:
    """(bump, reason): the bump rule above; bump is None when the model did not change."""
    if previous is None:
        return "initial", "first registered version"
    if previous.schema_sha256 != new.schema_sha256:
        return "major", "feature schema changed"
    if previous.onnx_sha256 != new.onnx_sha256:
        return "minor", "retrained: model.onnx changed"
    if previous.meta_sha256 != new.meta_sha256:
        return "patch", "metadata changed, model.onnx and schema unchanged"
    return None, "model unchanged"


def next_version(latest: tuple[int, int, int] | None, bump: str) -> str:
    """The version after `latest` for `bump`; the first version is v1.0.0."""
    if latest is None or bump == "initial":
        if latest is not None:
            raise UserError("bump: 'initial' only applies when no version is registered yet")
        return "v1.0.0"
    major, minor, patch = latest
    if bump == "major":
        return f"v{major + 1}.0.0"
    if bump == "minor":
        return f"v{major}.{minor + 1}.0"
    if bump == "patch":
        return f"v{major}.{minor}.{patch + 1}"
    raise UserError(f"bump: must be one of {', '.join(BUMPS)}, got {bump!r}")



def plan(registry: Registry, new: Fingerprint, bump: str = "auto") -> Plan:
    """The next version for a model with fingerprint `new`; `bump` overrides the rule."""
    latest = registry.latest()
    if bump != "auto":
        if bump not in BUMPS:
            raise UserError(f"--bump: must be auto or one of {', '.join(BUMPS)}, got {bump!r}")
        if latest is None:
            return Plan("v1.0.0", "initial", "first registered version", None)
        return Plan(next_version(version_key(latest.name), bump), bump, "requested with --bump",
                    latest)
    if latest is not None and latest.record is None:
        return Plan(next_version(version_key(latest.name), "minor"), "minor",
                    f"{latest.name} has no record to compare with; assumed retrained", latest)
    if latest is None:
        return Plan("v1.0.0", "initial", "first registered version", None)
    assert latest.record is not None   # handled above; narrows the type
    found, reason = decide_bump(latest.record.fingerprint, new)
    if found is None:
        return Plan(latest.name, None, f"{reason}: same as {latest.name}", latest)
    return Plan(next_version(version_key(latest.name), found), found, reason, latest)
