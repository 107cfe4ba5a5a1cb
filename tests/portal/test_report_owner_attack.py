"""The insider who owns the schema: with the triggers off, they rewrite a thread's history and
recompute every hash and the head, then the app exports (and signs) the rewritten chain. That
report verifies on its own — the app signs what its database holds — but an export made before
the rewrite still verifies, and ``portal audit verify --earlier`` shows the chain was rewritten
(docs/audit-format.md, "What verify can and cannot catch")."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.models import AuditEvent, Message
from portal.services.compliance.chain import chain_key
from portal.settings import Settings
from server.cli import main
from tests.conftest import settings_with
from tests.portal.compliance_world import build_world
from tests.portal.insider import rechain, tampering
from tests.portal.test_audit_verify import private_key_pem, public_key_pem
from tests.portal.test_report_binding import export


async def rewrite_removal_reason(owner_url: str, thread_id: uuid.UUID) -> None:
    """As the owner: the removal's reason changed in the event and the message row, every hash
    of the thread's chain and its head recomputed."""
    key = chain_key(thread_id)
    async with tampering(owner_url) as session:
        removal = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.chain_key == key, AuditEvent.action == "message.removed"
                )
            )
        ).one()
        removal.details = {**removal.details, "reason": "spam"}
        await session.execute(
            update(Message).where(Message.id == removal.subject_id).values(removed_reason="spam")
        )
        await rechain(session, key)


async def test_an_earlier_export_shows_the_owner_rewrote_the_chain(
    engine: AsyncEngine,
    session: AsyncSession,
    settings: Settings,
    owner_database_url: str,
    tmp_path: Path,
) -> None:
    key = Ed25519PrivateKey.generate()
    signed = settings_with(settings, audit_signing_key=private_key_pem(key))
    world = await build_world(session, settings_with(signed, rate_limit_messages=100))
    before = tmp_path / "before.json"
    before.write_bytes(await export(engine, signed, world))
    await session.close()

    await rewrite_removal_reason(owner_database_url, world.thread_id)
    after = tmp_path / "after.json"
    after.write_bytes(await export(engine, signed, world))

    key_file = tmp_path / "operator.pem"
    key_file.write_bytes(public_key_pem(key))
    runner = CliRunner()

    def verify(*args: str) -> Result:
        return runner.invoke(main, ["audit", "verify", *args, "--public-key", str(key_file)])

    old, new = json.loads(before.read_bytes()), json.loads(after.read_bytes())
    removed = next(m for m in new["report"]["messages"] if m["id"] == str(world.removed.id))
    assert removed["removed"]["reason"] == "spam"  # the rewrite reached the new export
    # Same length, another head: the evidence that the history changed in between.
    assert old["seal"]["head_position"] == new["seal"]["head_position"]
    assert old["seal"]["head_hash"] != new["seal"]["head_hash"]

    result = verify(str(before))  # the earlier export still verifies: it is what it was
    assert result.exit_code == 0, result.output
    # Alone, the rewritten export verifies too: the app signed what its database held.
    result = verify(str(after))
    assert result.exit_code == 0, result.output
    result = verify(str(after), "--earlier", str(before))
    assert result.exit_code == 2
    assert "FAILED: --earlier" in result.stderr
    assert "the chain was rewritten since the earlier export" in result.stderr
