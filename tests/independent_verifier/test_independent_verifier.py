"""The independent verifier (audit_verifier.py, written only from docs/audit-format.md) verifies
real exports made through the product and rejects tampered ones, agreeing with
``portal audit verify`` on each."""

from __future__ import annotations

import ast
import json
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.audit import Actor
from portal.database import create_sessionmaker
from portal.models.base import utcnow
from portal.services.compliance.reports import stream_report
from portal.services.compliance.retention import purge_thread
from portal.services.compliance.signing import load_public_key
from portal.services.compliance.verify import VerificationFailed, verify_export
from portal.services.threads import delete_thread
from portal.settings import Settings
from tests.conftest import settings_with
from tests.independent_verifier import audit_verifier
from tests.independent_verifier.audit_verifier import Rejected, verify
from tests.people import person
from tests.portal.compliance_world import World, send
from tests.portal.test_audit_verify import private_key_pem, public_key_pem
from tests.portal.test_report_binding import edits, export, resealed, richer_world

ALLOWED_IMPORTS = {"__future__", "base64", "hashlib", "json", "typing", "rfc8785", "cryptography"}
OPERATOR = Ed25519PrivateKey.generate()


def test_the_verifier_uses_nothing_of_the_portal() -> None:
    tree = ast.parse(Path(audit_verifier.__file__).read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0])
    assert modules <= ALLOWED_IMPORTS, modules - ALLOWED_IMPORTS


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await richer_world(session, settings)


def signed(settings: Settings) -> Settings:
    return settings_with(settings, audit_signing_key=private_key_pem(OPERATOR))


def both_reject(data: bytes, key: bytes | None = None) -> str:
    with pytest.raises(Rejected) as independent:
        verify(data, key)
    with pytest.raises(VerificationFailed):
        verify_export(data, load_public_key(key) if key else None)
    return str(independent.value)


async def test_it_verifies_real_exports(
    engine: AsyncEngine, settings: Settings, world: World
) -> None:
    operator = public_key_pem(OPERATOR)
    for data, key in (
        (await export(engine, settings, world), None),
        (await export(engine, signed(settings), world), operator),
    ):
        ours = verify_export(data, load_public_key(key) if key else None)
        theirs = verify(data, key)
        assert (theirs["events"], theirs["head"]) == (ours.events, ours.head)
        assert theirs["unproven"] == ours.unproven_messages == 0
        assert theirs["signer"] == ours.signer
    assert theirs["signer"] == audit_verifier.fingerprint(load_public_key(operator))
    report = json.loads(data)["report"]
    assert report["staff"] and report["blocks"] and report["flags"] and report["holds"]


async def test_it_verifies_a_purged_thread(
    engine: AsyncEngine, session: AsyncSession, settings: Settings
) -> None:
    employer = await person(session, "employer", "Pat Employer")
    candidate = await person(session, "candidate", "Sam Candidate")
    sending = settings_with(settings, rate_limit_messages=100)
    first = await send(session, sending, employer, candidate, "An offer")
    await send(session, sending, candidate, employer, "No, thanks")
    await delete_thread(session, employer, first.thread_id)
    await delete_thread(session, candidate, first.thread_id)
    purged = await purge_thread(
        session, first.thread_id, cutoff=utcnow() + timedelta(days=1), actor=Actor.system()
    )
    assert purged == 2
    data = await export_as_system(engine, settings, first.thread_id)
    theirs = verify(data)
    messages = json.loads(data)["report"]["messages"]
    assert [m["content"] for m in messages] == [None, None]
    assert all(m["purged_at"] for m in messages)
    assert theirs["events"] == verify_export(data).events


async def export_as_system(engine: AsyncEngine, settings: Settings, thread_id: UUID) -> bytes:
    report = await stream_report(
        create_sessionmaker(engine), thread_id, "json", actor=Actor.system(), settings=settings
    )
    return b"".join([chunk async for chunk in report.chunks])


async def test_it_rejects_tampered_exports(
    engine: AsyncEngine, settings: Settings, world: World
) -> None:
    unsigned = await export(engine, settings, world)
    signed_data = await export(engine, signed(settings), world)
    operator = public_key_pem(OPERATOR)

    # A changed byte: in a message's text, in an event, in the seal.
    body = unsigned.replace(b"Something offensive", b"Something harmless!")
    assert "digest" in both_reject(body)
    event = unsigned.replace(b'"action":"message.removed"', b'"action":"message.remaved"', 1)
    assert "chain" in both_reject(event)
    document = json.loads(unsigned)
    document["seal"]["head_hash"] = "f" * 64
    assert "seal" in both_reject(json.dumps(document, separators=(",", ":")).encode())
    # Not canonical: the same content, other bytes.
    assert "canonical" in both_reject(json.dumps(json.loads(unsigned), indent=1).encode())

    # Every fact edited with the report's digest recomputed: the binding checks.
    for name, (edit, _named) in edits(world).items():
        assert both_reject(resealed(unsigned, edit)).startswith("binding"), name
        forged = resealed(signed_data, edit, Ed25519PrivateKey.generate())
        assert both_reject(forged).startswith("binding"), name
        assert both_reject(forged, operator) == "signature: does not verify", name

    # The operator's key refuses an unsigned report.
    assert "unsigned" in both_reject(unsigned, operator)
