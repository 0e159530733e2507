"""Keys the local GitHub signs with: registry bearer tokens (as ghcr.io's token service) and
attestations (as Sigstore's Fulcio would certify them), each with a self-signed certificate.

Registry tokens follow the CNCF Distribution token specification
(https://distribution.github.io/distribution/spec/auth/jwt/): an ES256 JWT whose header `kid` is
the libtrust key id of a key in the registry's `rootcertbundle`, with `iss`, `aud` (the
service), `exp`/`nbf` and an `access` list of {type, name, actions}.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    """An ECDSA P-256 key and the PEM files of its certificate and public key."""

    key: ec.EllipticCurvePrivateKey
    cert: Path
    public: Path

    @classmethod
    def create(cls, folder: Path, name: str) -> SigningKey:
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .sign(key, hashes.SHA256()))
        cert_path, public_path = folder / f"{name}.crt", folder / f"{name}.pub.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        public_path.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        return cls(key, cert_path, public_path)

    def kid(self) -> str:
        """libtrust's key id: base32 of the first 240 bits of SHA-256(DER public key), in
        colon-separated groups of four (what Distribution matches a token's `kid` against)."""
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
        return ":".join(text[i:i + 4] for i in range(0, len(text), 4))

    def sign(self, data: bytes) -> bytes:
        """A DER ECDSA-SHA256 signature (what DSSE envelopes carry)."""
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def jwt(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "ES256", "kid": self.kid()}
        signing_input = f"{_b64url(json.dumps(header).encode())}." \
                        f"{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.sign(signing_input.encode()))
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def registry_token(key: SigningKey, issuer: str, service: str, subject: str,
                   access: list[dict[str, Any]]) -> str:
    now = int(time.time())
    return key.jwt({"iss": issuer, "sub": subject, "aud": service, "iat": now, "nbf": now - 60,
                    "exp": now + 600, "jti": f"{now}-{subject}-{len(access)}", "access": access})
