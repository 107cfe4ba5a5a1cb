"""What the compliance pages show: a thread at a glance, a user's threads, the legal holds with
the names of who placed and lifted them, and who exported a thread's report. Read-only."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from portal.database import read_transaction
from portal.errors import NotFound
from portal.models import (
    Application,
    AuditEvent,
    LegalHold,
    Message,
    MessageThread,
    StaffUser,
    User,
)
from portal.services.compliance.holds import (
    hold_basis,
    holds_on_thread,
    list_holds,
    thread_is_held,
)

USER_THREADS_LIMIT = 200
EXPORTS_SHOWN = 20


@dataclass(frozen=True)
class HoldView:
    id: uuid.UUID
    scope: str  # thread | user | requisition
    thread_id: uuid.UUID | None
    user_id: uuid.UUID | None
    user_name: str | None
    employer_id: uuid.UUID | None
    employer_name: str | None
    requisition_id: str | None
    reason: str
    case_reference: str
    placed_at: datetime
    placed_by: str
    lifted_at: datetime | None
    lifted_by: str | None
    lifted_reason: str | None
    # The hold's basis: {"type": "litigation"} or the EEOC charge (hold_basis), and the
    # charging party's name for an EEOC charge hold.
    basis: dict[str, object] = field(default_factory=dict)
    charging_party_name: str | None = None

    @property
    def active(self) -> bool:
        return self.lifted_at is None

    @property
    def is_charge(self) -> bool:
        return self.basis.get("type") == "eeoc_charge"


@dataclass(frozen=True)
class ExportRecord:
    occurred_at: datetime
    exported_by: str
    format: str
    head_hash: str
    head_position: int | None


@dataclass(frozen=True)
class ThreadSummary:
    id: uuid.UUID
    subject: str | None
    employer_id: uuid.UUID
    employer_name: str
    candidate_id: uuid.UUID
    candidate_name: str
    job_title: str | None
    requisition_id: str | None
    created_at: datetime
    last_message_at: datetime | None
    messages: int
    removed: int
    deleted_by_employer_at: datetime | None
    deleted_by_candidate_at: datetime | None
    holds: list[HoldView]  # covering the thread, lifted ones included, oldest first
    exports: list[ExportRecord]  # newest first


@dataclass(frozen=True)
class UserThread:
    id: uuid.UUID
    subject: str | None
    counterpart_id: uuid.UUID
    counterpart_name: str
    last_message_at: datetime | None
    messages: int
    held: bool


async def _actor_names(
    session: AsyncSession, actors: Iterable[tuple[str | None, uuid.UUID | None]]
) -> dict[tuple[str | None, uuid.UUID | None], str]:
    """``(actor_type, actor_id)`` to a readable name: a staff member's name, or the actor type
    ("system" is the operator at the console)."""
    pairs = set(actors)
    staff_ids = {actor_id for kind, actor_id in pairs if kind == "staff" and actor_id}
    staff: dict[uuid.UUID, str] = {}
    if staff_ids:
        rows = await session.execute(
            select(StaffUser.id, StaffUser.display_name, StaffUser.email).where(
                StaffUser.id.in_(staff_ids)
            )
        )
        staff = {row.id: row.display_name or row.email for row in rows}
    names: dict[tuple[str | None, uuid.UUID | None], str] = {}
    for kind, actor_id in pairs:
        if kind == "staff" and actor_id is not None:
            names[(kind, actor_id)] = staff.get(actor_id, f"staff {actor_id}")
        else:
            names[(kind, actor_id)] = kind or "unknown"
    return names


async def _hold_views(session: AsyncSession, holds: Sequence[LegalHold]) -> list[HoldView]:
    people_ids = (
        {h.user_id for h in holds if h.user_id}
        | {h.employer_id for h in holds if h.employer_id}
        | {h.charging_party_id for h in holds if h.charging_party_id}
    )
    people: dict[uuid.UUID, str] = {}
    if people_ids:
        rows = await session.execute(
            select(User.id, User.display_name).where(User.id.in_(people_ids))
        )
        people = {row.id: row.display_name for row in rows}
    names = await _actor_names(
        session,
        [(h.placed_by_type, h.placed_by_id) for h in holds]
        + [(h.lifted_by_type, h.lifted_by_id) for h in holds if h.lifted_at is not None],
    )
    return [
        HoldView(
            id=h.id,
            scope=h.scope,
            thread_id=h.thread_id,
            user_id=h.user_id,
            user_name=people.get(h.user_id) if h.user_id else None,
            employer_id=h.employer_id,
            employer_name=people.get(h.employer_id) if h.employer_id else None,
            requisition_id=h.requisition_id,
            reason=h.reason,
            case_reference=h.case_reference,
            placed_at=h.placed_at,
            placed_by=names[(h.placed_by_type, h.placed_by_id)],
            lifted_at=h.lifted_at,
            lifted_by=names[(h.lifted_by_type, h.lifted_by_id)] if h.lifted_at else None,
            lifted_reason=h.lifted_reason,
            basis=hold_basis(h),
            charging_party_name=people.get(h.charging_party_id) if h.charging_party_id else None,
        )
        for h in holds
    ]


async def hold_views(session: AsyncSession) -> list[HoldView]:
    """Every legal hold, standing ones first, each group newest first."""
    holds = await list_holds(session, include_lifted=True)
    async with read_transaction(session):
        views = await _hold_views(session, holds)
    views.sort(key=lambda h: h.placed_at, reverse=True)
    views.sort(key=lambda h: not h.active)
    return views


async def thread_summary(session: AsyncSession, thread_id: uuid.UUID) -> ThreadSummary:
    """One thread for the compliance page; NotFound if unknown. Deleted threads included."""
    employer = aliased(User, name="employer")
    candidate = aliased(User, name="candidate")

    def count(*where: ColumnElement[bool]) -> Any:
        return (
            select(func.count(Message.id))
            .where(Message.thread_id == MessageThread.id, *where)
            .correlate(MessageThread)
            .scalar_subquery()
        )

    async with read_transaction(session):
        row = (
            await session.execute(
                select(
                    MessageThread,
                    employer.display_name,
                    candidate.display_name,
                    Application.job_title,
                    Application.requisition_id,
                    count(),
                    count(Message.is_removed.is_(True)),
                )
                .join(employer, employer.id == MessageThread.employer_id)
                .join(candidate, candidate.id == MessageThread.candidate_id)
                .outerjoin(Application, Application.id == MessageThread.application_id)
                .where(MessageThread.id == thread_id)
            )
        ).one_or_none()
        if row is None:
            raise NotFound(f"thread {thread_id} does not exist")
        thread = row[0]
        holds = await _hold_views(
            session, await holds_on_thread(session, thread, include_lifted=True)
        )
        events = list(
            await session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.subject_type == "thread",
                    AuditEvent.subject_id == thread_id,
                    AuditEvent.action == "report.exported",
                )
                .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
                .limit(EXPORTS_SHOWN)
            )
        )
        names = await _actor_names(session, [(e.actor_type, e.actor_id) for e in events])
    return ThreadSummary(
        id=thread.id,
        subject=thread.subject,
        employer_id=thread.employer_id,
        employer_name=row[1],
        candidate_id=thread.candidate_id,
        candidate_name=row[2],
        job_title=row[3],
        requisition_id=row[4],
        created_at=thread.created_at,
        last_message_at=thread.last_message_at,
        messages=row[5] or 0,
        removed=row[6] or 0,
        deleted_by_employer_at=thread.deleted_by_employer_at,
        deleted_by_candidate_at=thread.deleted_by_candidate_at,
        holds=holds,
        exports=[_export_record(e, names) for e in events],
    )


def _export_record(event: AuditEvent, names: dict[Any, str]) -> ExportRecord:
    details = event.details or {}
    position = details.get("head_position")
    return ExportRecord(
        occurred_at=event.occurred_at,
        exported_by=names[(event.actor_type, event.actor_id)],
        format=str(details.get("format", "")),
        head_hash=str(details.get("head_hash", "")),
        head_position=position if isinstance(position, int) else None,
    )


async def threads_of_user(
    session: AsyncSession, user_id: uuid.UUID, *, limit: int = USER_THREADS_LIMIT
) -> list[UserThread]:
    """The user's threads (deleted ones too), latest activity first, with whether a standing
    hold covers each; at most ``limit``."""
    counterpart = aliased(User, name="counterpart")
    messages = (
        select(func.count(Message.id))
        .where(Message.thread_id == MessageThread.id)
        .correlate(MessageThread)
        .scalar_subquery()
    )
    other = case(
        (MessageThread.employer_id == user_id, MessageThread.candidate_id),
        else_=MessageThread.employer_id,
    )
    query = (
        select(
            MessageThread.id,
            MessageThread.subject,
            counterpart.id,
            counterpart.display_name,
            MessageThread.last_message_at,
            messages,
            thread_is_held(),
        )
        .join(counterpart, counterpart.id == other)
        .where(or_(MessageThread.employer_id == user_id, MessageThread.candidate_id == user_id))
        .order_by(
            MessageThread.last_message_at.desc().nulls_last(),
            MessageThread.created_at.desc(),
            MessageThread.id,
        )
        .limit(limit)
    )
    async with read_transaction(session):
        rows = (await session.execute(query)).all()
    return [
        UserThread(
            id=r[0],
            subject=r[1],
            counterpart_id=r[2],
            counterpart_name=r[3],
            last_message_at=r[4],
            messages=r[5] or 0,
            held=bool(r[6]),
        )
        for r in rows
    ]
