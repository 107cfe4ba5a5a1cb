"""Tampering as an insider: the schema's owner, with the database's own protection switched off
(PostgreSQL: ``DISABLE TRIGGER USER``; SQLite: the triggers dropped), recomputing the keyless
hashes and head rows as the application would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import event_fields
from portal.database import create_engine, create_sessionmaker
from portal.models import AuditChainHead, AuditEvent
from portal.services.compliance.chain import GENESIS_HASH, event_hash

GUARDED_TABLES = ("audit_events", "messages")


@asynccontextmanager
async def tampering(owner_database_url: str) -> AsyncIterator[AsyncSession]:
    """A session of the schema's owner, in one transaction that commits, with the triggers of
    the audit and message tables out of the way."""
    engine = create_engine(owner_database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            postgres = session.get_bind().dialect.name == "postgresql"
            for table in GUARDED_TABLES:
                if postgres:
                    await session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
                else:
                    triggers = await session.scalars(
                        text(
                            "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                            "AND tbl_name = :table"
                        ),
                        {"table": table},
                    )
                    for name in list(triggers):
                        await session.execute(text(f'DROP TRIGGER "{name}"'))
            yield session
            if postgres:
                for table in GUARDED_TABLES:
                    await session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    finally:
        await engine.dispose()


async def rechain(session: AsyncSession, chain: str) -> None:
    """Recomputes every hash of ``chain`` from its rows, and its head: what ``audit check``
    alone cannot tell from the original."""
    events = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.chain_key == chain).order_by(AuditEvent.position)
        )
    ).all()
    prev = GENESIS_HASH
    for event in events:
        event.prev_hash = prev
        event.hash = prev = event_hash(prev, event_fields(event))
    await session.flush()
    await session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.chain_key == chain)
        .values(position=len(events) - 1, hash=prev)
    )


async def cut_tail(session: AsyncSession, chain: str, keep: int) -> None:
    """Deletes the events of ``chain`` after position ``keep`` and moves its head row back."""
    await session.execute(
        delete(AuditEvent).where(AuditEvent.chain_key == chain, AuditEvent.position > keep)
    )
    last = await session.scalar(
        select(AuditEvent.hash).where(AuditEvent.chain_key == chain, AuditEvent.position == keep)
    )
    await session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.chain_key == chain)
        .values(position=keep, hash=last)
    )
