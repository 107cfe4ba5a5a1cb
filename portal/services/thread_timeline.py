"""A whole thread as staff read it: one timeline of every message (removed, purged and deleted
ones marked), read receipts, reports, decisions, blocks between the two people, legal holds,
exports, staff reads and every other event of the thread's audit chain, with the chain verified.

Reading a thread's text is itself recorded (``thread.read_by_staff``, on the thread's chain,
the staff member its actor), at most once per staff member, thread and ``READ_WINDOW``: a page
reloaded all afternoon leaves one event an hour, not hundreds.

Rows that say more than their event are shown instead of it: a message instead of its
``message.sent``, its read receipt instead of ``message.read``, a report instead of
``message.flagged``, a hold instead of ``hold.placed``/``hold.lifted``. Every other event of
the chain is shown as it is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import event_fields, record_event
from portal.database import lock_row, read_transaction, write_transaction
from portal.errors import NotFound
from portal.models import (
    AuditChainHead,
    AuditEvent,
    FlagReport,
    Message,
    MessageThread,
    ModerationDecision,
    StaffUser,
    User,
)
from portal.models.base import utcnow
from portal.permissions import Capability, Who
from portal.services.attachments import FileLink, file_links
from portal.services.compliance.chain import GENESIS_HASH, chain_key, event_hash
from portal.services.compliance.holds import holds_on_thread

READ_ACTION: Final = "thread.read_by_staff"
READ_WINDOW: Final = timedelta(hours=1)
# Shown through the rows they record (see the module).
FOLDED_ACTIONS: Final = frozenset({"message.sent", "message.read", "message.flagged"})
HOLD_ACTIONS: Final = frozenset({"hold.placed", "hold.lifted"})
BLOCK_ACTIONS: Final = ("user.blocked", "user.unblocked")


@dataclass(frozen=True)
class Person:
    id: uuid.UUID | None
    name: str
    email: str | None = None
    kind: str = "user"  # user | staff | system | service


@dataclass(frozen=True)
class TimelineMessage:
    id: uuid.UUID
    sender: Person
    recipient: Person
    subject: str | None
    body: str
    body_format: str
    marks: tuple[str, ...]  # removed, purged, deleted, deleted by the employer, reported ...
    removed_reason: str | None
    reported: int
    files: tuple[FileLink, ...] = ()  # its uploaded files (links to the staff download)


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # message | read | report | decision | block | hold | export | staff_read | event
    summary: str
    actor: Person | None = None
    detail: str | None = None
    message: TimelineMessage | None = None
    message_id: uuid.UUID | None = None  # the message it is about (a report page link)
    position: int | None = None  # on the thread's chain


@dataclass(frozen=True)
class ChainStatus:
    events: int
    head_position: int
    head_hash: str
    intact: bool
    problem: str | None


@dataclass(frozen=True)
class ThreadTimeline:
    id: uuid.UUID
    subject: str | None
    employer: Person
    candidate: Person
    created_at: datetime
    is_deleted: bool
    deleted_by_employer_at: datetime | None
    deleted_by_candidate_at: datetime | None
    messages: int
    entries: list[Entry]
    chain: ChainStatus
    staff_reads: list[Entry] = field(default_factory=list)


def verify_chain(events: list[AuditEvent], head: AuditChainHead | None) -> ChainStatus:
    """The chain's events (in position order) recomputed: contiguous, linked, each hash over its
    content, and ending where the head row says."""
    expected, prev = 0, GENESIS_HASH
    for event in events:
        where = f"event at position {expected} ({event.action})"
        problem = None
        if event.position != expected:
            problem = f"position {expected} is missing"
        elif event.prev_hash != prev:
            problem = f"{where}: prev_hash does not match the event before it"
        elif event_hash(prev, event_fields(event)) != event.hash:
            problem = f"{where}: its hash does not match its content (altered)"
        if problem:
            return ChainStatus(len(events), expected - 1, prev, False, problem)
        prev, expected = event.hash, expected + 1
    if events and head is None:
        return ChainStatus(len(events), expected - 1, prev, False, "the chain has no head row")
    if head is not None and (head.position, head.hash) != (expected - 1, prev):
        return ChainStatus(
            len(events),
            expected - 1,
            prev,
            False,
            f"the head says position {head.position}, the events end at {expected - 1}",
        )
    return ChainStatus(len(events), expected - 1, prev, True, None)


async def recently_read(
    session: AsyncSession, thread_id: uuid.UUID, staff_id: uuid.UUID, *, now: datetime
) -> AuditEvent | None:
    """This staff member's read of the thread within ``READ_WINDOW`` before ``now``, if any."""
    result: AuditEvent | None = await session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.thread_id == thread_id,
            AuditEvent.occurred_at > now - READ_WINDOW,
            AuditEvent.action == READ_ACTION,
            AuditEvent.actor_type == "staff",
            AuditEvent.actor_id == staff_id,
        )
        .order_by(AuditEvent.occurred_at.desc())
        .limit(1)
    )
    return result


