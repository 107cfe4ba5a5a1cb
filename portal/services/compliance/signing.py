"""Ed25519 signatures over an export's seal (its chain head and the report's digest), so that
cutting events off the end of an export, or recomputing its hashes, is detected too."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from portal.services.compliance.chain import canonical

ALGORITHM = "Ed25519"


class SigningKeyError(ValueError):
    pass


def load_private_key(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"not a PEM private key without password ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError("the audit signing key must be an Ed25519 key")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("the public key must be an Ed25519 key")
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """``SHA256:`` and the hex SHA-256 of the public key's DER SubjectPublicKeyInfo: what a
    recipient compares, read aloud or from a second channel, with the operator's."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def sign(key: Ed25519PrivateKey, signed: dict[str, Any]) -> dict[str, str]:
    return {
        "algorithm": ALGORITHM,
        "public_key": public_key_pem(key),
        "value": base64.b64encode(key.sign(canonical(signed))).decode(),
    }


def signature_valid(key: Ed25519PublicKey, signed: dict[str, Any], value: str) -> bool:
    try:
        key.verify(base64.b64decode(value, validate=True), canonical(signed))
    except (InvalidSignature, ValueError):
        return False
    return True
