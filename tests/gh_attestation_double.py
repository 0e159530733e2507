"""A test double of `gh attestation verify oci://IMAGE`, with a local key standing in for Sigstore.

Installed as `gh` on PATH by provenance_tools.install_gh. It does what the GitHub CLI documents
(https://cli.github.com/manual/gh_attestation_verify) with the two services swapped for local
ones: the attestation is read from the image's registry (as `--bundle-from-oci` does, stored under
the `sha256-<hex>.att` tag, cosign's convention) instead of GitHub's attestations API, and its
DSSE signature (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md) is checked
against the ECDSA P-256 public key in $GH_DOUBLE_TRUSTED_KEY instead of Sigstore's trusted root.
The identity checks are the documented ones, made on the signed SLSA v1 statement that
actions/attest-build-provenance writes (buildDefinition.externalParameters.workflow):
--repo against the source repository, --signer-workflow against repository + workflow path,
--source-ref against the workflow ref; the default predicate type https://slsa.dev/provenance/v1.
Unhappy paths exit 1 with an `Error:` line: no image manifest, no attestation, bad signature,
wrong subject, wrong repository, workflow or ref.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.error
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SLSA_V1 = "https://slsa.dev/provenance/v1"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature covers."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def fail(message: str) -> None:
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(1)


def get(url: str) -> bytes | None:
    request = urllib.request.Request(url, headers={"Accept": OCI_MANIFEST})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def options(argv: list[str]) -> tuple[str, dict[str, str]]:
    if argv[:2] != ["attestation", "verify"] or len(argv) < 3:
        print(f"unknown command {' '.join(argv[:2])!r} for gh double", file=sys.stderr)
        sys.exit(64)
    subject, rest, flags = argv[2], argv[3:], {}
    while rest:
        flag, value, rest = rest[0], rest[1] if len(rest) > 1 else "", rest[2:]
        flags[flag] = value
    return subject, flags


def main(argv: list[str]) -> None:
    subject, flags = options(argv)
    if "--repo" not in flags and "--owner" not in flags:
        fail("at least one of the flags in the group [owner repo] is required")
    if not subject.startswith("oci://") or "@sha256:" not in subject:
        fail(f"expected oci://<image>@sha256:<digest>, got {subject}")
    name_part, digest = subject.removeprefix("oci://").split("@", 1)
    host, name = name_part.split("/", 1)
    base = f"http://{host}/v2/{name}"
    if get(f"{base}/manifests/{digest}") is None:
        fail(f"failed to fetch OCI image manifest: {name_part}@{digest}: MANIFEST_UNKNOWN")
    att_manifest = get(f"{base}/manifests/{digest.replace(':', '-')}.att")
    if att_manifest is None:
        fail(f"✗ No attestations found for subject {digest}")
    layer = json.loads(att_manifest)["layers"][0]["digest"]
    envelope = json.loads(get(f"{base}/blobs/{layer}") or b"{}")
    payload = base64.b64decode(envelope["payload"])
    with open(os.environ["GH_DOUBLE_TRUSTED_KEY"], "rb") as fh:
        key = serialization.load_pem_public_key(fh.read())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    try:
        key.verify(base64.b64decode(envelope["signatures"][0]["sig"]),
                   pae(envelope["payloadType"], payload), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        fail("✗ Failed to verify attestation signature against the trusted root")
    statement = json.loads(payload)
    predicate_type = flags.get("--predicate-type", SLSA_V1)
    if statement.get("predicateType") != predicate_type:
        fail(f"✗ No attestations found with predicate type: {predicate_type}")
    if not any(s["digest"].get("sha256") == digest.split(":", 1)[1]
               for s in statement["subject"]):
        fail(f"✗ The attestation's subject does not match {digest}")
    workflow = statement["predicate"]["buildDefinition"]["externalParameters"]["workflow"]
    source = workflow["repository"].removeprefix("https://github.com/")
    if "--repo" in flags and source != flags["--repo"]:
        fail(f"verifying with issuer \"sigstore.dev\": expected SourceRepositoryURI to be "
             f"https://github.com/{flags['--repo']}, got {workflow['repository']}")
    if "--owner" in flags and source.split("/")[0] != flags["--owner"]:
        fail(f"expected SourceRepositoryOwnerURI to be https://github.com/{flags['--owner']}")
    signer = flags.get("--signer-workflow", "").removeprefix("github.com/")
    if signer and f"{source}/{workflow['path']}" != signer:
        fail(f"expected SubjectAlternativeName to match regex ^https://github.com/{signer}, got "
             f"https://github.com/{source}/{workflow['path']}@{workflow['ref']}")
    if "--source-ref" in flags and workflow["ref"] != flags["--source-ref"]:
        fail(f"expected SourceRepositoryRef to be {flags['--source-ref']}, got {workflow['ref']}")
    print(f"✓ Verification succeeded!\n\n{subject} was attested by:\nREPO {source}")


if __name__ == "__main__":
    main(sys.argv[1:])
