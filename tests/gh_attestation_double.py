"""A test double of `gh attestation verify oci://IMAGE`, with a local key standing in for Sigstore.

Only this subcommand is doubled (the GitHub CLI in the runner image has no `attestation`
command); everything else goes to the real `gh`. It does what the CLI documents
(https://cli.github.com/manual/gh_attestation_verify), reading what the real one reads:
1. a token: GH_TOKEN, else GITHUB_TOKEN (https://cli.github.com/manual/gh_help_environment); in
   GitHub Actions without one it fails with gh's own message;
2. the image's digest from its registry (a tag is resolved; Distribution's bearer-token challenge
   is answered with the `docker login` credentials in $DOCKER_CONFIG/config.json, else
   anonymously, as gh's registry client does);
3. the attestations from GitHub's REST API, GET /repos/OWNER/REPO/attestations/DIGEST
   (https://docs.github.com/en/rest/repos/attestations#list-attestations), at the API of
   $GH_HOST (github.localhost: http://api.github.localhost, as gh maps it) or
   $GH_DOUBLE_API_URL; a 401/403 (no `attestations: read`) fails the command;
4. each bundle's DSSE signature (https://github.com/secure-systems-lab/dsse/blob/master/
   protocol.md) against the ECDSA P-256 key in $GH_DOUBLE_TRUSTED_KEY instead of Sigstore's
   trusted root, then the documented identity on the signed SLSA v1 statement that
   actions/attest-build-provenance writes (buildDefinition.externalParameters.workflow):
   --repo against the source repository, --signer-workflow against repository + workflow
   path, --source-ref against the workflow ref, --predicate-type (default
   https://slsa.dev/provenance/v1) against the statement's.
Unhappy paths exit 1 with an `Error:` line (gh's exit status for a failed verification).
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

MANIFESTS = ", ".join(["application/vnd.oci.image.index.v1+json",
                       "application/vnd.oci.image.manifest.v1+json",
                       "application/vnd.docker.distribution.manifest.list.v2+json",
                       "application/vnd.docker.distribution.manifest.v2+json"])
SLSA_V1 = "https://slsa.dev/provenance/v1"
# gh's message, word for word, when it runs in Actions without a token (cli/cli, pkg/cmd/root)
ACTIONS_NO_TOKEN = ("gh: To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN "
                    "environment variable. Example:\n  env:\n    GH_TOKEN: ${{ github.token }}")


class Failed(Exception):
    """A verification that failed; the message is gh's `Error:` line."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature covers."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def options(argv: list[str]) -> tuple[str, dict[str, str]]:
    if argv[:2] != ["attestation", "verify"] or len(argv) < 3:
        raise Failed(f"the gh double handles only `attestation verify`, not {argv[:2]}")
    subject, rest, flags = argv[2], argv[3:], {}
    while rest:
        if "=" in rest[0]:                       # --flag=value
            flag, value = rest[0].split("=", 1)
            rest = rest[1:]
        else:                                    # --flag value
            flag, value, rest = rest[0], rest[1] if len(rest) > 1 else "", rest[2:]
        flags[flag] = value
    return subject, flags


def token(env: dict[str, str]) -> str:
    found = env.get("GH_TOKEN") or env.get("GITHUB_TOKEN")
    if found:
        return found
    if env.get("GITHUB_ACTIONS") == "true":
        print(ACTIONS_NO_TOKEN, file=sys.stderr)
        sys.exit(4)
    print("To get started with GitHub CLI, please run:  gh auth login", file=sys.stderr)
    sys.exit(4)


def api_url(env: dict[str, str]) -> str:
    if env.get("GH_DOUBLE_API_URL"):
        return env["GH_DOUBLE_API_URL"].rstrip("/")
    host = env.get("GH_HOST", "github.com")
    if host in ("github.com", "github.localhost"):
        return f"{'https' if host == 'github.com' else 'http'}://api.{host}"
    return f"https://{host}/api/v3"


# ---- the registry ------------------------------------------------------------------------------
def _docker_auth(registry: str, env: dict[str, str]) -> str | None:
    config = os.path.join(env.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"),
                          "config.json")
    try:
        with open(config) as fh:
            return (json.load(fh).get("auths") or {}).get(registry, {}).get("auth")
    except (OSError, ValueError):
        return None


