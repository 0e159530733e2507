"""What a registered version records (fingerprints, image digest) and the rule for its number.

The record is a JSON line in the message of the registration tag (`model@v1.2.0`), so the registry
needs nothing but git: `git show model@v1.2.0` prints it, and promotion reads the image digest
from it. The fingerprints feed the bump rule in versioning.py.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from gitops_ml.errors import UserError

MARKER = "gitops-ml-record: "
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
# An OCI repository without tag or digest, e.g. ghcr.io/acme/churn (registries want lowercase).
_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
REPOSITORY = rf"{_COMPONENT}(?::[0-9]+)?(?:/{_COMPONENT})+"
REPOSITORY_RE = re.compile(rf"^{REPOSITORY}$")
IMAGE_RE = re.compile(rf"^{REPOSITORY}@sha256:[0-9a-f]{{64}}$")
# Fields of model.json that change on every run without changing the model.
VOLATILE = ("version", "git_commit")


@dataclass(frozen=True)
class Fingerprint:
    """Three hashes that tell a schema change from a retrain from a metadata edit."""

    schema_sha256: str
    onnx_sha256: str
    meta_sha256: str


@dataclass(frozen=True)
class Record:
    """The registration record of one version."""

    artifact: str
    version: str
    bump: str                   # initial | major | minor | patch
    reason: str
    fingerprint: Fingerprint
    image: str | None = None    # <repository>@sha256:<digest> of the serving image
    metrics: dict[str, Any] = field(default_factory=dict)
    # Where and how it was built (provenance.build_context): workflow_ref, run_url, sha,
    # attested (false when the repository cannot attest, e.g. a private one on a free plan).
    build: dict[str, Any] = field(default_factory=dict)
    # The audit trail (governance.py): who approved, which gates passed, the data's hash.
    governance: dict[str, Any] = field(default_factory=dict)

    def message(self) -> str:
        """The registration tag message: a readable first line, then the record as JSON."""
        data = asdict(self)
        return (f"Register {self.artifact} {self.version} ({self.bump}: {self.reason})\n\n"
                f"{MARKER}{json.dumps(data, sort_keys=True, separators=(',', ':'))}\n")

    @classmethod
    def from_message(cls, message: str) -> Record | None:
        """The record in a tag message; None when the tag was made without one (plain `gto`)."""
        for line in message.splitlines():
            if line.startswith(MARKER):
                data = json.loads(line[len(MARKER):])
                data["fingerprint"] = Fingerprint(**data["fingerprint"])
                return cls(**data)
        return None


def _canonical(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


def schema_of(meta: dict[str, Any]) -> dict[str, Any]:
    """The part of model.json a client depends on: what it sends and what it gets back. Numeric
    ranges are left out: they follow the training data, not the interface."""
    try:
        return {
            "task": meta["task"],
            "target": meta["target"],
            "classes": meta.get("classes"),
            "onnx_inputs": meta["onnx"]["inputs"],
            "onnx_outputs": meta["onnx"]["outputs"],
            "features": [{k: f.get(k) for k in ("name", "type", "dtype", "nullable", "categories")}
                         for f in meta["features"]],
        }
    except (KeyError, TypeError) as exc:
        raise UserError(f"model.json: missing or malformed field {exc}") from None


def onnx_sha256(onnx_bytes: bytes) -> str:
    """SHA-256 of the model in a canonical form. Two exports of one fitted pipeline differ in
    bytes: skl2onnx names the graph with a random UUID and lists opset domains in set order."""
    import onnx

    try:
        model = onnx.load_model_from_string(onnx_bytes)
    except Exception as exc:   # onnx raises DecodeError and friends from protobuf
        raise UserError(f"model.onnx: not an ONNX model ({type(exc).__name__})") from None
    model.graph.name = ""
    opsets = sorted((o.domain, o.version) for o in model.opset_import)
    del model.opset_import[:]
    for domain, version in opsets:
        model.opset_import.add(domain=domain, version=version)
    return hashlib.sha256(model.SerializeToString(deterministic=True)).hexdigest()


def fingerprint(meta: dict[str, Any], onnx_bytes: bytes) -> Fingerprint:
    """Fingerprint a model from its model.json contents and model.onnx bytes."""
    stable = {k: v for k, v in meta.items() if k not in VOLATILE}
    return Fingerprint(_canonical(schema_of(meta)), onnx_sha256(onnx_bytes), _canonical(stable))


def image_ref(repository: str, digest: str) -> str:
    """`<repository>@<digest>`, both checked; the error names the flag at fault."""
    if not REPOSITORY_RE.match(repository):
        raise UserError(f"--image: expected a lowercase repository without tag, e.g. "
                        f"ghcr.io/owner/repo, got {repository!r}")
    if not DIGEST_RE.match(digest):
        raise UserError(f"--digest: expected sha256:<64 hex digits>, got {digest!r}")
    return f"{repository}@{digest}"
