"""The offline verifier: an untouched export verifies; any changed byte, any deleted, inserted or
reordered event fails and is named; with signing, a truncated export fails too."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.audit import Actor
from portal.database import create_sessionmaker
from portal.services.compliance.chain import canonical
from portal.services.compliance.reports import stream_report
from portal.services.compliance.signing import load_public_key
from portal.services.compliance.verify import VerificationFailed, verify_export
from portal.settings import Settings
from server.cli import main
from tests.conftest import examples, settings_with
from tests.portal.compliance_world import build_world

# The file format does not depend on the database; one backend is enough here.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"])
PROPERTY = hypothesis_settings(
    max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def private_key_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


async def exported(session: AsyncSession, engine: AsyncEngine, settings: Settings) -> bytes:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    report = await stream_report(
        create_sessionmaker(engine),
        world.thread_id,
        "json",
        actor=Actor.staff(world.officer.id),
        settings=settings,
    )
    return b"".join([chunk async for chunk in report.chunks])


def events_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    return document["report"]["chain"]["events"]


def failure(data: bytes, public_key: Any = None) -> str:
    with pytest.raises(VerificationFailed) as raised:
        verify_export(data, public_key)
    return str(raised.value)


async def test_any_tampering_fails_and_is_named(
    session: AsyncSession, engine: AsyncEngine, settings: Settings
) -> None:
    data = await exported(session, engine, settings)
    document = json.loads(data)
    events = events_of(document)
    assert verify_export(data).events == len(events) >= 8

    @PROPERTY
    @given(st.data())
    def one_byte_changed(draw: st.DataObject) -> None:
        index = draw.draw(st.integers(0, len(data) - 1), label="byte")
        value = draw.draw(st.integers(0, 255).filter(lambda b: b != data[index]), label="value")
        assert failure(data[:index] + bytes([value]) + data[index + 1 :])

    @PROPERTY
    @given(st.integers(0, len(events) - 1))
    def event_deleted(index: int) -> None:
        changed = json.loads(data)
        del events_of(changed)[index]
        message = failure(canonical(changed))
        if index < len(events) - 1:
            assert f"event at position {index} " in message
        else:  # the last one: the chain is intact but shorter than its head
            assert "head" in message

    @PROPERTY
    @given(st.integers(0, len(events)), st.integers(0, len(events) - 1))
    def event_inserted(where: int, copied: int) -> None:
        changed = json.loads(data)
        events_of(changed).insert(where, dict(events[copied]))
        # A copy put right before its original is indistinguishable from it: the original fails.
        named = where + 1 if copied == where else where
        assert f"event at position {named} " in failure(canonical(changed))

    @PROPERTY
    @given(st.integers(0, len(events) - 2), st.integers(1, len(events) - 1))
    def events_reordered(first: int, distance: int) -> None:
        second = min(first + distance, len(events) - 1)
        changed = json.loads(data)
        chain = events_of(changed)
        chain[first], chain[second] = chain[second], chain[first]
        assert f"event at position {first} " in failure(canonical(changed))

    one_byte_changed()
    event_deleted()
    event_inserted()
    events_reordered()


def _truncated_and_resealed(data: bytes, keep: int, thread: dict[str, Any] | None = None) -> bytes:
    """What a careful forger would do: cut events off the end (and change the thread's fields
    to match) and recompute every digest."""
    document = json.loads(data)
    report, seal = document["report"], document["seal"]
    report["thread"].update(thread or {})
    chain = report["chain"]["events"] = report["chain"]["events"][:keep]
    report["head"] = {
        "chain": report["chain"]["key"],
        "position": keep - 1,
        "hash": chain[-1]["hash"],
    }
    report["messages"] = [
        m for m in report["messages"] if any(e["subject_id"] == m["id"] for e in chain)
    ]
    seal.update(
        events=keep,
        head_hash=chain[-1]["hash"],
        head_position=keep - 1,
        report_sha256=hashlib.sha256(canonical(report)).hexdigest(),
    )
    return canonical(document)


async def test_a_signed_export_detects_truncation(
    session: AsyncSession, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    key = Ed25519PrivateKey.generate()
    signed_settings = settings_with(settings, audit_signing_key=private_key_pem(key))
    data = await exported(session, engine, signed_settings)
    public = load_public_key(public_key_pem(key))
    assert verify_export(data, public).signature == "verified with the given key"

    truncated = _truncated_and_resealed(data, keep=3)
    assert "signature does not match" in failure(truncated, public)
    assert "signature does not match" in failure(truncated)  # against the embedded key, too
    other = load_public_key(public_key_pem(Ed25519PrivateKey.generate()))
    assert "signature does not match" in failure(data, other)

    # The CLI, offline: exit 0 and the summary line; a tampered file exits non-zero.
    good, bad, key_file = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "key.pem"
    good.write_bytes(data)
    bad.write_bytes(truncated)
    key_file.write_bytes(public_key_pem(key))
    runner = CliRunner()
    result = runner.invoke(main, ["audit", "verify", str(good), "--public-key", str(key_file)])
    head = json.loads(data)["seal"]["head_hash"]
    events = json.loads(data)["seal"]["events"]
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"verified {events} events, head {head}"
    result = runner.invoke(main, ["audit", "verify", str(bad), "--public-key", str(key_file)])
    assert result.exit_code != 0
    assert "FAILED: the signature does not match" in result.stderr


async def test_unsigned_exports_need_the_signature_for_truncation(
    session: AsyncSession, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """Why signing exists: without it a forger who recomputes every digest goes unnoticed, and
    asking for a signature with --public-key refuses the unsigned file."""
    data = await exported(session, engine, settings)
    # The chain ends with the candidate's deletion; the forger cuts it off and clears the
    # deletion from the thread's row too, or the binding checks see the difference.
    events = events_of(json.loads(data))
    assert events[-1]["action"] == "thread.deleted"
    truncated = _truncated_and_resealed(
        data, keep=len(events) - 1, thread={"deleted_by_candidate_at": None}
    )
    assert verify_export(truncated).events == len(events) - 1
    public = load_public_key(public_key_pem(Ed25519PrivateKey.generate()))
    assert "not signed" in failure(truncated, public)
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(data.replace(b"Something offensive", b"Something harmless!"))
    result = CliRunner().invoke(main, ["audit", "verify", str(tampered)])
    assert result.exit_code == 3 and "not signed" in result.stderr
    result = CliRunner().invoke(main, ["audit", "verify", "--allow-unsigned", str(tampered)])
    assert result.exit_code == 2
    assert "message #2" in result.stderr and "content" in result.stderr
