"""``portal audit check``: every chain in the database, recomputed from its rows; with a signed
checkpoint, anchored to where every chain stood when it was made; and every head an export
recorded, still on its chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import event_fields
from portal.database import read_transaction
from portal.models import AuditChainHead, AuditEvent
from portal.services.compliance.chain import GENESIS_HASH, chain_key, event_hash, timestamp
from portal.services.compliance.checkpoints import ChainHead, Checkpoint

BATCH = 1000


@dataclass
class CheckResult:
    chains: int = 0
    events: int = 0
    exports: int = 0
    messages: int = 0
    unproven_messages: int = 0
    files: int = 0  # stored attachment files checked against their digests
    problems: list[str] = field(default_factory=list)


async def count_events(session: AsyncSession) -> int:
    async with read_transaction(session):
        return (await session.scalar(select(func.count()).select_from(AuditEvent))) or 0


async def check_all_chains(
    session: AsyncSession,
    progress: Callable[[int], None] | None = None,
    *,
    checkpoint: Checkpoint | None = None,
    result: CheckResult | None = None,
) -> CheckResult:
    """Verifies every chain (one snapshot per chain); ``progress(n)`` after each batch.

    With a ``checkpoint``, also: every chain it lists still holds its checkpointed hash at its
    checkpointed position, and a chain it does not list has no event dated before it (beyond
    ``COMMIT_GRACE``).
    """
    result = result or CheckResult()
    async with read_transaction(session):
        keys = list(await session.scalars(select(AuditEvent.chain_key).distinct()))
        heads = {head.chain_key: head for head in await session.scalars(select(AuditChainHead))}
    present = set(keys) | set(heads)
    if checkpoint is not None:
        for key in sorted(set(checkpoint.heads) - present):
            anchor = checkpoint.heads[key]
            result.problems.append(
                f"chain {key}: missing from the database; the checkpoint of "
                f"{timestamp(checkpoint.created_at)} has it at position {anchor.position} "
                f"hash {anchor.hash}"
            )
    for key in sorted(present):
        result.chains += 1
        walk = _ChainWalk(key, heads.get(key), checkpoint)
        async with read_transaction(session):
            problem = await walk.run(session, result, progress)
        if problem:
            result.problems.append(f"chain {key}: {problem}")
    return result


@dataclass
class _ChainWalk:
    key: str
    head: AuditChainHead | None
    checkpoint: Checkpoint | None

    @property
    def anchor(self) -> ChainHead | None:
        return None if self.checkpoint is None else self.checkpoint.heads.get(self.key)

    async def run(
        self,
        session: AsyncSession,
        result: CheckResult,
        progress: Callable[[int], None] | None,
    ) -> str | None:
        expected, prev = 0, GENESIS_HASH
        anchor = self.anchor
        while True:
            batch = (
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.chain_key == self.key, AuditEvent.position >= expected)
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
                problem = self._against_checkpoint(event.position, event.hash, event.occurred_at)
                if problem:
                    return f"{where}: {problem}"
                prev, expected = event.hash, expected + 1
            result.events += len(batch)
            if progress is not None:
                progress(len(batch))
            session.expunge_all()
            if len(batch) < BATCH:
                break
        if self.head is None:
            return "has events but no head row"
        if (self.head.position, self.head.hash) != (expected - 1, prev):
            return (
                f"the head says position {self.head.position} hash {self.head.hash}, the events "
                f"end at position {expected - 1} hash {prev}"
            )
        if anchor is not None and expected - 1 < anchor.position:
            return (
                f"ends at position {expected - 1}, short of the checkpointed head at position "
                f"{anchor.position} hash {anchor.hash} (its tail was cut off)"
            )
        return None

    def _against_checkpoint(self, position: int, digest: str, occurred_at: datetime) -> str | None:
        checkpoint, anchor = self.checkpoint, self.anchor
        if checkpoint is None:
            return None
        if anchor is None:
            if occurred_at < checkpoint.fabrication_cutoff:
                return (
                    f"the chain is not in the checkpoint of {timestamp(checkpoint.created_at)}, "
                    f"yet this event is dated {timestamp(occurred_at)} (fabricated or backdated)"
                )
            return None
        if position == anchor.position and digest != anchor.hash:
            return (
                f"hash {digest}, but the checkpoint of {timestamp(checkpoint.created_at)} has "
                f"{anchor.hash} here (the chain was rewritten)"
            )
        return None


async def check_exported_heads(session: AsyncSession, result: CheckResult) -> CheckResult:
    """Every head a ``report.exported`` event recorded is still on its chain: the event at that
    position has that hash. An export is a copy of the chain held outside the database, so a
    rewrite since then would leave the recipient's report verifying against a chain that is
    gone."""
    after = None
    while True:
        async with read_transaction(session):
            query = select(AuditEvent.id, AuditEvent.occurred_at, AuditEvent.details).where(
                AuditEvent.action == "report.exported"
            )
            if after is not None:
                query = query.where(AuditEvent.id > after)
            batch = (await session.execute(query.order_by(AuditEvent.id).limit(BATCH))).all()
            recorded = {}
            for event_id, occurred_at, details in batch:
                head = _exported_head(details)
                if head is not None:
                    recorded[event_id] = (occurred_at, head)
            wanted = {(head.chain, head.position) for _, head in recorded.values()}
            found: dict[tuple[str, int], str] = {}
            if wanted:
                rows = await session.execute(
                    select(AuditEvent.chain_key, AuditEvent.position, AuditEvent.hash).where(
                        tuple_(AuditEvent.chain_key, AuditEvent.position).in_(sorted(wanted))
                    )
                )
                found = {(key, position): digest for key, position, digest in rows}
        for event_id, (occurred_at, head) in recorded.items():
            now = found.get((head.chain, head.position))
            result.exports += 1
            if now != head.hash:
                there = "no event" if now is None else f"hash {now}"
                result.problems.append(
                    f"chain {head.chain}: the report exported at {timestamp(occurred_at)} "
                    f"(event {event_id}) recorded its head at position {head.position} hash "
                    f"{head.hash}; the chain now has {there} there"
                )
        if len(batch) < BATCH:
            return result
        after = batch[-1][0]


def _exported_head(details: object) -> ChainHead | None:
    if not isinstance(details, dict):
        return None
    position, digest = details.get("head_position"), details.get("head_hash")
    chain = details.get("chain") or (
        chain_key(details["thread_id"]) if details.get("thread_id") else None
    )
    if not isinstance(chain, str) or type(position) is not int or not isinstance(digest, str):
        return None
    if position < 0:  # exported before the thread's chain had an event
        return None
    return ChainHead(chain, position, digest)
