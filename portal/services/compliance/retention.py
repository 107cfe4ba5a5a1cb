"""Retention: after ``retention_days`` the bodies and attachment metadata of threads that both
participants deleted, or that went quiet, are purged, unless a legal hold covers them; so are
the stored files of their messages (deleted from the store once the purge has committed; each
file's SHA-256 and size stay in its message's tombstone, ``details.files``).

The period runs from the later of the thread's last activity and its application's last status
change: a record is kept a year from its making or from the personnel action, whichever is later
(29 CFR 1602.14). Each purged message leaves a ``message.purged`` tombstone in its thread's chain
carrying the digest of the content it had, so the chain still verifies and still proves what was
there; each run leaves one ``retention.purged`` event in the global chain saying who ran it, with
what setting, what it purged and which held threads it skipped under which holds.

An EEOC charge hold stands until its charge's final disposition (29 CFR 1602.14): a run first
releases (lifts, with a ``hold.lifted`` event each) the charge holds whose final disposition
date has passed, so what they kept is purged by the same run if it has expired.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import message_digest, record_event
from portal.database import read_transaction, session_settings, write_transaction
from portal.errors import Conflict
from portal.models import Application, LegalHold, Message, MessageThread
from portal.models.base import utcnow
from portal.permissions import Capability, Who
from portal.services import attachments
from portal.services.compliance.holds import covers, holds_on_thread, lift_hold, thread_is_held


@dataclass(frozen=True)
class KeepingHold:
    """A standing hold and the expired threads it keeps from the purge."""

    hold_id: uuid.UUID
    case_reference: str
    scope: str
    thread_ids: tuple[uuid.UUID, ...]

    def as_details(self) -> dict[str, object]:
        return {
            "hold_id": str(self.hold_id),
            "case_reference": self.case_reference,
            "scope": self.scope,
            "thread_ids": [str(t) for t in self.thread_ids],
        }


@dataclass
class PurgePlan:
    cutoff: datetime
    threads: list[uuid.UUID] = field(default_factory=list)
    messages: int = 0
    held_threads: list[uuid.UUID] = field(default_factory=list)
    holds: list[KeepingHold] = field(default_factory=list)


@dataclass
class PurgeResult:
    cutoff: datetime
    threads: int = 0
    messages: int = 0
    held_threads: list[uuid.UUID] = field(default_factory=list)
    holds: list[KeepingHold] = field(default_factory=list)
    released_holds: list[uuid.UUID] = field(default_factory=list)


KEEPING_BATCH = 5000


def _last_activity() -> ColumnElement[datetime]:
    return func.coalesce(MessageThread.last_message_at, MessageThread.created_at)


def _expired(cutoff: datetime) -> ColumnElement[bool]:
    """The thread went quiet (or both deleted it) before ``cutoff``, and its application's
    status has not changed since."""
    application_acted_since = exists().where(
        Application.id == MessageThread.application_id,
        func.coalesce(Application.status_changed_at, Application.created_at) >= cutoff,
    )
    return and_(
        or_(
            and_(MessageThread.is_deleted.is_(True), MessageThread.deleted_at < cutoff),
            _last_activity() < cutoff,
        ),
        ~application_acted_since,
    )


async def holds_keeping(session: AsyncSession, thread_ids: list[uuid.UUID]) -> list[KeepingHold]:
    """The standing holds that cover any of ``thread_ids``, each with the ones it covers."""
    grouped: dict[uuid.UUID, tuple[datetime, str, str, list[uuid.UUID]]] = {}
    # In batches: a user hold on a busy recruiter can keep more threads than a statement binds.
    for start in range(0, len(thread_ids), KEEPING_BATCH):
        rows = await session.execute(
            select(
                LegalHold.id,
                LegalHold.placed_at,
                LegalHold.case_reference,
                LegalHold.scope,
                MessageThread.id,
            ).where(
                MessageThread.id.in_(thread_ids[start : start + KEEPING_BATCH]),
                LegalHold.lifted_at.is_(None),
                covers(MessageThread.id, MessageThread.employer_id, MessageThread.candidate_id),
            )
        )
        for hold_id, placed_at, case_reference, scope, thread_id in rows:
            grouped.setdefault(hold_id, (placed_at, case_reference, scope, []))[3].append(thread_id)
    return [
        KeepingHold(hold_id, case, scope, tuple(sorted(threads)))
        for hold_id, (_, case, scope, threads) in sorted(
            grouped.items(), key=lambda item: (item[1][0], item[0])
        )
    ]


def _has_unpurged_messages() -> ColumnElement[bool]:
    return exists().where(Message.thread_id == MessageThread.id, Message.purged_at.is_(None))


async def plan_purge(
    session: AsyncSession, retention_days: int, *, now: datetime | None = None
) -> PurgePlan:
    """What a purge would do now: expired threads with content left, held ones set apart."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    plan = PurgePlan(cutoff=cutoff)
    async with read_transaction(session):
        rows = (
            await session.execute(
                select(MessageThread.id, thread_is_held())
                .where(_expired(cutoff), _has_unpurged_messages())
                .order_by(MessageThread.id)
            )
        ).all()
        for thread_id, held in rows:
            (plan.held_threads if held else plan.threads).append(thread_id)
        plan.holds = await holds_keeping(session, plan.held_threads)
        if plan.threads:
            plan.messages = (
                await session.scalar(
                    select(func.count())
                    .select_from(Message)
                    .where(Message.thread_id.in_(plan.threads), Message.purged_at.is_(None))
                )
            ) or 0
    return plan


