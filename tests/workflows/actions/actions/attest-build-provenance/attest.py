"""actions/attest-build-provenance, the part our workflows use (see action.yml next to this)."""

import base64
import hashlib
import json
import os
import re
import sys
import urllib.error
import urllib.request
from urllib.parse import urlencode

env = os.environ
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO = "application/vnd.in-toto+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"


def fail(message: str) -> None:
    print(f"::error::{message}")
    sys.exit(1)


def call(url: str, data: bytes | None = None, headers: dict | None = None,
         method: str | None = None) -> tuple[bytes, dict]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read(), dict(response.headers)


def oidc_claims() -> tuple[str, dict]:
    if not env.get("ACTIONS_ID_TOKEN_REQUEST_URL") or not env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        fail("Error: Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable")
    try:
        raw, _ = call(f"{env['ACTIONS_ID_TOKEN_REQUEST_URL']}&audience=sigstore",
                      headers={"Authorization": f"bearer {env['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"})
    except urllib.error.HTTPError as exc:
        fail(f"Error: Failed to get ID Token. Error Code : {exc.code} "
             f"{json.loads(exc.read() or b'{}').get('message', '')}")
    jwt = json.loads(raw)["value"]
    payload = jwt.split(".")[1]
    return jwt, json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def statement(name: str, digest: str, claims: dict) -> dict:
    """The SLSA v1 provenance predicate the action writes for a workflow build
    (buildType https://actions.github.io/buildtypes/workflow/v1)."""
    repo, _, rest = claims["job_workflow_ref"].partition("/.github/")
    path, _, ref = f".github/{rest}".partition("@")
    server = env.get("GITHUB_SERVER_URL", "https://github.com")
    return {"_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": name, "digest": {"sha256": digest.split(":", 1)[1]}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {
                "buildDefinition": {
                    "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                    "externalParameters": {"workflow": {
                        "ref": ref, "repository": f"{server}/{repo}", "path": path}},
                    "internalParameters": {"github": {
                        "event_name": env.get("GITHUB_EVENT_NAME", ""),
                        "repository_id": env.get("GITHUB_REPOSITORY_ID", "")}},
                    "resolvedDependencies": [{"uri": f"git+{server}/{repo}@{ref}",
                                              "digest": {"gitCommit": env.get("GITHUB_SHA", "")}}]},
                "runDetails": {"builder": {"id": f"{server}/actions/runner/github-hosted"},
                               "metadata": {"invocationId": f"{server}/{repo}/actions/runs/"
                                                            f"{env.get('GITHUB_RUN_ID', '')}"}}}}


def registry_token(challenge: str, registry: str) -> str:
    # key="value" pairs; a scope's value holds commas itself ("repository:o/r:pull,push"),
    # https://distribution.github.io/distribution/spec/auth/token/#how-to-authenticate
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = params.pop("realm")
    config = os.path.join(env.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"),
                          "config.json")
    try:
        with open(config) as fh:
            auth = (json.load(fh).get("auths") or {}).get(registry, {}).get("auth")
    except (OSError, ValueError):
        auth = None
    if not auth:
        fail(f"Error: No credentials found for registry {registry}")
    raw, _ = call(f"{realm}?{urlencode(params)}", headers={"Authorization": f"Basic {auth}"})
    return json.loads(raw)["token"]


def registry_call(registry: str, method: str, path: str, data: bytes | None = None,
                  content_type: str = "application/octet-stream",
                  scope_name: str = "") -> tuple[bytes, dict]:
    headers = {"Content-Type": content_type}
    for attempt in range(2):
        try:
            url = path if path.startswith("http") else f"http://{registry}{path}"
            return call(url, data, headers, method)
        except urllib.error.HTTPError as exc:
            challenge = exc.headers.get("WWW-Authenticate") or ""
            if exc.code == 401 and attempt == 0 and challenge.startswith("Bearer"):
                headers["Authorization"] = f"Bearer {registry_token(challenge, registry)}"
                continue
            fail(f"Error: failed to push the attestation to {registry}: {method} {path}: "
                 f"HTTP {exc.code} {exc.read()[:200]!r}")
    raise AssertionError("unreachable")


