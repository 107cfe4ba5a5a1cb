"""Signed checkpoints of every chain's head: ``portal audit checkpoint``, the worker's periodic
ones, and ``portal audit check --checkpoint``, which catches what an insider holding the
database can do and ``audit check`` alone cannot see."""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import event_fields
from portal.database import create_engine, create_sessionmaker
from portal.models import AuditChainHead, AuditEvent
from portal.models.base import new_id, utcnow
from portal.services.compliance.chain import GENESIS_HASH, canonical, event_hash
from portal.services.compliance.checkpoints import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    write_checkpoint_if_due,
)
from portal.services.compliance.signing import load_public_key, public_key_pem, signature_valid
from portal.settings import Settings, SettingsError, get_settings, load_settings
from server.app import create_app
from server.workers import run_checkpoint_loop
from tests.conftest import no_database, settings_with
from tests.portal.compliance_world import World, build_world
from tests.portal.insider import cut_tail, rechain, tampering
from tests.portal.test_cli import assert_one_line_error, cli_env, run

__all__ = ["cli_env"]  # the fixture, imported for these tests


def pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def public_key(
    cli_env: dict, signing_key: Ed25519PrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The signing key in the CLI's environment; the path of its public key."""
    monkeypatch.setenv("PORTAL_AUDIT_SIGNING_KEY", pem(signing_key))
    get_settings.cache_clear()
    path = tmp_path / "audit-public.pem"
    path.write_text(public_key_pem(signing_key))
    return path


async def cli(*args: str) -> Result:
    return await asyncio.to_thread(run, *args)


async def world_of(session: AsyncSession, settings: Settings) -> World:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    await session.commit()
    return world


async def take_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "checkpoint.json"
    made = await cli("audit", "checkpoint", "-o", str(path))
    assert made.exit_code == 0, made.stderr
    return path


async def check(checkpoint: Path, public_key: Path) -> Result:
    return await cli(
        "audit", "check", "--checkpoint", str(checkpoint), "--public-key", str(public_key)
    )


async def test_a_checkpoint_is_every_chains_head_signed_in_canonical_json(
    public_key: Path, session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    await world_of(session, settings)
    heads = {
        head.chain_key: (head.position, head.hash)
        for head in await session.scalars(select(AuditChainHead))
    }
    await session.commit()
    path = await take_checkpoint(tmp_path)
    data = path.read_bytes()
    document = json.loads(data)
    assert canonical(document) == data
    signed = document["checkpoint"]
    assert signed["format"] == CHECKPOINT_FORMAT
    assert {c["chain"]: (c["position"], c["hash"]) for c in signed["chains"]} == heads
    assert [c["chain"] for c in signed["chains"]] == sorted(heads)
    public_pem = await asyncio.to_thread(public_key.read_text)
    key = load_public_key(public_pem.encode())
    assert signature_valid(key, signed, document["signature"]["value"])
    assert document["signature"]["public_key"] == public_pem
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]

    checked = await check(path, public_key)
    assert checked.exit_code == 0, checked.stderr
    assert "every chain reaches the checkpoint of" in checked.stdout
    recorded = await session.scalar(
        select(AuditEvent).where(AuditEvent.action == "audit.checkpointed")
    )
    assert recorded is not None and recorded.chain_key == "global"
    assert recorded.details["chains"] == len(heads)
    assert recorded.details["operator"] == "console"


@no_database
async def test_no_checkpoint_without_a_signing_key(cli_env: dict, tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    assert_one_line_error(
        await cli("audit", "checkpoint", "-o", str(path)), "PORTAL_AUDIT_SIGNING_KEY"
    )
    assert not path.exists()


async def test_a_checkpoint_that_could_not_be_written_is_not_recorded(
    public_key: Path, session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    await world_of(session, settings)
    nowhere = tmp_path / "no-such-directory" / "checkpoint.json"
    assert_one_line_error(await cli("audit", "checkpoint", "-o", str(nowhere)))
    recorded = await session.scalar(
        select(AuditEvent.id).where(AuditEvent.action == "audit.checkpointed")
    )
    assert recorded is None


async def _truncate_tail(session: AsyncSession, world: World) -> str:
    chain = f"thread:{world.thread_id}"
    head = await session.scalar(
        select(AuditChainHead.position).where(AuditChainHead.chain_key == chain)
    )
    assert head is not None
    await cut_tail(session, chain, keep=head - 2)
    return chain


async def _rewrite_an_event(session: AsyncSession, world: World) -> str:
    chain = f"thread:{world.thread_id}"
    await session.execute(
        update(AuditEvent)
        .where(AuditEvent.chain_key == chain, AuditEvent.action == "message.removed")
        .values(details={"reason": "requested by the sender"})
    )
    await rechain(session, chain)
    return chain


async def _fabricate_a_chain(session: AsyncSession, world: World) -> str:
    thread_id = uuid.uuid4()
    chain = f"thread:{thread_id}"
    when = utcnow() - timedelta(days=30)
    prev = GENESIS_HASH
    for position, action in enumerate(["thread.created", "message.sent", "message.sent"]):
        event = AuditEvent(
            id=new_id(),
            occurred_at=when + timedelta(minutes=position),
            actor_type="user",
            actor_id=world.candidate.id,
            action=action,
            subject_type="thread" if action == "thread.created" else "message",
            subject_id=thread_id if action == "thread.created" else uuid.uuid4(),
            thread_id=thread_id,
            details={"note": "I withdraw my complaint"},
            chain_key=chain,
            position=position,
            prev_hash=prev,
        )
        event.hash = prev = event_hash(prev, event_fields(event))
        session.add(event)
    session.add(AuditChainHead(chain_key=chain, position=2, hash=prev))
    await session.flush()
    return chain


async def _delete_a_chain(session: AsyncSession, world: World) -> str:
    chain = f"thread:{world.thread_id}"
    await session.execute(AuditEvent.__table__.delete().where(AuditEvent.chain_key == chain))
    await session.execute(
        AuditChainHead.__table__.delete().where(AuditChainHead.chain_key == chain)
    )
    return chain


ATTACKS = {
    # attack: (how, what check --checkpoint says, whether check alone still passes)
    "truncated tail, head moved back": (_truncate_tail, "(its tail was cut off)", True),
    "event altered, every hash recomputed": (_rewrite_an_event, "(the chain was rewritten)", True),
    "whole chain fabricated": (_fabricate_a_chain, "(fabricated or backdated)", True),
    "whole chain deleted": (_delete_a_chain, "missing from the database", False),
}


@pytest.mark.parametrize("attack", ATTACKS)
async def test_check_against_a_checkpoint_catches_the_insider(
    attack: str,
    public_key: Path,
    owner_database_url: str,
    session: AsyncSession,
    settings: Settings,
    tmp_path: Path,
) -> None:
    world = await world_of(session, settings)
    checkpoint = await take_checkpoint(tmp_path)
    assert (await check(checkpoint, public_key)).exit_code == 0

    how, named, passes_alone = ATTACKS[attack]
    async with tampering(owner_database_url) as owner:
        chain = await how(owner, world)

    alone = await cli("audit", "check")
    assert (alone.exit_code == 0) is passes_alone, alone.stderr
    caught = await check(checkpoint, public_key)
    assert caught.exit_code == 2
    failures = [line for line in caught.stderr.splitlines() if line.startswith("FAILED: ")]
    assert any(
        line.startswith(f"FAILED: chain {chain}: ") and named in line for line in failures
    ), caught.stderr


async def test_a_checkpoint_that_is_not_genuine_is_refused(
    public_key: Path, session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    await world_of(session, settings)
    path = await take_checkpoint(tmp_path)
    document = json.loads(path.read_bytes())

    other = tmp_path / "other.pem"
    other.write_text(public_key_pem(Ed25519PrivateKey.generate()))
    moved = json.loads(path.read_bytes())
    moved["checkpoint"]["chains"][0]["position"] -= 1
    unsigned = {**document, "signature": None}
    cases = {
        "another key": (path, other, "does not verify"),
        "a position moved": (tmp_path / "moved.json", public_key, "does not verify"),
        "no signature": (tmp_path / "unsigned.json", public_key, "signature is missing"),
        "not JSON": (tmp_path / "garbage.json", public_key, "not JSON"),
        "too deep": (tmp_path / "deep.json", public_key, "not JSON"),
        "a FIFO": (tmp_path / "fifo", public_key, "not a regular file"),
    }
    (tmp_path / "moved.json").write_bytes(canonical(moved))
    (tmp_path / "unsigned.json").write_bytes(canonical(unsigned))
    (tmp_path / "garbage.json").write_bytes(b'{"checkpoint": 1e5000, ')
    (tmp_path / "deep.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    os.mkfifo(tmp_path / "fifo")
    for case, (file, key, reason) in cases.items():
        result = await check(file, key)
        assert result.exit_code == 2, case
        assert result.stderr.startswith(f"FAILED: checkpoint {file}: "), (case, result.stderr)
        assert reason in result.stderr, (case, result.stderr)
        assert "Traceback" not in result.stderr
    assert_one_line_error(await cli("audit", "check", "--checkpoint", str(path)), "go together")


async def test_check_catches_a_rewritten_chain_that_a_report_was_exported_from(
    cli_env: dict,
    owner_database_url: str,
    session: AsyncSession,
    settings: Settings,
    tmp_path: Path,
) -> None:
    world = await world_of(session, settings)
    exported = await cli("audit", "report", str(world.thread_id), "-o", str(tmp_path / "r.json"))
    assert exported.exit_code == 0, exported.stderr
    assert (await cli("audit", "check")).exit_code == 0
    async with tampering(owner_database_url) as owner:
        chain = await _rewrite_an_event(owner, world)
    result = await cli("audit", "check")
    assert result.exit_code == 2
    assert re.search(
        rf"^FAILED: chain {chain}: the report exported at \S+ \(event [0-9a-f-]+\) recorded its "
        r"head at position \d+ hash [0-9a-f]{64}; the chain now has hash [0-9a-f]{64} there$",
        result.stderr,
        re.MULTILINE,
    ), result.stderr


async def test_check_compares_the_heads_hash_not_only_its_position(
    cli_env: dict,
    owner_database_url: str,
    session: AsyncSession,
    settings: Settings,
) -> None:
    world = await world_of(session, settings)
    chain = f"thread:{world.thread_id}"
    async with tampering(owner_database_url) as owner:
        await owner.execute(
            update(AuditChainHead).where(AuditChainHead.chain_key == chain).values(hash="f" * 64)
        )
    result = await cli("audit", "check")
    assert result.exit_code == 2
    assert f"FAILED: chain {chain}: the head says position" in result.stderr
    assert "f" * 64 in result.stderr


# The periodic checkpoints of `portal worker` and `portal serve`.


def checkpoint_settings(settings: Settings, key: Ed25519PrivateKey, directory: Path) -> Settings:
    return settings_with(settings, audit_signing_key=pem(key), audit_checkpoint_dir=directory)


async def test_the_worker_writes_checkpoints_atomically_once_per_interval(
    session: AsyncSession, settings: Settings, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    await world_of(session, settings)
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    configured = checkpoint_settings(settings, signing_key, directory)
    engine = create_engine(settings.database_url)
    try:
        sessions = create_sessionmaker(engine)
        first = await write_checkpoint_if_due(configured, sessions)
        assert first is not None
        assert re.fullmatch(r"checkpoint-\d{8}T\d{6}\.\d{6}Z\.json", first.name)
        assert await write_checkpoint_if_due(configured, sessions) is None  # not due yet
        later = utcnow() + timedelta(minutes=configured.audit_checkpoint_minutes, seconds=1)
        second = await write_checkpoint_if_due(configured, sessions, now=later)
        assert second is not None
        # Another process writing one (holding the directory's lock): this one writes none.
        with (directory / ".checkpoint.lock").open("a") as other:
            fcntl.flock(other, fcntl.LOCK_EX)
            much_later = later + timedelta(days=1)
            assert await write_checkpoint_if_due(configured, sessions, now=much_later) is None
    finally:
        await engine.dispose()
    written = sorted(name for name in os.listdir(directory) if not name.startswith("."))
    assert written == [first.name, second.name]  # sortable by time
    public = signing_key.public_key()
    made = [load_checkpoint(path.read_bytes(), public) for path in (first, second)]
    assert made[0].created_at < made[1].created_at
    # the second saw the first's own audit event in the global chain
    assert made[1].heads["global"].position == made[0].heads["global"].position + 1


@no_database
@pytest.mark.parametrize("missing", ["directory", "key"])
async def test_the_worker_says_once_why_it_writes_no_checkpoint(
    missing: str,
    settings: Settings,
    signing_key: Ed25519PrivateKey,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    configured = checkpoint_settings(settings, signing_key, tmp_path)
    if missing == "directory":
        configured = settings_with(configured, audit_checkpoint_dir=None)
    else:
        configured = settings_with(configured, audit_signing_key=None)
    engine = create_engine(settings.database_url)
    try:
        with caplog.at_level(logging.INFO, logger="portal.services.compliance.checkpoints"):
            await asyncio.wait_for(
                run_checkpoint_loop(configured, create_sessionmaker(engine), asyncio.Event()),
                timeout=5,
            )
    finally:
        await engine.dispose()
    variable = "CHECKPOINT_DIR" if missing == "directory" else "SIGNING_KEY"
    assert [r.getMessage() for r in caplog.records] == [
        f"no audit checkpoints are written: PORTAL_AUDIT_{variable} is not set"
    ]
    assert not [name for name in os.listdir(tmp_path) if name.startswith("checkpoint-")]


async def test_serve_writes_checkpoints_when_it_runs_the_worker(
    settings: Settings, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    configured = settings_with(
        checkpoint_settings(settings, signing_key, directory), email_worker_in_serve=True
    )
    async with AsyncTestClient(app=create_app(configured)):
        for _ in range(100):
            if list(directory.glob("checkpoint-*.json")):
                break
            await asyncio.sleep(0.05)
    assert "portal-audit-checkpoints" not in {task.get_name() for task in asyncio.all_tasks()}
    written = list(directory.glob("checkpoint-*.json"))
    assert len(written) == 1
    made = load_checkpoint(written[0].read_bytes(), signing_key.public_key())
    assert made.heads == {}  # a fresh database: its first event is this checkpoint's own

    quiet = tmp_path / "quiet"
    quiet.mkdir()
    async with AsyncTestClient(
        app=create_app(
            settings_with(configured, email_worker_in_serve=False, audit_checkpoint_dir=quiet)
        )
    ):
        await asyncio.sleep(0.3)
    assert not list(quiet.iterdir())


def test_checkpoint_and_operator_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("PORTAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    defaults = load_settings()
    assert (defaults.audit_checkpoint_dir, defaults.audit_checkpoint_minutes) == (None, 60)
    assert defaults.operator is None

    monkeypatch.setenv("PORTAL_AUDIT_CHECKPOINT_DIR", str(tmp_path / "mounted"))
    monkeypatch.setenv("PORTAL_AUDIT_CHECKPOINT_MINUTES", "15")
    monkeypatch.setenv("PORTAL_OPERATOR", "officer@staff.example")
    configured = load_settings()
    assert configured.audit_checkpoint_dir == tmp_path / "mounted"
    assert configured.audit_checkpoint_minutes == 15
    assert configured.operator == "officer@staff.example"

    monkeypatch.setenv("PORTAL_AUDIT_CHECKPOINT_MINUTES", "0")
    with pytest.raises(SettingsError, match="PORTAL_AUDIT_CHECKPOINT_MINUTES must be at least 1"):
        load_settings()
