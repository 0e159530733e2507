"""Local stand-ins for GHCR, GitHub's attestations API and Sigstore: Debian's docker-registry,
a loopback attestations endpoint, an ECDSA key, a `gh` double.

What main.yml does on GitHub, done here with local parts: push an image to a registry
(LocalRegistry.push_image), attest its build provenance the way actions/attest-build-provenance
does (an in-toto statement with a SLSA v1 predicate, signed as a DSSE envelope, stored as a
Sigstore bundle through the attestations API: `push_attestation`), and verify it with
`gh attestation verify` (install_gh puts gh_attestation_double.py on PATH; `gh_env` gives it
the token, the API and the trusted key).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

HERE = Path(__file__).resolve().parent
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
REGISTRY_BIN = shutil.which("docker-registry")


class _AttestationsAPI(BaseHTTPRequestHandler):
    """GET /repos/{owner}/{repo}/attestations/{subject_digest}, as GitHub documents it
    (https://docs.github.com/en/rest/repos/attestations#list-attestations): a token is needed
    (401 "Bad credentials" for another), {"attestations": [{"bundle", "repository_id"}]}."""

    store: dict[tuple[str, str], list[dict]]
    token: str

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib's name
        match = re.fullmatch(r"/repos/([^/]+/[^/]+)/attestations/(sha256:[0-9a-f]{64})",
                             self.path.split("?")[0])
        auth = self.headers.get("Authorization", "").partition(" ")[2]
        if auth != self.token:
            status, body = 401, {"message": "Bad credentials"}
        elif match is None:
            status, body = 404, {"message": "Not Found"}
        else:
            status, body = 200, {"attestations": [
                {"bundle": b, "repository_id": 1} for b in self.store.get(match.groups(), [])]}
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class LocalRegistry:
    """Debian's docker-registry (the CNCF Distribution registry), on a free local port, and the
    attestations API of the repositories whose images it holds."""

    api_token = "ghs_local_attestations_read"

    def __init__(self, root: Path) -> None:
        self.attestations: dict[tuple[str, str], list[dict]] = {}
        handler = type("Handler", (_AttestationsAPI,), {"store": self.attestations,
                                                        "token": self.api_token})
        self.api = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.api.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.api_url = f"http://127.0.0.1:{self.api.server_address[1]}"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.host = f"localhost:{port}"
        config = root / "registry.yml"
        config.write_text(json.dumps({
            "version": 0.1, "log": {"level": "error"},
            "storage": {"filesystem": {"rootdirectory": str(root / "storage")}},
            "http": {"addr": f"127.0.0.1:{port}"}}))
        assert REGISTRY_BIN, "docker-registry not installed (apt-get install docker-registry)"
        self.process = subprocess.Popen([REGISTRY_BIN, "serve", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).close()
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("docker-registry did not start")

    def stop(self) -> None:
        self.api.shutdown()
        self.api.server_close()
        self.process.terminate()
        self.process.wait(timeout=10)

    def _request(self, method: str, url: str, data: bytes = b"",
                 content_type: str = "application/octet-stream") -> urllib.request.Request:
        return urllib.request.Request(url, data=data or None, method=method,
                                      headers={"Content-Type": content_type})

    def push_blob(self, name: str, data: bytes) -> str:
        """Monolithic upload (POST then PUT ?digest=), per the OCI distribution spec."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with urllib.request.urlopen(self._request(
                "POST", f"http://{self.host}/v2/{name}/blobs/uploads/")) as response:
            location = response.headers["Location"]
        if location.startswith("/"):
            location = f"http://{self.host}{location}"
        sep = "&" if "?" in location else "?"
        urllib.request.urlopen(self._request("PUT", f"{location}{sep}digest={digest}", data))
        return digest

    def push_manifest(self, name: str, reference: str, manifest: dict) -> str:
        body = json.dumps(manifest).encode()
        urllib.request.urlopen(self._request(
            "PUT", f"http://{self.host}/v2/{name}/manifests/{reference}", body, OCI_MANIFEST))
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def _artifact(self, name: str, config: bytes, config_type: str, layer: bytes,
                  layer_type: str) -> dict:
        return {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": config_type, "digest": self.push_blob(name, config),
                           "size": len(config)},
                "layers": [{"mediaType": layer_type, "digest": self.push_blob(name, layer),
                            "size": len(layer)}]}

    def push_image(self, name: str, content: bytes) -> str:
        """A one-layer image; returns `<host>/<name>@sha256:...`."""
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        manifest = self._artifact(name, config, "application/vnd.oci.image.config.v1+json",
                                  content, "application/vnd.oci.image.layer.v1.tar")
        digest = self.push_manifest(name, "latest", manifest)
        return f"{self.host}/{name}@{digest}"

    def push_attestation(self, image: str, envelope: dict) -> None:
        """Store the envelope as a Sigstore bundle in the attestations of the repository the
        image belongs to (its namespace OWNER/REPO), as POST /repos/{owner}/{repo}/attestations
        does from that repository's workflow."""
        repository = "/".join(image.split("/", 1)[1].split("@")[0].split("/")[:2])
        digest = image.split("@")[1]
        bundle = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                  "verificationMaterial": {"publicKey": {"hint": "local"}},
                  "dsseEnvelope": envelope}
        self.attestations.setdefault((repository, digest), []).append(bundle)


def gh_env(registry: LocalRegistry, trusted: Path) -> dict[str, str]:
    """What the `gh` double needs to verify against `registry`: a token with attestations
    read, the API to read them from, the key standing in for Sigstore's trusted root."""
    return {"GH_TOKEN": registry.api_token, "GH_DOUBLE_API_URL": registry.api_url,
            "GH_DOUBLE_TRUSTED_KEY": str(trusted)}


def new_key(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    """A signing key (Sigstore's stand-in) and its public half as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = directory / f"trusted-{id(key)}.pem"
    pem.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, pem


def statement(image: str, repository: str, workflow: str = ".github/workflows/main.yml",
              ref: str = "refs/heads/main") -> dict:
    """The in-toto statement actions/attest-build-provenance writes for a workflow build."""
    name, digest = image.split("@")
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": digest.split(":")[1]}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {"workflow": {
                    "ref": ref, "repository": f"https://github.com/{repository}",
                    "path": workflow}},
            },
            "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}},
        },
    }


def sign(key: ec.EllipticCurvePrivateKey, stmt: dict) -> dict:
    """A DSSE envelope over the statement."""
    sys.path.insert(0, str(HERE))
    from gh_attestation_double import pae

    payload = json.dumps(stmt).encode()
    sig = key.sign(pae(IN_TOTO, payload), ec.ECDSA(hashes.SHA256()))
    return {"payloadType": IN_TOTO, "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}]}


def install_gh(bin_dir: Path) -> Path:
    """Put the `gh` double on `bin_dir`; it trusts the key in $GH_DOUBLE_TRUSTED_KEY."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text(f"#!{sys.executable}\nimport runpy, sys\n"
                  f"sys.path.insert(0, {str(HERE)!r})\n"
                  f"runpy.run_path({str(HERE / 'gh_attestation_double.py')!r}, "
                  "run_name='__main__')\n")
    gh.chmod(stat.S_IRWXU)
    return gh
