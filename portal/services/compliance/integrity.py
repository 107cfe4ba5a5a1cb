"""``portal audit check``: every chain in the database, recomputed from its rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import event_fields
from portal.database import read_transaction
from portal.models import AuditChainHead, AuditEvent
from portal.services.compliance.chain import GENESIS_HASH, event_hash

BATCH = 1000


@dataclass
class CheckResult:
    chains: int = 0
    events: int = 0
    problems: list[str] = field(default_factory=list)


async def count_events(session: AsyncSession) -> int:
    async with read_transaction(session):
        return (await session.scalar(select(func.count()).select_from(AuditEvent))) or 0


async def check_all_chains(
    session: AsyncSession, progress: Callable[[int], None] | None = None
) -> CheckResult:
    """Verifies every chain (one snapshot per chain); ``progress(n)`` after each batch."""
    result = CheckResult()
    async with read_transaction(session):
        keys = list(await session.scalars(select(AuditEvent.chain_key).distinct()))
        heads = {head.chain_key: head for head in await session.scalars(select(AuditChainHead))}
    for key in sorted(set(keys) | set(heads)):
        result.chains += 1
        async with read_transaction(session):
            problem = await _check_chain(session, key, heads.get(key), result, progress)
        if problem:
            result.problems.append(f"chain {key}: {problem}")
    return result


async def _check_chain(
    session: AsyncSession,
    key: str,
    head: AuditChainHead | None,
    result: CheckResult,
    progress: Callable[[int], None] | None,
) -> str | None:
    expected, prev = 0, GENESIS_HASH
    while True:
        batch = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.chain_key == key, AuditEvent.position >= expected)
                .order_by(AuditEvent.position)
                .limit(BATCH)
            )
        ).all()
        for event in batch:
            where = f"event at position {expected} (id {event.id}, {event.action})"
            if event.position != expected:
                return f"position {expected} is missing (next is {event.position})"
            if event.prev_hash != prev:
                return f"{where}: prev_hash does not match the event before it"
            if event_hash(prev, event_fields(event)) != event.hash:
                return f"{where}: its hash does not match its content (altered)"
            prev, expected = event.hash, expected + 1
        result.events += len(batch)
        if progress is not None:
            progress(len(batch))
        session.expunge_all()
        if len(batch) < BATCH:
            break
    if head is None:
        return "has events but no head row"
    if (head.position, head.hash) != (expected - 1, prev):
        return (
            f"the head says position {head.position} hash {head.hash}, the events end at "
            f"position {expected - 1} hash {prev}"
        )
    return None