def push(name: str, digest: str, bundle: bytes) -> None:
    """The bundle as an OCI artifact whose `subject` is the image (OCI image spec 1.1)."""
    registry, _, repository = name.partition("/")
    _, headers = registry_call(registry, "HEAD", f"/v2/{repository}/manifests/{digest}")
    subject = {"mediaType": headers.get("Content-Type", OCI_MANIFEST), "digest": digest,
               "size": int(headers.get("Content-Length", 0))}
    layers = []
    for blob, media in ((b"{}", EMPTY), (bundle, BUNDLE)):
        blob_digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        _, start = registry_call(registry, "POST", f"/v2/{repository}/blobs/uploads/")
        location = start["Location"]
        location = location if location.startswith("http") else f"http://{registry}{location}"
        sep = "&" if "?" in location else "?"
        registry_call(registry, "PUT", f"{location}{sep}digest={blob_digest}", blob)
        layers.append({"mediaType": media, "digest": blob_digest, "size": len(blob)})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": BUNDLE,
                           "config": layers[0], "layers": layers[1:], "subject": subject,
                           "annotations": {"dev.sigstore.bundle.predicateType":
                                           "https://slsa.dev/provenance/v1"}}).encode()
    ref = "sha256:" + hashlib.sha256(manifest).hexdigest()
    registry_call(registry, "PUT", f"/v2/{repository}/manifests/{ref}", manifest, OCI_MANIFEST)
    print(f"Attestation uploaded to registry {name}@{ref}")


def main() -> None:
    name, digest = env["INPUT_SUBJECT_NAME"], env["INPUT_SUBJECT_DIGEST"]
    if env.get("INPUT_SUBJECT_PATH"):
        fail("stand-in: subject-path is not used by our workflows")
    if not name or not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        fail('One of subject-path or subject-digest must be provided; subject-digest must be '
             'in the format "sha256:<hex-digest>"')
    jwt, claims = oidc_claims()
    stmt = json.dumps(statement(name, digest, claims)).encode()
    api = env["GITHUB_API_URL"]
    try:
        raw, _ = call(f"{api}/_runner/sigstore/sign",
                      json.dumps({"payloadType": IN_TOTO,
                                  "payload": base64.b64encode(stmt).decode()}).encode(),
                      {"Authorization": f"Bearer {jwt}", "Content-Type": "application/json"})
    except urllib.error.HTTPError as exc:
        fail(f"Error: Failed to sign the attestation: {exc.code} {exc.read()[:300]!r}")
    envelope = {"payloadType": IN_TOTO, "payload": base64.b64encode(stmt).decode(),
                "signatures": [{"sig": json.loads(raw)["sig"]}]}
    bundle = {"mediaType": BUNDLE, "verificationMaterial": {"publicKey": {"hint": "local"}},
              "dsseEnvelope": envelope}
    try:
        raw, _ = call(f"{api}/repos/{env['GITHUB_REPOSITORY']}/attestations",
                      json.dumps({"bundle": bundle}).encode(),
                      {"Authorization": f"Bearer {env['INPUT_GITHUB_TOKEN']}",
                       "Content-Type": "application/json"})
    except urllib.error.HTTPError as exc:
        fail(f"Error: Failed to persist attestation: {exc.code} "
             f"{json.loads(exc.read() or b'{}').get('message', '')}")
    attestation_id = json.loads(raw)["id"]
    print(f"Attestation created: {api}/repos/{env['GITHUB_REPOSITORY']}/attestations/{digest}")
    path = os.path.join(env.get("RUNNER_TEMP", "/tmp"), "attestation.json")
    with open(path, "w") as fh:
        json.dump(bundle, fh)
    if env.get("INPUT_PUSH_TO_REGISTRY", "false").lower() == "true":
        push(name, digest, json.dumps(bundle).encode())
    with open(env["GITHUB_OUTPUT"], "a") as fh:
        fh.write(f"attestation-id={attestation_id}\nbundle-path={path}\n")


if __name__ == "__main__":
    main()
