"""The audit log as a hash chain: contiguous under concurrency, append-only in the database,
content digests on content events, the migration chains existing rows, and ``portal audit
check`` finds a row altered behind the application's back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal import migrate
from portal.audit import Actor, message_digest, record_event
from portal.database import create_engine, create_sessionmaker, write_transaction
from portal.models import AuditChainHead, AuditEvent
from portal.services.compliance.chain import GENESIS_HASH, chain_key
from portal.services.compliance.integrity import check_all_chains
from portal.settings import Settings
from tests.conftest import settings_with
from tests.portal.compliance_world import build_world


async def positions(session: AsyncSession, chain: str) -> list[int]:
    return list(
        await session.scalars(
            select(AuditEvent.position)
            .where(AuditEvent.chain_key == chain)
            .order_by(AuditEvent.position)
        )
    )


async def test_services_append_to_one_chain_per_thread_and_a_global_one(
    session: AsyncSession, settings: Settings
) -> None:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    thread_chain = await positions(session, chain_key(world.thread_id))
    assert thread_chain == list(range(len(thread_chain))) and len(thread_chain) >= 8
    global_actions = set(
        await session.scalars(select(AuditEvent.action).where(AuditEvent.chain_key == "global"))
    )
    assert {"user.created", "staff.created"} <= global_actions
    # A hold on one thread is on that thread's chain (its report binds it), not the global one.
    assert "hold.placed" not in global_actions
    first = (
        await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.chain_key == chain_key(world.thread_id))
            .order_by(AuditEvent.position)
        )
    ).first()
    assert first is not None and first.prev_hash == GENESIS_HASH

    sent = (
        await session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "message.sent", AuditEvent.subject_id == world.messages[1].id
            )
        )
    ).one()
    assert sent.details["content_sha256"] == message_digest(world.messages[1])
    result = await check_all_chains(session)
    assert result.problems == [] and result.events > 10


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
async def test_concurrent_appends_never_fork_or_leave_a_gap(
    engine: AsyncEngine, session: AsyncSession, backend: str
) -> None:
    thread_id = uuid.uuid4()
    sessions = create_sessionmaker(engine)
    appends = 200

    async def append(index: int) -> None:
        async with sessions() as own, write_transaction(own):
            await record_event(
                own,
                actor=Actor.system(),
                action="test.appended",
                subject_type="thread",
                subject_id=thread_id,
                thread_id=thread_id,
                details={"index": index},
            )

    await asyncio.gather(*(append(index) for index in range(appends)))
    chain = chain_key(thread_id)
    assert await positions(session, chain) == list(range(appends))
    head = await session.get(AuditChainHead, chain)
    assert head is not None and head.position == appends - 1
    result = await check_all_chains(session)
    assert result.problems == []


async def test_a_rolled_back_append_leaves_no_trace(session: AsyncSession) -> None:
    thread_id = uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with write_transaction(session):
            await record_event(
                session,
                actor=Actor.system(),
                action="test.appended",
                subject_type="thread",
                subject_id=thread_id,
                thread_id=thread_id,
            )
            raise RuntimeError("the change fails")
    async with write_transaction(session):
        event = await record_event(
            session,
            actor=Actor.system(),
            action="test.appended",
            subject_type="thread",
            subject_id=thread_id,
            thread_id=thread_id,
        )
    assert event.position == 0 and event.prev_hash == GENESIS_HASH
    assert (await check_all_chains(session)).problems == []


async def test_the_database_refuses_to_update_or_delete_audit_rows(
    session: AsyncSession, owner_session: AsyncSession, settings: Settings, backend: str
) -> None:
    """As the application's own database role (PORTAL_DATABASE_URL: on PostgreSQL it has no
    UPDATE or DELETE privilege) and as the schema's owner (the append-only triggers)."""
    await build_world(session, settings_with(settings, rate_limit_messages=100))
    await session.commit()
    refusals = [(owner_session, "append-only")]
    refusals.append((session, "permission denied" if backend == "postgres" else "append-only"))
    for who, refusal in refusals:
        for statement in (
            "UPDATE audit_events SET action = 'forged'",
            "DELETE FROM audit_events",
        ):
            with pytest.raises(DBAPIError, match=refusal):
                async with who.begin():
                    await who.execute(text(statement))
    assert "forged" not in set(await session.scalars(select(AuditEvent.action)))
    assert (await check_all_chains(session)).problems == []


async def test_check_names_a_row_altered_behind_the_applications_back(
    session: AsyncSession, owner_session: AsyncSession, settings: Settings, backend: str
) -> None:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    await session.commit()
    async with owner_session.begin():
        # Only someone who can drop the database's own protection (the owner) can do this.
        if backend == "postgres":
            await owner_session.execute(
                text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
            )
        else:
            await owner_session.execute(text("DROP TRIGGER audit_events_append_only_update"))
        await owner_session.execute(
            text(
                "UPDATE audit_events SET details = :details"
                " WHERE chain_key = :chain AND position = 2"
            ),
            {"details": '{"forged": true}', "chain": chain_key(world.thread_id)},
        )
    result = await check_all_chains(session)
    assert len(result.problems) == 1
    assert f"chain {chain_key(world.thread_id)}: event at position 2" in result.problems[0]
    assert "altered" in result.problems[0]


async def test_the_migration_chains_existing_events(empty_database_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_database_url, "0001")
    engine = create_engine(empty_database_url)
    thread_id = uuid.uuid4()
    try:
        async with engine.begin() as connection:
            for index in range(5):
                await connection.execute(
                    AuditEvent.__table__.insert().values(
                        id=uuid.uuid4(),
                        occurred_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=index),
                        actor_type="system",
                        action=f"old.event{index}",
                        subject_type="thread",
                        thread_id=thread_id if index % 2 else None,
                        details={"index": index},
                    )
                )
    finally:
        await engine.dispose()
    await asyncio.to_thread(migrate.upgrade, empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            assert await positions(session, chain_key(thread_id)) == [0, 1]
            assert await positions(session, "global") == [0, 1, 2]
            assert (await check_all_chains(session)).problems == []
            async with write_transaction(session):
                event = await record_event(
                    session,
                    actor=Actor.system(),
                    action="new.event",
                    subject_type="thread",
                    subject_id=thread_id,
                    thread_id=thread_id,
                )
            assert event.position == 2
            assert (await check_all_chains(session)).problems == []
    finally:
        await engine.dispose()
