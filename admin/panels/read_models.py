"""Read-only mappings the panels list: flagged messages (a message with its reports rolled up),
the blocklist and rate-limit violations with people's names and computed figures.

They live in a registry of their own, outside ``Base.metadata``, so migrations and the schema
check never see them; nothing writes through them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from sqlalchemy import ColumnElement, SQLColumnExpression, case, distinct, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, aliased, query_expression

from portal.models import (
    AuditEvent,
    FlagReport,
    Message,
    MessageBlock,
    MessageThread,
    RateLimitViolation,
    StaffUser,
    User,
)
from portal.models.base import utcnow
from portal.services.moderation_queue import item_status_of_rank, item_status_rank
from portal.services.moderation_types import UNDECIDED

RECENT_BLOCK_DAYS: Final = 30


# The computed columns of a panel, each built anew for each query (``PanelView.expressions``).
Expressions: TypeAlias = Mapping[str, Callable[[], SQLColumnExpression[Any]]]


class ReadModel(DeclarativeBase):
    pass


def _name_of(user_id: SQLColumnExpression[uuid.UUID]) -> ColumnElement[str]:
    named = aliased(User)
    return select(named.display_name).where(named.id == user_id).scalar_subquery()


_reasons = select(FlagReport.message_id, FlagReport.reason).distinct().subquery("reasons")
_reason_list = (
    select(
        _reasons.c.message_id,
        func.aggregate_strings(_reasons.c.reason, ", ").label("reasons"),
    )
    .group_by(_reasons.c.message_id)
    .subquery("reason_list")
)
_reports = (
    select(
        FlagReport.message_id,
        func.count().label("report_count"),
        func.sum(case((FlagReport.status.in_(UNDECIDED), 1), else_=0)).label("open_reports"),
        func.max(item_status_rank(FlagReport.status)).label("status_rank"),
        func.min(FlagReport.created_at).label("first_reported_at"),
        func.max(FlagReport.created_at).label("last_reported_at"),
    )
    .group_by(FlagReport.message_id)
    .subquery("report_counts")
)
_sender = aliased(User)
_flagged = (
    select(
        Message.id,
        Message.thread_id,
        Message.sender_id,
        _sender.display_name.label("sender_name"),
        Message.recipient_id,
        Message.body,
        Message.created_at.label("sent_at"),
        Message.is_removed,
        _reports.c.report_count,
        _reports.c.open_reports,
        _reason_list.c.reasons,
        item_status_of_rank(_reports.c.status_rank).label("status"),
        _reports.c.first_reported_at,
        _reports.c.last_reported_at,
    )
    .join(_reports, _reports.c.message_id == Message.id)
    .join(_reason_list, _reason_list.c.message_id == Message.id)
    .join(_sender, _sender.id == Message.sender_id)
    .subquery("flagged_messages")
)


class FlaggedMessage(ReadModel):
    """A reported message with its reports rolled up (one row per message)."""

    __table__ = _flagged
    __mapper_args__ = {"primary_key": [_flagged.c.id]}  # noqa: RUF012

    id: Mapped[uuid.UUID]
    thread_id: Mapped[uuid.UUID]
    sender_id: Mapped[uuid.UUID]
    sender_name: Mapped[str]
    recipient_id: Mapped[uuid.UUID]
    body: Mapped[str]
    sent_at: Mapped[datetime]
    is_removed: Mapped[bool]
    report_count: Mapped[int]
    open_reports: Mapped[int]
    reasons: Mapped[str]
    status: Mapped[str]
    first_reported_at: Mapped[datetime]
    last_reported_at: Mapped[datetime]


class BlockEntry(ReadModel):
    """A row of the blocklist with both people's names and how many distinct people blocked the
    blocked user in the last RECENT_BLOCK_DAYS days."""

    __table__ = MessageBlock.__table__
    if TYPE_CHECKING:  # the table's columns, as MessageBlock types them
        id: Mapped[uuid.UUID]
        blocker_id: Mapped[uuid.UUID]
        blocked_id: Mapped[uuid.UUID]
        reason: Mapped[str]
        note: Mapped[str | None]
        created_at: Mapped[datetime]

    blocker_name: Mapped[str | None] = query_expression()
    blocked_name: Mapped[str | None] = query_expression()
    blocked_by_recent: Mapped[int | None] = query_expression()


def recently_blocked_by() -> ColumnElement[int]:
    recent = MessageBlock.__table__.alias("recent")
    since = utcnow() - timedelta(days=RECENT_BLOCK_DAYS)
    return (
        select(func.count(distinct(recent.c.blocker_id)))
        .where(recent.c.blocked_id == BlockEntry.blocked_id, recent.c.created_at >= since)
        .scalar_subquery()
    )


BLOCK_EXPRESSIONS: Final[Expressions] = {
    "blocker_name": lambda: _name_of(BlockEntry.blocker_id),
    "blocked_name": lambda: _name_of(BlockEntry.blocked_id),
    "blocked_by_recent": recently_blocked_by,
}


class ViolationEntry(ReadModel):
    """A rate-limit violation with the user's and the reviewer's names."""

    __table__ = RateLimitViolation.__table__
    if TYPE_CHECKING:  # the table's columns, as RateLimitViolation types them
        id: Mapped[uuid.UUID]
        user_id: Mapped[uuid.UUID]
        first_attempt_at: Mapped[datetime]
        last_attempt_at: Mapped[datetime]
        attempts: Mapped[int]
        count_in_window: Mapped[int]
        limit: Mapped[int]
        window_seconds: Mapped[int]
        status: Mapped[str]
        reviewed_by_id: Mapped[uuid.UUID | None]
        reviewed_at: Mapped[datetime | None]

    user_name: Mapped[str | None] = query_expression()
    reviewer_name: Mapped[str | None] = query_expression()


def _reviewer_name() -> ColumnElement[str]:
    reviewer = aliased(StaffUser)
    return (
        select(func.coalesce(reviewer.display_name, reviewer.email))
        .where(reviewer.id == ViolationEntry.reviewed_by_id)
        .scalar_subquery()
    )


VIOLATION_EXPRESSIONS: Final[Expressions] = {
    "user_name": lambda: _name_of(ViolationEntry.user_id),
    "reviewer_name": _reviewer_name,
}


class ThreadEntry(ReadModel):
    """A thread with both participants' names."""

    __table__ = MessageThread.__table__
    if TYPE_CHECKING:  # the table's columns, as MessageThread types them
        id: Mapped[uuid.UUID]
        application_id: Mapped[uuid.UUID | None]
        employer_id: Mapped[uuid.UUID]
        candidate_id: Mapped[uuid.UUID]
        subject: Mapped[str | None]
        last_message_at: Mapped[datetime | None]
        unread_count_employer: Mapped[int]
        unread_count_candidate: Mapped[int]
        archived_by_employer: Mapped[bool]
        archived_by_candidate: Mapped[bool]
        deleted_by_employer_at: Mapped[datetime | None]
        deleted_by_candidate_at: Mapped[datetime | None]
        is_deleted: Mapped[bool]
        created_at: Mapped[datetime]

    employer_name: Mapped[str | None] = query_expression()
    candidate_name: Mapped[str | None] = query_expression()
    audit_report: Mapped[uuid.UUID | None] = query_expression()  # the id, for the report link