async def has_read(
    session: AsyncSession, thread_id: uuid.UUID, staff: StaffUser, *, now: datetime | None = None
) -> bool:
    """Whether ``staff`` opened the thread's text within ``READ_WINDOW`` (so it is shown)."""
    async with read_transaction(session):
        return await recently_read(session, thread_id, staff.id, now=now or utcnow()) is not None


async def record_staff_read(
    session: AsyncSession, thread_id: uuid.UUID, *, actor: Who, now: datetime | None = None
) -> bool:
    """Records that ``actor`` (any staff role) opened the thread's text, unless they did within
    ``READ_WINDOW``; whether an event was written. NotFound for an unknown thread. The thread's
    row is locked first, so two tabs opening it at once record one read."""
    now = now or utcnow()
    async with write_transaction(session):
        audit_actor = await permissions.authorize(session, actor, Capability.READ_QUEUE)
        await lock_row(session, MessageThread, thread_id, what="thread", key_share=True)
        assert audit_actor.id is not None  # READ_QUEUE is granted to staff only
        if await recently_read(session, thread_id, audit_actor.id, now=now) is not None:
            return False
        await record_event(
            session,
            actor=audit_actor,
            action=READ_ACTION,
            subject_type="thread",
            subject_id=thread_id,
            thread_id=thread_id,
            details={"window_hours": int(READ_WINDOW.total_seconds() // 3600)},
            occurred_at=now,
        )
    return True


def _label(action: str) -> str:
    return action.replace("_", " ").replace(".", ": ", 1)


async def thread_timeline(session: AsyncSession, thread_id: uuid.UUID) -> ThreadTimeline:
    """The thread's timeline, oldest first; NotFound if there is no such thread."""
    async with read_transaction(session):
        thread = await session.get(MessageThread, thread_id)
        if thread is None:
            raise NotFound(f"thread {thread_id} does not exist")
        key = chain_key(thread_id)
        messages = list(
            await session.scalars(
                select(Message)
                .where(Message.thread_id == thread_id)
                .order_by(Message.created_at, Message.id)
            )
        )
        events = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.chain_key == key).order_by(AuditEvent.position)
            )
        )
        head = await session.get(AuditChainHead, key)
        reports = list(
            await session.scalars(
                select(FlagReport)
                .join(Message, Message.id == FlagReport.message_id)
                .where(Message.thread_id == thread_id)
                .order_by(FlagReport.created_at, FlagReport.id)
            )
        )
        decisions = list(
            await session.scalars(
                select(ModerationDecision)
                .where(ModerationDecision.thread_id == thread_id)
                .order_by(ModerationDecision.created_at, ModerationDecision.id)
            )
        )
        holds = await holds_on_thread(session, thread, include_lifted=True)
        parties = (thread.employer_id, thread.candidate_id)
        outside = list(
            await session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.chain_key != key,
                    or_(
                        and_(
                            AuditEvent.action == "report.exported",
                            AuditEvent.subject_type == "thread",
                            AuditEvent.subject_id == thread_id,
                        ),
                        and_(
                            AuditEvent.action.in_(BLOCK_ACTIONS),
                            AuditEvent.actor_type == "user",
                            AuditEvent.actor_id.in_(parties),
                            AuditEvent.subject_type == "user",
                            AuditEvent.subject_id.in_(parties),
                        ),
                    ),
                )
                .order_by(AuditEvent.occurred_at, AuditEvent.id)
            )
        )
        user_ids = {*parties, *(r.reporter_id for r in reports)}
        staff_ids = {
            e.actor_id for e in (*events, *outside) if e.actor_type == "staff" and e.actor_id
        }
        staff_ids |= {d.decided_by_id for d in decisions if d.decided_by_id}
        staff_ids |= {
            h.placed_by_id for h in holds if h.placed_by_type == "staff" and h.placed_by_id
        }
        staff_ids |= {
            h.lifted_by_id for h in holds if h.lifted_by_type == "staff" and h.lifted_by_id
        }
        people = {
            u.id: Person(u.id, u.display_name, u.email)
            for u in await session.scalars(select(User).where(User.id.in_(user_ids)))
        }
        staff = {
            s.id: Person(s.id, s.display_name or s.email, s.email, "staff")
            for s in (
                await session.scalars(select(StaffUser).where(StaffUser.id.in_(staff_ids)))
                if staff_ids
                else []
            )
        }

    def who(kind: str | None, person_id: uuid.UUID | None) -> Person:
        if kind == "staff" and person_id is not None:
            return staff.get(person_id, Person(person_id, f"staff {person_id}", kind="staff"))
        if kind == "user" and person_id is not None:
            return people.get(person_id, Person(person_id, f"user {person_id}"))
        return Person(person_id, kind or "unknown", kind=kind or "system")

    employer = who("user", thread.employer_id)
    candidate = who("user", thread.candidate_id)
    reported: dict[uuid.UUID, int] = {}
    for r in reports:
        reported[r.message_id] = reported.get(r.message_id, 0) + 1
    entries: list[Entry] = []
    for m in messages:
        marks: list[str] = []
        if m.is_removed:
            marks.append("removed")
        if m.purged_at is not None:
            marks.append("purged")
        if m.is_deleted:
            marks.append("deleted")
        for role, at in (
            ("employer", thread.deleted_by_employer_at),
            ("candidate", thread.deleted_by_candidate_at),
        ):
            if at is not None and m.created_at <= at:
                marks.append(f"deleted by the {role}")
        if m.id in reported:
            marks.append("reported")
        sender, recipient = who("user", m.sender_id), who("user", m.recipient_id)
        entries.append(
            Entry(
                at=m.created_at,
                kind="message",
                summary=f"{sender.name} wrote",
                actor=sender,
                message=TimelineMessage(
                    id=m.id,
                    sender=sender,
                    recipient=recipient,
                    subject=m.subject,
                    body=m.body,
                    body_format=m.body_format,
                    marks=tuple(marks),
                    removed_reason=m.removed_reason,
                    reported=reported.get(m.id, 0),
                    files=file_links(m.attachments),
                ),
                message_id=m.id,
            )
        )
        if m.read_at is not None:
            entries.append(
                Entry(
                    at=m.read_at,
                    kind="read",
                    summary=f"{recipient.name} read {sender.name}'s message",
                    actor=recipient,
                    message_id=m.id,
                )
            )
    for r in reports:
        reporter = who("user", r.reporter_id)
        entries.append(
            Entry(
                at=r.created_at,
                kind="report",
                summary=f"{reporter.name} reported a message: {r.reason.replace('_', ' ')}",
                actor=reporter,
                detail=r.note,
                message_id=r.message_id,
            )
        )
    for d in decisions:
        policy = f" under {d.policy_title}" if d.policy_title else ""
        entries.append(
            Entry(
                at=d.created_at,
                kind="decision",
                summary=f"Decision: {d.kind.replace('_', ' ')}{policy}",
                actor=who("staff", d.decided_by_id) if d.decided_by_id else who("system", None),
                detail=d.explanation,
                message_id=d.message_id,
            )
        )
    for h in holds:
        entries.append(
            Entry(
                at=h.placed_at,
                kind="hold",
                summary=f"Legal hold placed ({h.scope}): {h.case_reference}",
                actor=who(h.placed_by_type, h.placed_by_id),
                detail=h.reason,
            )
        )
        if h.lifted_at is not None:
            entries.append(
                Entry(
                    at=h.lifted_at,
                    kind="hold",
                    summary=f"Legal hold lifted: {h.case_reference}",
                    actor=who(h.lifted_by_type, h.lifted_by_id),
                    detail=h.lifted_reason,
                )
            )
    for e in outside:
        actor = who(e.actor_type, e.actor_id)
        if e.action == "report.exported":
            fmt = str((e.details or {}).get("format", "")).upper()
            entries.append(Entry(e.occurred_at, "export", f"Audit report exported ({fmt})", actor))
        else:
            target = who("user", e.subject_id)
            verb = "blocked" if e.action == "user.blocked" else "unblocked"
            reason = (e.details or {}).get("reason")
            entries.append(
                Entry(
                    e.occurred_at,
                    "block",
                    f"{actor.name} {verb} {target.name}",
                    actor,
                    detail=str(reason) if reason else None,
                )
            )
    staff_reads: list[Entry] = []
    for e in events:
        if e.action in FOLDED_ACTIONS or e.action in HOLD_ACTIONS:
            continue
        actor = who(e.actor_type, e.actor_id)
        message_id = e.subject_id if e.subject_type == "message" else None
        if e.action == READ_ACTION:
            entry = Entry(
                e.occurred_at, "staff_read", "Opened by staff", actor, position=e.position
            )
            staff_reads.append(entry)
        else:
            details = e.details or {}
            reason = details.get("reason") or details.get("note")
            entry = Entry(
                e.occurred_at,
                "event",
                _label(e.action),
                actor,
                detail=str(reason) if reason else None,
                message_id=message_id,
                position=e.position,
            )
        entries.append(entry)
    entries.sort(key=lambda entry: entry.at)
    return ThreadTimeline(
        id=thread.id,
        subject=thread.subject,
        employer=employer,
        candidate=candidate,
        created_at=thread.created_at,
        is_deleted=thread.is_deleted,
        deleted_by_employer_at=thread.deleted_by_employer_at,
        deleted_by_candidate_at=thread.deleted_by_candidate_at,
        messages=len(messages),
        entries=entries,
        chain=verify_chain(events, head),
        staff_reads=staff_reads,
    )
