"""PORTAL_AUDIT_SIGNING_KEY (inline) or PORTAL_AUDIT_SIGNING_KEY_FILE: an Ed25519 PEM private
key, checked at start-up with one clear error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.services.compliance.signing import load_private_key, sign, signature_valid
from portal.settings import SettingsError, get_settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("PORTAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()


def pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def test_no_key_means_unsigned_exports() -> None:
    assert load_settings().audit_signing_key is None


def test_a_key_file_signs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "audit.pem"
    path.write_text(pem(key))
    monkeypatch.setenv("PORTAL_AUDIT_SIGNING_KEY_FILE", str(path))
    configured = load_settings().audit_signing_key
    assert configured is not None
    signature = sign(load_private_key(configured), {"head_hash": "ab"})
    assert signature_valid(key.public_key(), {"head_hash": "ab"}, signature["value"])
    assert not signature_valid(key.public_key(), {"head_hash": "ac"}, signature["value"])


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("not a key", "not a PEM private key"),
        (pem(ec.generate_private_key(ec.SECP256R1())), "must be an Ed25519 key"),
    ],
    ids=["not a key", "a P-256 key"],  # the same ids in every pytest-xdist worker
)
def test_a_bad_key_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str, fragment: str
) -> None:
    monkeypatch.setenv("PORTAL_AUDIT_SIGNING_KEY", value)
    with pytest.raises(SettingsError, match="PORTAL_AUDIT_SIGNING_KEY") as raised:
        load_settings()
    assert fragment in str(raised.value)