THREAD_EXPRESSIONS: Final[Expressions] = {
    "employer_name": lambda: _name_of(ThreadEntry.employer_id),
    "candidate_name": lambda: _name_of(ThreadEntry.candidate_id),
    "audit_report": lambda: ThreadEntry.id,
}


class AuditEntry(ReadModel):
    """An audit event with the names and emails of the staff member or user who acted and of
    the one acted on (as they are now; the event keeps the ids)."""

    __table__ = AuditEvent.__table__
    if TYPE_CHECKING:  # the table's columns, as AuditEvent types them
        id: Mapped[uuid.UUID]
        occurred_at: Mapped[datetime]
        actor_type: Mapped[str]
        actor_id: Mapped[uuid.UUID | None]
        action: Mapped[str]
        subject_type: Mapped[str]
        subject_id: Mapped[uuid.UUID | None]
        thread_id: Mapped[uuid.UUID | None]
        details: Mapped[dict[str, Any]]
        chain_key: Mapped[str]
        position: Mapped[int]
        prev_hash: Mapped[str]
        hash: Mapped[str]

    actor_name: Mapped[str | None] = query_expression()
    actor_email: Mapped[str | None] = query_expression()
    subject_name: Mapped[str | None] = query_expression()
    subject_email: Mapped[str | None] = query_expression()


def _person(
    kind: SQLColumnExpression[str], person_id: SQLColumnExpression[Any], email: bool
) -> Any:
    """The name (or email) of the staff member or user ``kind``/``person_id`` names, else null."""
    staff, user = aliased(StaffUser), aliased(User)
    staff_value = staff.email if email else func.coalesce(staff.display_name, staff.email)
    user_value = user.email if email else user.display_name
    return case(
        (kind == "staff", select(staff_value).where(staff.id == person_id).scalar_subquery()),
        (kind == "user", select(user_value).where(user.id == person_id).scalar_subquery()),
        else_=None,
    )


AUDIT_EXPRESSIONS: Final[Expressions] = {
    "actor_name": lambda: _person(AuditEntry.actor_type, AuditEntry.actor_id, email=False),
    "actor_email": lambda: _person(AuditEntry.actor_type, AuditEntry.actor_id, email=True),
    "subject_name": lambda: _person(AuditEntry.subject_type, AuditEntry.subject_id, email=False),
    "subject_email": lambda: _person(AuditEntry.subject_type, AuditEntry.subject_id, email=True),
}
