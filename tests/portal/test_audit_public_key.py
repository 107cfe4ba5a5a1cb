"""``portal audit public-key``: what the operator hands a report's recipient (out of band, with
its fingerprint), and what ``audit verify --public-key`` then trusts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession

from portal.services.compliance.signing import fingerprint, load_public_key
from portal.settings import Settings, get_settings
from tests.conftest import settings_with
from tests.portal.compliance_world import build_world
from tests.portal.test_audit_verify import private_key_pem, public_key_pem
from tests.portal.test_cli import cli_env, run
from tests.portal.test_compliance_cli import cli as run_async

__all__ = ["cli_env"]
pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


async def test_the_recipient_verifies_with_the_printed_key(
    cli_env: dict,
    session: AsyncSession,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unset = run("audit", "public-key")
    assert unset.exit_code == 1
    assert "PORTAL_AUDIT_SIGNING_KEY is not set" in unset.stderr

    key = Ed25519PrivateKey.generate()
    monkeypatch.setenv("PORTAL_AUDIT_SIGNING_KEY", private_key_pem(key))
    get_settings.cache_clear()
    printed = run("audit", "public-key")
    assert printed.exit_code == 0, printed.stderr
    assert printed.stdout.encode() == public_key_pem(key)
    assert printed.stderr.strip() == f"fingerprint: {fingerprint(key)}"
    assert re.fullmatch(r"SHA256:[0-9a-f]{64}", fingerprint(load_public_key(printed.stdout_bytes)))

    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    report = tmp_path / "report.json"
    exported: Any = await run_async("audit", "report", str(world.thread_id), "-o", str(report))
    assert exported.exit_code == 0
    key_file = tmp_path / "operator.pem"
    key_file.write_bytes(printed.stdout_bytes)
    verified: Any = await run_async("audit", "verify", str(report), "--public-key", str(key_file))
    assert verified.exit_code == 0, verified.stderr
    assert verified.stdout.splitlines()[1] == (
        f"signature: verified with the given key ({fingerprint(key)})"
    )
    # Without the key, the signature says nothing about who signed: refused.
    refused: Any = await run_async("audit", "verify", str(report))
    assert refused.exit_code == 3
    assert fingerprint(key) in refused.stderr and "a key you did not give" in refused.stderr