def _bearer(challenge: str, registry: str, env: dict[str, str]) -> str:
    """Answer `WWW-Authenticate: Bearer realm=..,service=..,scope=..` with a registry token
    (https://distribution.github.io/distribution/spec/auth/token/)."""
    # key="value" pairs; a push scope's value holds a comma itself ("repository:o/r:pull,push")
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = params.pop("realm")
    headers = {}
    if auth := _docker_auth(registry, env):
        headers["Authorization"] = f"Basic {auth}"
    request = urllib.request.Request(f"{realm}?{urlencode(params)}", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["token"]


def resolve_digest(image: str, env: dict[str, str]) -> tuple[str, str]:
    """(name without tag or digest, sha256:... digest) as the registry serves the manifest."""
    registry, _, path = image.partition("/")
    if "@" in path:
        name, reference = path.split("@", 1)
    else:
        name, _, reference = path.rpartition(":") if ":" in path else (path, "", "latest")
    url = f"http://{registry}/v2/{name}/manifests/{reference}"
    headers = {"Accept": MANIFESTS}
    for _ in range(2):
        request = urllib.request.Request(url, method="HEAD", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                digest = response.headers["Docker-Content-Digest"]
                if "@" in path and digest != reference:
                    raise Failed(f"the registry serves {digest} for {image}")
                return f"{registry}/{name}", digest
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and "Bearer" in (exc.headers.get("WWW-Authenticate") or ""):
                headers["Authorization"] = \
                    f"Bearer {_bearer(exc.headers['WWW-Authenticate'], registry, env)}"
                continue
            if exc.code == 404:
                raise Failed(f"failed to fetch OCI image manifest: {image}: MANIFEST_UNKNOWN") \
                    from None
            raise Failed(f"failed to fetch OCI image manifest: {image}: HTTP {exc.code}") \
                from None
    raise Failed(f"failed to fetch OCI image manifest: {image}: UNAUTHORIZED")


# ---- the attestations API ----------------------------------------------------------------------
def attestations(env: dict[str, str], repo: str, digest: str, predicate: str) -> list[Any]:
    query = urlencode({"per_page": 30, "predicate_type": predicate})
    request = urllib.request.Request(
        f"{api_url(env)}/repos/{repo}/attestations/{digest}?{query}",
        headers={"Authorization": f"Bearer {token(env)}",
                 "Accept": "application/vnd.github+json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read()).get("attestations") or []
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        message = json.loads(exc.read() or b"{}").get("message", "")
        raise Failed(f"failed to fetch attestations from {repo}: HTTP {exc.code}: {message}") \
            from None


def check(bundle: dict[str, Any], digest: str, flags: dict[str, str],
          key: ec.EllipticCurvePublicKey) -> str:
    """The source repository when `bundle` verifies for `digest` and the flags, else Failed."""
    envelope = bundle.get("dsseEnvelope") or {}
    payload = base64.b64decode(envelope.get("payload", ""))
    try:
        key.verify(base64.b64decode(envelope["signatures"][0]["sig"]),
                   pae(envelope["payloadType"], payload), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, KeyError, IndexError, ValueError):
        raise Failed("✗ Failed to verify attestation signature against the trusted root") \
            from None
    statement = json.loads(payload)
    predicate_type = flags.get("--predicate-type", SLSA_V1)
    if statement.get("predicateType") != predicate_type:
        raise Failed(f"✗ No attestations found with predicate type: {predicate_type}")
    if not any(s["digest"].get("sha256") == digest.split(":", 1)[1]
               for s in statement["subject"]):
        raise Failed(f"✗ The attestation's subject does not match {digest}")
    workflow = statement["predicate"]["buildDefinition"]["externalParameters"]["workflow"]
    source = "/".join(workflow["repository"].rstrip("/").split("/")[-2:])
    if "--repo" in flags and source != flags["--repo"]:
        raise Failed(f"verifying with issuer \"sigstore.dev\": expected SourceRepositoryURI to "
                     f"be https://github.com/{flags['--repo']}, got {workflow['repository']}")
    signer = flags.get("--signer-workflow", "").removeprefix("github.com/")
    if signer and f"{source}/{workflow['path']}" != signer:
        raise Failed(f"expected SubjectAlternativeName to match regex ^https://github.com/"
                     f"{signer}, got https://github.com/{source}/{workflow['path']}@"
                     f"{workflow['ref']}")
    if "--source-ref" in flags and workflow["ref"] != flags["--source-ref"]:
        raise Failed(f"expected SourceRepositoryRef to be {flags['--source-ref']}, got "
                     f"{workflow['ref']}")
    return source


def verify(argv: list[str], env: dict[str, str]) -> str:
    subject, flags = options(argv)
    if "--repo" not in flags:
        if "--owner" in flags:
            raise Failed("the gh double reads repository attestations only: pass --repo")
        raise Failed("at least one of the flags in the group [owner repo] is required")
    if not subject.startswith("oci://"):
        raise Failed(f"the gh double verifies oci:// images only, got {subject}")
    token(env)
    image, digest = resolve_digest(subject.removeprefix("oci://"), env)
    predicate = flags.get("--predicate-type", SLSA_V1)
    found = attestations(env, flags["--repo"], digest, predicate)
    if not found:
        raise Failed(f"✗ No attestations found for subject {digest}")
    with open(env["GH_DOUBLE_TRUSTED_KEY"], "rb") as fh:
        key = serialization.load_pem_public_key(fh.read())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    why = ""
    for item in found:
        try:
            source = check(item["bundle"], digest, flags, key)
        except Failed as exc:
            why = str(exc)
            continue
        return f"✓ Verification succeeded!\n\n{image}@{digest} was attested by:\nREPO {source}"
    raise Failed(why)


def main(argv: list[str]) -> None:
    try:
        print(verify(argv, dict(os.environ)))
    except Failed as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
