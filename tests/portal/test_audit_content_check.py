"""``portal audit check`` proves every stored message's content by the digest its thread's chain
recorded, and purged messages by their tombstone; a change made behind the application's back
(as the schema's owner, triggers off) is named by message and thread."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from click.testing import Result
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.models import AuditEvent, Message
from portal.models.base import new_id, utcnow
from portal.services.compliance import content_integrity
from portal.services.compliance.holds import lift_hold, list_holds
from portal.services.compliance.retention import purge_thread
from portal.settings import Settings
from tests.conftest import settings_with
from tests.portal.compliance_world import World, build_world
from tests.portal.insider import rechain, tampering
from tests.portal.test_cli import cli_env, run

__all__ = ["cli_env"]  # the fixture, imported for these tests


async def cli(*args: str) -> Result:
    return await asyncio.to_thread(run, *args)


async def world_of(session: AsyncSession, settings: Settings) -> World:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    await session.commit()
    return world


def failures(result: Result) -> list[str]:
    assert result.exit_code == 2, result.stdout + result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("FAILED: ")]


async def test_a_changed_body_is_caught_and_named(
    cli_env: dict, owner_database_url: str, session: AsyncSession, settings: Settings
) -> None:
    world = await world_of(session, settings)
    intact = await cli("audit", "check")
    assert intact.exit_code == 0, intact.stderr
    assert "verified 4 messages' content" in intact.stdout

    sent, removed = world.messages[1], world.removed
    async with tampering(owner_database_url) as owner:
        for message in (sent, removed):
            await owner.execute(
                update(Message)
                .where(Message.id == message.id)
                .values(body="I withdraw my complaint")
            )
    assert failures(await cli("audit", "check")) == [
        f"FAILED: message {message.id} (thread {world.thread_id}): its content does not match "
        f"the content_sha256 its chain recorded ({action} at position {position}): altered since"
        for message, action, position in sorted(
            [
                (sent, "message.sent", await _position(session, sent, "message.sent")),
                (removed, "message.removed", await _position(session, removed, "message.removed")),
            ],
            key=lambda item: item[0].id,
        )
    ]


async def _position(session: AsyncSession, message: Message, action: str) -> int:
    position = await session.scalar(
        select(AuditEvent.position).where(
            AuditEvent.subject_id == message.id, AuditEvent.action == action
        )
    )
    assert position is not None
    return position


async def test_purged_messages_are_checked_against_their_tombstone(
    cli_env: dict, owner_database_url: str, session: AsyncSession, settings: Settings
) -> None:
    world = await world_of(session, settings)
    for hold in await list_holds(session):
        await lift_hold(session, hold.id, actor=Actor.system(), reason="case closed")
    purged = await purge_thread(
        session, world.thread_id, cutoff=utcnow() + timedelta(days=1), actor=Actor.system()
    )
    assert purged == 4
    await session.commit()
    checked = await cli("audit", "check")
    assert checked.exit_code == 0, checked.stderr

    restored, revived = world.messages[0], world.messages[3]
    async with tampering(owner_database_url) as owner:
        await owner.execute(
            update(Message).where(Message.id == restored.id).values(body="a kinder message")
        )
        await owner.execute(
            update(Message)
            .where(Message.id == revived.id)
            .values(body="a kinder message", purged_at=None)
        )
    found = failures(await cli("audit", "check"))
    where = {
        message.id: f"FAILED: message {message.id} (thread {world.thread_id}): "
        for message in (restored, revived)
    }
    assert len(found) == 2
    assert (
        where[restored.id] + "purged (its chain has the tombstone), yet content is stored again"
        in found
    )
    assert any(
        line.startswith(where[revived.id] + "its chain says it was purged (position ")
        for line in found
    ), found


async def test_a_stored_message_its_chain_never_saw_sent_fails(
    cli_env: dict, owner_database_url: str, session: AsyncSession, settings: Settings
) -> None:
    world = await world_of(session, settings)
    original = world.messages[0]
    forged_id = new_id()
    async with tampering(owner_database_url) as owner:
        await owner.execute(
            insert(Message).values(
                id=forged_id,
                thread_id=world.thread_id,
                sender_id=world.candidate.id,
                recipient_id=world.employer.id,
                subject=None,
                body="I withdraw my complaint",
                body_format=original.body_format,
                message_type=original.message_type,
                attachments=[],
                created_at=original.created_at,
                updated_at=original.created_at,
            )
        )
    assert failures(await cli("audit", "check")) == [
        f"FAILED: message {forged_id} (thread {world.thread_id}): stored, but its thread's "
        "chain has no message.sent for it"
    ]


async def test_messages_sent_before_content_digests_are_counted_unproven(
    cli_env: dict, owner_database_url: str, session: AsyncSession, settings: Settings
) -> None:
    world = await world_of(session, settings)
    old = world.messages[0]
    async with tampering(owner_database_url) as owner:
        event = await owner.scalar(
            select(AuditEvent).where(
                AuditEvent.subject_id == old.id, AuditEvent.action == "message.sent"
            )
        )
        assert event is not None
        event.details = {k: v for k, v in event.details.items() if k != "content_sha256"}
        await rechain(owner, event.chain_key)
    checked = await cli("audit", "check")
    assert checked.exit_code == 0, checked.stderr
    assert "unproven: 1 messages predate content digests in the chain" in checked.stdout


@pytest.mark.parametrize("batch", [1, 3])
async def test_messages_are_checked_batch_by_batch(
    batch: int,
    cli_env: dict,
    owner_database_url: str,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await world_of(session, settings)
    monkeypatch.setattr(content_integrity, "BATCH", batch)
    last = max(world.messages, key=lambda message: message.id)
    async with tampering(owner_database_url) as owner:
        await owner.execute(update(Message).where(Message.id == last.id).values(subject="Re: x"))
    found = failures(await cli("audit", "check"))
    assert len(found) == 1
    assert found[0].startswith(f"FAILED: message {last.id} (thread {world.thread_id}): ")