async def purge_expired(
    session: AsyncSession,
    retention_days: int,
    *,
    actor: Who,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> PurgeResult:
    """Purges the planned threads, one transaction per thread; ``progress(1)`` after each.
    Then records the run: one ``retention.purged`` event by ``actor``."""
    async with read_transaction(session):
        actor = await permissions.authorize(session, actor, Capability.PURGE)
    released = await release_disposed_charges(session, actor=actor, now=now)
    plan = await plan_purge(session, retention_days, now=now)
    result = PurgeResult(
        cutoff=plan.cutoff, held_threads=list(plan.held_threads), released_holds=released
    )
    for thread_id in plan.threads:
        purged = await purge_thread(session, thread_id, cutoff=plan.cutoff, actor=actor)
        if purged is None:  # a hold placed since the plan
            result.held_threads.append(thread_id)
        elif purged:
            result.threads += 1
            result.messages += purged
        if progress is not None:
            progress(1)
    async with write_transaction(session):
        result.holds = await holds_keeping(session, result.held_threads)
        await record_event(
            session,
            actor=actor,
            action="retention.purged",
            subject_type="retention",
            subject_id=None,
            details={
                "retention_days": retention_days,
                "cutoff": plan.cutoff,
                "threads_purged": result.threads,
                "messages_purged": result.messages,
                "held_threads": [str(t) for t in result.held_threads],
                "holds": [hold.as_details() for hold in result.holds],
                "released_holds": [str(h) for h in result.released_holds],
            },
        )
    return result


async def release_disposed_charges(
    session: AsyncSession, *, actor: Who, now: datetime | None = None
) -> list[uuid.UUID]:
    """Lifts every standing EEOC charge hold whose final disposition date is before ``now``'s
    date (the hold keeps the records through that day); the ids lifted."""
    today = (now or utcnow()).date()
    async with read_transaction(session):
        due = list(
            await session.scalars(
                select(LegalHold)
                .where(
                    LegalHold.hold_type == "eeoc_charge",
                    LegalHold.lifted_at.is_(None),
                    LegalHold.final_disposition_on < today,
                )
                .order_by(LegalHold.placed_at, LegalHold.id)
            )
        )
    released = []
    for hold in due:
        disposed = hold.final_disposition_on.isoformat() if hold.final_disposition_on else "?"
        try:
            await lift_hold(
                session,
                hold.id,
                actor=actor,
                reason=(
                    f"released by retention: EEOC charge {hold.charge_number} reached final "
                    f"disposition on {disposed} (29 CFR 1602.14)"
                ),
            )
        except Conflict:  # lifted meanwhile
            continue
        released.append(hold.id)
    return released


async def purge_thread(
    session: AsyncSession, thread_id: uuid.UUID, *, cutoff: datetime, actor: Who
) -> int | None:
    """Purges one expired thread's messages; the count, or None when a hold now covers it."""
    async with write_transaction(session):
        actor = await permissions.authorize(session, actor, Capability.PURGE)
        thread = await session.get(
            MessageThread, thread_id, with_for_update=True, populate_existing=True
        )
        if thread is None:
            return 0
        if await holds_on_thread(session, thread):
            return None
        still_expired = await session.scalar(
            select(func.count())
            .select_from(MessageThread)
            .where(MessageThread.id == thread_id, _expired(cutoff))
        )
        if not still_expired:
            return 0
        messages = (
            await session.scalars(
                select(Message)
                .where(Message.thread_id == thread_id, Message.purged_at.is_(None))
                .order_by(Message.created_at, Message.id)
                .with_for_update()
            )
        ).all()
        now = utcnow()
        files = await attachments.stored_files_of(session, [message.id for message in messages])
        for message in messages:
            digest = message_digest(message)
            # the digests of its files stay in the tombstone; their bytes go after the commit
            evidence = [attachments.evidence(row) for row in files if row.message_id == message.id]
            message.subject = None
            message.body = ""
            message.attachments = []
            message.purged_at = now
            message.updated_at = now
            await record_event(
                session,
                actor=actor,
                action="message.purged",
                subject_type="message",
                subject_id=message.id,
                thread_id=thread_id,
                details={
                    "content_sha256": digest,
                    "reason": "retention",
                    "cutoff": cutoff,
                    **({"files": evidence} if evidence else {}),
                },
            )
        await attachments.mark_purged(session, files, now)
        await session.flush()
    await attachments.delete_stored(session_settings(session), files)
    return len(messages)
