"""The moderation queue and the decisions staff take on reported messages.

One queue item per reported message, collapsing all of its reports. A decision acts on all of
the item's actionable reports together, records one audit event naming the staff member in the
same transaction, and happens once: the message row is locked first (PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` serialises writers anyway), so of two concurrent decisions the second sees
the first's result and gets :class:`AlreadyDecided`.

Stages of a report: ``open`` → (``claimed``) → ``dismissed`` | ``actioned`` | ``escalated``;
``escalated`` → ``dismissed`` | ``actioned`` (decided by compliance or an admin).

Roles:
- moderators decide open and claimed items; an escalated item is already decided for them;
- compliance officers decide only escalated items (``Forbidden`` on open ones) and add notes;
- admins do everything, and decide escalated items too.

Deciding an item claimed by another moderator is allowed: a claim says who is looking at it, it
is not a lock; the decided-once rule is what prevents double decisions.
"""

from __future__ import annotations

import html
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    distinct,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from portal.audit import Actor, record_event
from portal.database import is_sqlite
from portal.errors import AlreadyDecided, Conflict, Forbidden, InvalidInput, NotFound
from portal.models import (
    AuditEvent,
    EmailOutbox,
    FlagReport,
    Message,
    MessageBlock,
    MessageThread,
    ModeratorNote,
    RateLimitViolation,
    StaffUser,
    User,
)
from portal.models.base import new_id, utcnow
from portal.models.moderation import FLAG_REASONS
from portal.services import validation
from portal.services.refusals import refusable
from portal.services.staff import require_role, staff_name
from portal.services.suspensions import (
    MAX_REASON_LENGTH,
    SUSPENSION_DAYS,
    apply_suspension,
    lift_suspension,
    lock_user,
    required_text,
    suspend_user,
    suspended_now,
    suspension_days,
)

__all__ = [
    "BULK_ACTIONS",
    "QUEUE_ORDERS",
    "QUEUE_STATUSES",
    "SEVERITY",
    "SUSPENSION_DAYS",
    "AlreadyDecided",
    "BulkResult",
    "DecisionRecord",
    "Forbidden",
    "NoteView",
    "Overview",
    "QueueCounts",
    "QueueItem",
    "QueuePage",
    "ReportEntry",
    "ReportView",
    "SenderSummary",
    "SkippedItem",
    "ThreadMessage",
    "UserCounts",
    "UserHistory",
    "add_note",
    "bulk_decide",
    "claim",
    "dismiss",
    "escalate",
    "lift_suspension",
    "next_item",
    "overview",
    "queue_counts",
    "queue_page",
    "remove_message",
    "report_view",
    "suspend_sender",
    "suspend_user",
    "unclaim",
    "user_history",
    "warn_sender",
]

QUEUE_STATUSES: Final = ("open", "mine", "escalated", "decided")
QUEUE_ORDERS: Final = ("priority", "age")
BULK_ACTIONS: Final = ("dismiss", "remove", "escalate")
# Severity of a report reason, for the queue's priority.
SEVERITY: Final = {
    "harassment": 3,
    "discrimination": 3,
    "scam": 3,
    "inappropriate_content": 2,
    "spam": 1,
    "other": 1,
}
MAX_NOTE_LENGTH: Final = 4000
EXCERPT_LENGTH: Final = 200


@dataclass(frozen=True)
class QueueItem:
    message_id: uuid.UUID
    thread_id: uuid.UUID
    excerpt: str  # plain text, at most EXCERPT_LENGTH characters; escape it when rendering
    sender_id: uuid.UUID
    sender_name: str
    recipient_id: uuid.UUID
    recipient_name: str
    reasons: dict[str, int]  # reason -> number of reports, most frequent first
    reporter_count: int
    reporter_names: list[str]
    first_reported_at: datetime
    last_reported_at: datetime
    status: str  # open | claimed | escalated | dismissed | actioned
    claimed_by_id: uuid.UUID | None
    claimed_by_name: str | None
    priority: int
    decided_by_name: str | None
    decision: str | None  # dismissed | removed | warned | suspended | escalated
    message_removed: bool = False


@dataclass(frozen=True)
class QueuePage:
    items: list[QueueItem]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class QueueCounts:
    open: int
    mine: int
    escalated: int


@dataclass(frozen=True)
class ThreadMessage:
    id: uuid.UUID
    sender_id: uuid.UUID
    sender_name: str
    body: str  # as stored (plain, or sanitised html); escape it when rendering
    body_format: str
    created_at: datetime
    is_removed: bool
    is_reported: bool  # the message this view is about


@dataclass(frozen=True)
class ReportEntry:
    id: uuid.UUID
    reporter_id: uuid.UUID
    reporter_name: str
    reason: str
    note: str | None
    reported_at: datetime
    status: str


@dataclass(frozen=True)
class DecisionRecord:
    """One moderation event from the audit log, with the staff member's name."""

    occurred_at: datetime
    action: str  # the audit action, e.g. moderation.dismissed, user.suspended
    decision: str  # short word: claimed, dismissed, removed, warned, suspended, lifted, ...
    staff_id: uuid.UUID | None
    staff_name: str | None
    message_id: uuid.UUID | None
    reason: str | None
    details: dict[str, object]


@dataclass(frozen=True)
class NoteView:
    id: uuid.UUID
    author_name: str
    body: str
    created_at: datetime
    message_id: uuid.UUID | None
    user_id: uuid.UUID | None


@dataclass(frozen=True)
class SenderSummary:
    user_id: uuid.UUID
    display_name: str
    role: str
    sent: int
    reports_against: int
    removals: int
    suspensions: int
    violations: int
    suspended: bool
    suspended_until: datetime | None


@dataclass(frozen=True)
class ReportView:
    message: ThreadMessage
    thread_id: uuid.UUID
    thread_subject: str | None
    recipient_id: uuid.UUID
    recipient_name: str
    before: list[ThreadMessage]  # oldest first
    after: list[ThreadMessage]  # oldest first
    reports: list[ReportEntry]  # every report on the message, oldest first
    status: str  # of the item: open | claimed | escalated | dismissed | actioned
    claimed_by_id: uuid.UUID | None
    claimed_by_name: str | None
    decided_by_name: str | None
    decision: str | None
    decided_at: datetime | None
    sender: SenderSummary
    earlier_decisions: list[DecisionRecord]  # on this sender, newest first
    notes: list[NoteView]  # on this message, newest first


@dataclass(frozen=True)
class SkippedItem:
    message_id: uuid.UUID
    decided_by_name: str | None
    decision: str | None  # None with decided_by_name None: unknown message or not allowed
    reason: str = ""


@dataclass(frozen=True)
class BulkResult:
    decided: list[uuid.UUID] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)


@dataclass(frozen=True)
class UserCounts:
    sent: int
    reports_against: int
    reports_made: int
    blocks_against: int
    violations: int
    removals: int
    suspensions: int


@dataclass(frozen=True)
class UserHistory:
    user_id: uuid.UUID
    email: str
    display_name: str
    role: str
    created_at: datetime
    last_active_at: datetime | None
    suspended: bool  # in force now (a suspension whose end has passed is not)
    suspended_at: datetime | None
    suspended_until: datetime | None  # None while suspended: indefinite
    suspended_reason: str | None
    counts: UserCounts
    timeline: list[DecisionRecord]  # every moderation decision about them, newest first
    notes: list[NoteView]  # notes on them and on their messages, newest first


@dataclass(frozen=True)
class Overview:
    open_reports: int  # open or claimed report rows
    open_items: int  # reported messages with an open or claimed report
    oldest_open_age_seconds: int | None
    escalated_items: int
    decisions_today: int
    violations_today: int
    emails_sent_today: int
    emails_failed_today: int


# Report statuses by stage.
OPEN: Final = ("open", "claimed")
DECIDED: Final = ("dismissed", "actioned")
_STATUS_FILTERS: Final = {
    "open": OPEN,
    "mine": ("claimed",),
    "escalated": ("escalated",),
    "decided": DECIDED,
}
# Audit actions that are moderation decisions, for timelines and the day's figures.
DECISION_ACTIONS: Final = (
    "moderation.dismissed",
    "moderation.escalated",
    "message.removed",
    "user.warned",
    "user.suspended",
    "user.suspension_lifted",
)
TIMELINE_LIMIT: Final = 200
_STAFF_NAME = func.coalesce(StaffUser.display_name, StaffUser.email)


def _now(now: datetime | None) -> datetime:
    return now or utcnow()


def _excerpt(body: str, body_format: str) -> str:
    if body_format == "html":
        # the body may arrive cut short (the queue reads only its start): drop a cut-off tag too
        body = html.unescape(re.sub(r"<[^>]*(?:>|$)", " ", body))
    text = " ".join(body.split())
    if len(text) > EXCERPT_LENGTH:
        text = text[: EXCERPT_LENGTH - 1].rstrip() + "…"
    return text


def _severity() -> ColumnElement[int]:
    return case(
        *((FlagReport.reason == reason, weight) for reason, weight in SEVERITY.items()),
        else_=1,
    )


def _sender_figures() -> tuple[Any, Any, Any]:
    """Subqueries of removed messages, suspensions and rate-limit violations per user."""
    removals = (
        select(Message.sender_id.label("user_id"), func.count().label("n"))
        .where(Message.is_removed == true())
        .group_by(Message.sender_id)
        .subquery("removals")
    )
    suspensions = (
        select(AuditEvent.subject_id.label("user_id"), func.count().label("n"))
        .where(AuditEvent.subject_type == "user", AuditEvent.action == "user.suspended")
        .group_by(AuditEvent.subject_id)
        .subquery("suspensions")
    )
    violations = (
        select(RateLimitViolation.user_id.label("user_id"), func.count().label("n"))
        .group_by(RateLimitViolation.user_id)
        .subquery("violations")
    )
    return removals, suspensions, violations


def _queue_select(
    *,
    statuses: tuple[str, ...],
    viewer: StaffUser,
    mine: bool = False,
    reason: str | None = None,
    first_since: datetime | None = None,
    exclude: uuid.UUID | None = None,
    not_claimed_by_others: bool = False,
) -> Select[Any]:
    """Items (one row per message) with their aggregates and priority, unordered."""
    severity = _severity()
    claimed_by_viewer = and_(FlagReport.status == "claimed", FlagReport.assigned_to_id == viewer.id)
    agg = select(
        FlagReport.message_id.label("message_id"),
        func.count().label("reporter_count"),
        func.min(FlagReport.created_at).label("first_reported_at"),
        func.max(FlagReport.created_at).label("last_reported_at"),
        func.max(FlagReport.decided_at).label("last_decided_at"),
        func.max(severity).label("max_severity"),
        func.sum(severity).label("sum_severity"),
        func.max(case((claimed_by_viewer, 1), else_=0)).label("claimed_by_viewer"),
    ).where(FlagReport.status.in_(statuses))
    if mine:
        agg = agg.where(FlagReport.assigned_to_id == viewer.id)
    if exclude is not None:
        agg = agg.where(FlagReport.message_id != exclude)
    agg = agg.group_by(FlagReport.message_id)
    if reason is not None:
        agg = agg.having(func.sum(case((FlagReport.reason == reason, 1), else_=0)) > 0)
    if first_since is not None:
        agg = agg.having(func.min(FlagReport.created_at) >= first_since)
    if not_claimed_by_others:
        claimed_by_other = and_(
            FlagReport.status == "claimed", FlagReport.assigned_to_id != viewer.id
        )
        agg = agg.having(func.sum(case((claimed_by_other, 1), else_=0)) == 0)
    items = agg.subquery("items")
    removals, suspensions, violations = _sender_figures()
    n_violations = func.coalesce(violations.c.n, 0)
    priority = (
        10 * items.c.reporter_count
        + 10 * items.c.max_severity
        + 2 * items.c.sum_severity
        + 8 * func.coalesce(removals.c.n, 0)
        + 12 * func.coalesce(suspensions.c.n, 0)
        + 2 * case((n_violations > 10, 10), else_=n_violations)
    ).label("priority")
    # Narrow rows: what the order needs. The page's display columns (names, body) are joined
    # only to the rows of the page, not to every item of the queue.
    return (
        select(items, priority, Message.sender_id)
        .select_from(items)
        .join(Message, Message.id == items.c.message_id)
        .outerjoin(removals, removals.c.user_id == Message.sender_id)
        .outerjoin(suspensions, suspensions.c.user_id == Message.sender_id)
        .outerjoin(violations, violations.c.user_id == Message.sender_id)
    )


def _ordering(columns: Any, *, order: str = "priority", status: str = "open") -> list[Any]:
    if order == "priority":
        return [columns.priority.desc(), columns.first_reported_at, columns.message_id]
    if status == "decided":
        return [columns.last_decided_at.desc(), columns.message_id]
    return [columns.first_reported_at, columns.message_id]


def _with_display_columns(ranked: Any) -> Select[Any]:
    sender = aliased(User, name="sender")
    recipient = aliased(User, name="recipient")
    return (
        select(
            ranked,
            Message.thread_id,
            Message.recipient_id,
            func.substr(Message.body, 1, 4 * EXCERPT_LENGTH).label("body"),
            Message.body_format,
            Message.is_removed,
            sender.display_name.label("sender_name"),
            recipient.display_name.label("recipient_name"),
        )
        .select_from(ranked)
        .join(Message, Message.id == ranked.c.message_id)
        .join(sender, sender.id == Message.sender_id)
        .join(recipient, recipient.id == Message.recipient_id)
    )


def _check_queue_args(
    status: str, order: str, reason: str | None, page: int, per_page: int
) -> None:
    validation.one_of("status", status, QUEUE_STATUSES)
    validation.one_of("order", order, QUEUE_ORDERS)
    if reason is not None:
        validation.one_of("reason", reason, FLAG_REASONS)
    if page < 1:
        raise InvalidInput("page", "must be at least 1")
    if not 1 <= per_page <= 200:
        raise InvalidInput("per_page", "must be between 1 and 200")


async def queue_page(
    session: AsyncSession,
    *,
    viewer: StaffUser,
    reason: str | None = None,
    status: str = "open",
    max_age_days: int | None = None,
    order: str = "priority",
    page: int = 1,
    per_page: int = 50,
    now: datetime | None = None,
) -> QueuePage:
    """One page of the queue, one item per reported message.

    ``status``: ``open`` (open or claimed), ``mine`` (claimed by ``viewer``), ``escalated``,
    ``decided``. ``reason`` keeps items with at least one such report; ``max_age_days`` keeps
    items first reported at most that many days ago. ``order``: ``priority`` (highest first, then
    oldest) or ``age`` (oldest first; ``decided``: most recently decided first).

    Priority = 10 × distinct reporters + 10 × the highest severity among the reports (3 for
    harassment, discrimination, scam; 2 for inappropriate_content; 1 for spam and other)
    + 2 × the sum of severities + 8 × the sender's removed messages + 12 × the sender's
    suspensions + 2 × the sender's rate-limit violations (at most 10 counted).

    Two SQL statements whatever the size of the queue (three when ``page`` is past the end):
    the page of items with their total (a window count), then the reports of those items.
    """
    _check_queue_args(status, order, reason, page, per_page)
    if max_age_days is not None and max_age_days < 0:
        raise InvalidInput("max_age_days", "must not be negative")
    now = _now(now)
    query = _queue_select(
        statuses=_STATUS_FILTERS[status],
        viewer=viewer,
        mine=status == "mine",
        reason=reason,
        first_since=None if max_age_days is None else now - timedelta(days=max_age_days),
    )
    ordering = _ordering(query.selected_columns, order=order, status=status)
    ranked = (
        query.add_columns(func.count().over().label("total"))
        .order_by(*ordering)
        .limit(per_page)
        .offset((page - 1) * per_page)
        .subquery("ranked")
    )
    page_query = _with_display_columns(ranked).order_by(
        *_ordering(ranked.c, order=order, status=status)
    )
    async with refusable(session, write=False):
        rows = (await session.execute(page_query)).all()
        if rows:
            total = rows[0].total
        else:
            counted = query.subquery()
            total = await session.scalar(select(func.count()).select_from(counted)) or 0
        reports = await _reports_of_items(
            session, [row.message_id for row in rows], _STATUS_FILTERS[status]
        )
    items = [_queue_item(row, reports.get(row.message_id, [])) for row in rows]
    return QueuePage(items=items, total=total, page=page, per_page=per_page)


@dataclass(frozen=True)
class _ReportRow:
    id: uuid.UUID
    message_id: uuid.UUID
    reporter_id: uuid.UUID
    reporter_name: str
    reason: str
    note: str | None
    status: str
    created_at: datetime
    assigned_to_id: uuid.UUID | None
    assigned_to_name: str | None
    decided_by_id: uuid.UUID | None
    decided_by_name: str | None
    decision: str | None
    decided_at: datetime | None


async def _reports_of_items(
    session: AsyncSession, message_ids: list[uuid.UUID], statuses: tuple[str, ...] | None
) -> dict[uuid.UUID, list[_ReportRow]]:
    """The reports of these messages (in these statuses), oldest first, with names: one query."""
    if not message_ids:
        return {}
    reporter = aliased(User, name="reporter")
    assignee = aliased(StaffUser, name="assignee")
    decider = aliased(StaffUser, name="decider")
    query = (
        select(
            FlagReport.id,
            FlagReport.message_id,
            FlagReport.reporter_id,
            reporter.display_name.label("reporter_name"),
            FlagReport.reason,
            FlagReport.note,
            FlagReport.status,
            FlagReport.created_at,
            FlagReport.assigned_to_id,
            func.coalesce(assignee.display_name, assignee.email).label("assigned_to_name"),
            FlagReport.decided_by_id,
            func.coalesce(decider.display_name, decider.email).label("decided_by_name"),
            FlagReport.decision,
            FlagReport.decided_at,
        )
        .join(reporter, reporter.id == FlagReport.reporter_id)
        .outerjoin(assignee, assignee.id == FlagReport.assigned_to_id)
        .outerjoin(decider, decider.id == FlagReport.decided_by_id)
        .where(FlagReport.message_id.in_(message_ids))
        .order_by(FlagReport.created_at, FlagReport.id)
    )
    if statuses is not None:
        query = query.where(FlagReport.status.in_(statuses))
    grouped: dict[uuid.UUID, list[_ReportRow]] = {}
    for row in (await session.execute(query)).all():
        grouped.setdefault(row.message_id, []).append(_ReportRow(**row._asdict()))
    return grouped


@dataclass(frozen=True)
class _ItemState:
    status: str
    claimed_by_id: uuid.UUID | None
    claimed_by_name: str | None
    decided_by_name: str | None
    decision: str | None
    decided_at: datetime | None


def _item_state(reports: list[_ReportRow]) -> _ItemState:
    """An item's status from its reports: open work first, then escalation, then the latest
    decision."""
    claimed = [r for r in reports if r.status == "claimed"]
    if claimed:
        r = claimed[-1]
        return _ItemState("claimed", r.assigned_to_id, r.assigned_to_name, None, None, None)
    if any(r.status == "open" for r in reports):
        return _ItemState("open", None, None, None, None, None)
    decided = [r for r in reports if r.decided_at is not None]
    if not decided:
        return _ItemState(reports[-1].status if reports else "open", None, None, None, None, None)
    escalated = [r for r in decided if r.status == "escalated"]
    r = max(escalated or decided, key=lambda r: r.decided_at or r.created_at)
    return _ItemState(r.status, None, None, r.decided_by_name, r.decision, r.decided_at)


def _queue_item(row: Any, reports: list[_ReportRow]) -> QueueItem:
    reasons = Counter(r.reason for r in reports)
    state = _item_state(reports)
    return QueueItem(
        message_id=row.message_id,
        thread_id=row.thread_id,
        excerpt=_excerpt(row.body, row.body_format),
        sender_id=row.sender_id,
        sender_name=row.sender_name,
        recipient_id=row.recipient_id,
        recipient_name=row.recipient_name,
        reasons=dict(reasons.most_common()),
        reporter_count=row.reporter_count,
        reporter_names=[r.reporter_name for r in reports],
        first_reported_at=row.first_reported_at,
        last_reported_at=row.last_reported_at,
        status=state.status,
        claimed_by_id=state.claimed_by_id,
        claimed_by_name=state.claimed_by_name,
        priority=int(row.priority),
        decided_by_name=state.decided_by_name,
        decision=state.decision,
        message_removed=row.is_removed,
    )


async def queue_counts(
    session: AsyncSession, *, viewer: StaffUser, now: datetime | None = None
) -> QueueCounts:
    """Items open (or claimed), claimed by ``viewer``, escalated: the navigation badges."""

    def items_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.count(distinct(case((condition, FlagReport.message_id))))

    query = select(
        items_where(FlagReport.status.in_(OPEN)),
        items_where(and_(FlagReport.status == "claimed", FlagReport.assigned_to_id == viewer.id)),
        items_where(FlagReport.status == "escalated"),
    ).where(FlagReport.status.in_((*OPEN, "escalated")))
    async with refusable(session, write=False):
        open_, mine, escalated_ = (await session.execute(query)).one()
    return QueueCounts(open=open_, mine=mine, escalated=escalated_)


def _thread_message(row: Any, reported_id: uuid.UUID) -> ThreadMessage:
    return ThreadMessage(
        id=row.id,
        sender_id=row.sender_id,
        sender_name=row.sender_name,
        body=row.body,
        body_format=row.body_format,
        created_at=row.created_at,
        is_removed=row.is_removed,
        is_reported=row.id == reported_id,
    )


def _context_query(message: Message, *, before: bool, limit: int) -> Select[Any]:
    sender = aliased(User, name="sender")
    position = tuple_(Message.created_at, Message.id)
    here = tuple_(
        literal(message.created_at, Message.created_at.type), literal(message.id, Message.id.type)
    )
    query = (
        select(
            Message.id,
            Message.sender_id,
            sender.display_name.label("sender_name"),
            Message.body,
            Message.body_format,
            Message.created_at,
            Message.is_removed,
        )
        .join(sender, sender.id == Message.sender_id)
        .where(Message.thread_id == message.thread_id)
    )
    if before:
        return (
            query.where(position < here)
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(limit)
        )
    return query.where(position > here).order_by(Message.created_at, Message.id).limit(limit)


def _sender_summary_query(user_id: uuid.UUID) -> Select[Any]:
    def count(query: Select[Any]) -> Any:
        return query.scalar_subquery()

    return select(
        User,
        count(select(func.count()).select_from(Message).where(Message.sender_id == user_id)),
        count(
            select(func.count())
            .select_from(FlagReport)
            .join(Message, Message.id == FlagReport.message_id)
            .where(Message.sender_id == user_id)
        ),
        count(
            select(func.count()).select_from(FlagReport).where(FlagReport.reporter_id == user_id)
        ),
        count(
            select(func.count()).select_from(MessageBlock).where(MessageBlock.blocked_id == user_id)
        ),
        count(
            select(func.count())
            .select_from(RateLimitViolation)
            .where(RateLimitViolation.user_id == user_id)
        ),
        count(
            select(func.count())
            .select_from(Message)
            .where(Message.sender_id == user_id, Message.is_removed == true())
        ),
        count(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.subject_type == "user",
                AuditEvent.subject_id == user_id,
                AuditEvent.action == "user.suspended",
            )
        ),
    ).where(User.id == user_id)


async def _user_with_counts(session: AsyncSession, user_id: uuid.UUID) -> tuple[User, UserCounts]:
    row = (await session.execute(_sender_summary_query(user_id))).one_or_none()
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    user, sent, against, made, blocks, violations, removals, suspensions = row
    return user, UserCounts(
        sent=sent,
        reports_against=against,
        reports_made=made,
        blocks_against=blocks,
        violations=violations,
        removals=removals,
        suspensions=suspensions,
    )


async def _timeline(
    session: AsyncSession, user_id: uuid.UUID, *, limit: int = TIMELINE_LIMIT
) -> list[DecisionRecord]:
    """Every moderation decision about ``user_id`` (on them or on their messages), newest first."""
    their_messages = select(Message.id).where(Message.sender_id == user_id)
    query = (
        select(AuditEvent, _STAFF_NAME.label("staff_name"))
        .outerjoin(
            StaffUser, and_(AuditEvent.actor_type == "staff", StaffUser.id == AuditEvent.actor_id)
        )
        .where(
            AuditEvent.action.in_(DECISION_ACTIONS),
            or_(
                and_(AuditEvent.subject_type == "user", AuditEvent.subject_id == user_id),
                and_(
                    AuditEvent.subject_type == "message",
                    AuditEvent.subject_id.in_(their_messages),
                ),
            ),
        )
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    return [_decision_record(event, name) for event, name in (await session.execute(query)).all()]


def _decision_record(event: AuditEvent, staff_name: str | None) -> DecisionRecord:
    details = dict(event.details or {})
    message_id = event.subject_id if event.subject_type == "message" else None
    if message_id is None and details.get("message_id"):
        message_id = uuid.UUID(str(details["message_id"]))
    decision = str(details.get("decision") or event.action.rsplit(".", 1)[-1])
    reason = details.get("reason") or details.get("note")
    return DecisionRecord(
        occurred_at=event.occurred_at,
        action=event.action,
        decision=decision,
        staff_id=event.actor_id if event.actor_type == "staff" else None,
        staff_name=staff_name,
        message_id=message_id,
        reason=str(reason) if reason is not None else None,
        details=details,
    )


async def _notes(session: AsyncSession, condition: ColumnElement[bool]) -> list[NoteView]:
    query = (
        select(ModeratorNote, _STAFF_NAME.label("author_name"))
        .join(StaffUser, StaffUser.id == ModeratorNote.author_id)
        .where(condition)
        .order_by(ModeratorNote.created_at.desc(), ModeratorNote.id.desc())
    )
    return [_note_view(note, name) for note, name in (await session.execute(query)).all()]


def _note_view(note: ModeratorNote, author_name: str) -> NoteView:
    return NoteView(
        id=note.id,
        author_name=author_name,
        body=note.body,
        created_at=note.created_at,
        message_id=note.message_id,
        user_id=note.user_id,
    )


async def report_view(
    session: AsyncSession, message_id: uuid.UUID, *, context: int = 5
) -> ReportView:
    """Everything a moderator needs to decide on one reported message; NotFound if unknown."""
    if not 0 <= context <= 50:
        raise InvalidInput("context", "must be between 0 and 50")
    sender = aliased(User, name="sender")
    recipient = aliased(User, name="recipient")
    async with refusable(session, write=False):
        row = (
            await session.execute(
                select(
                    Message,
                    MessageThread.subject,
                    sender.display_name,
                    recipient.display_name,
                )
                .join(MessageThread, MessageThread.id == Message.thread_id)
                .join(sender, sender.id == Message.sender_id)
                .join(recipient, recipient.id == Message.recipient_id)
                .where(Message.id == message_id)
            )
        ).one_or_none()
        if row is None:
            raise NotFound(f"message {message_id} does not exist")
        message, thread_subject, sender_name, recipient_name = row
        before = (await session.execute(_context_query(message, before=True, limit=context))).all()
        after = (await session.execute(_context_query(message, before=False, limit=context))).all()
        reports = (await _reports_of_items(session, [message_id], None)).get(message_id, [])
        user, counts = await _user_with_counts(session, message.sender_id)
        earlier = await _timeline(session, message.sender_id, limit=50)
        notes = await _notes(session, ModeratorNote.message_id == message_id)
    state = _item_state(reports)
    return ReportView(
        message=ThreadMessage(
            id=message.id,
            sender_id=message.sender_id,
            sender_name=sender_name,
            body=message.body,
            body_format=message.body_format,
            created_at=message.created_at,
            is_removed=message.is_removed,
            is_reported=True,
        ),
        thread_id=message.thread_id,
        thread_subject=thread_subject,
        recipient_id=message.recipient_id,
        recipient_name=recipient_name,
        before=[_thread_message(r, message_id) for r in reversed(before)],
        after=[_thread_message(r, message_id) for r in after],
        reports=[
            ReportEntry(
                id=r.id,
                reporter_id=r.reporter_id,
                reporter_name=r.reporter_name,
                reason=r.reason,
                note=r.note,
                reported_at=r.created_at,
                status=r.status,
            )
            for r in reports
        ],
        status=state.status,
        claimed_by_id=state.claimed_by_id,
        claimed_by_name=state.claimed_by_name,
        decided_by_name=state.decided_by_name,
        decision=state.decision,
        decided_at=state.decided_at,
        sender=SenderSummary(
            user_id=user.id,
            display_name=user.display_name,
            role=user.role,
            sent=counts.sent,
            reports_against=counts.reports_against,
            removals=counts.removals,
            suspensions=counts.suspensions,
            violations=counts.violations,
            suspended=suspended_now(user, utcnow()),
            suspended_until=user.suspended_until if user.is_suspended else None,
        ),
        earlier_decisions=earlier,
        notes=notes,
    )


# --- decisions -----------------------------------------------------------------------------


async def _lock_message(session: AsyncSession, message_id: uuid.UUID) -> Message:
    """The message, locked: every decision on its reports serialises here (PostgreSQL; SQLite
    has serialised writers already). NO KEY UPDATE leaves new reports (which only take a key-share
    lock through their foreign key) free to arrive."""
    query = select(Message).where(Message.id == message_id)
    query = query.execution_options(populate_existing=True)
    if not is_sqlite(session):
        query = query.with_for_update(key_share=True)
    message = await session.scalar(query)
    if message is None:
        raise NotFound(f"message {message_id} does not exist")
    return message


async def _current_reports(session: AsyncSession, message_id: uuid.UUID) -> list[FlagReport]:
    query = (
        select(FlagReport)
        .where(FlagReport.message_id == message_id)
        .order_by(FlagReport.created_at, FlagReport.id)
        .execution_options(populate_existing=True)
    )
    reports = list((await session.scalars(query)).all())
    if not reports:
        raise NotFound(f"message {message_id} has no reports")
    return reports


async def _already_decided(session: AsyncSession, reports: list[FlagReport]) -> AlreadyDecided:
    decided = [r for r in reports if r.decided_at is not None]
    if not decided:
        return AlreadyDecided("nobody", "none", None)
    escalated = [r for r in decided if r.status == "escalated"]
    latest = max(escalated or decided, key=lambda r: r.decided_at or r.created_at)
    staff = await session.get(StaffUser, latest.decided_by_id) if latest.decided_by_id else None
    return AlreadyDecided(
        staff_name(staff) or "a former staff member",
        latest.decision or latest.status,
        latest.decided_at,
    )


async def _actionable(
    session: AsyncSession, actor: StaffUser, reports: list[FlagReport], *, escalating: bool
) -> list[FlagReport]:
    """The reports ``actor`` decides now; Forbidden or AlreadyDecided when there are none."""
    open_ = [r for r in reports if r.status in OPEN]
    escalated = [r for r in reports if r.status == "escalated"]
    if actor.role == "compliance":
        if escalating:
            raise Forbidden("compliance officers decide escalated items; they do not escalate")
        if escalated:
            return escalated
        if open_:
            raise Forbidden("compliance officers act only on escalated items")
        raise await _already_decided(session, reports)
    if open_:
        return open_
    if escalated and actor.role == "admin" and not escalating:
        return escalated
    raise await _already_decided(session, reports)


Effect = Callable[[Message, datetime, list[FlagReport]], Awaitable[None]]


async def _decide(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    now: datetime | None,
    status: str,
    decision: str,
    action: str | None,
    details: dict[str, object],
    effect: Effect | None = None,
    subject_user: bool = False,
) -> None:
    """Decides every actionable report of ``message_id`` and records one audit event (``action``;
    None when ``effect`` records it), in one transaction with the message locked."""
    require_role(actor, *DECIDER_ROLES)
    async with refusable(session):
        message = await _lock_message(session, message_id)
        reports = await _current_reports(session, message_id)
        targets = await _actionable(session, actor, reports, escalating=status == "escalated")
        when = _now(now)
        for report in targets:
            report.status = status
            report.decision = decision
            report.decided_by_id = actor.id
            report.decided_at = when
            report.updated_at = when
        if effect is not None:
            await effect(message, when, targets)
        if action is None:
            return
        event_details: dict[str, object] = {
            "decision": decision,
            "report_ids": [str(r.id) for r in targets],
            **details,
        }
        if subject_user:
            event_details["message_id"] = str(message_id)
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action=action,
            subject_type="user" if subject_user else "message",
            subject_id=message.sender_id if subject_user else message_id,
            thread_id=message.thread_id,
            details=event_details,
        )


DECIDER_ROLES: Final = ("moderator", "compliance", "admin")


async def claim(
    session: AsyncSession, message_id: uuid.UUID, *, actor: StaffUser, now: datetime | None = None
) -> None:
    """Marks the item as being looked at by ``actor``. Conflict if another claimed it first;
    claiming one's own claim again changes nothing."""
    require_role(actor, "moderator", "admin")
    async with refusable(session):
        message = await _lock_message(session, message_id)
        reports = await _current_reports(session, message_id)
        open_ = [r for r in reports if r.status in OPEN]
        if not open_:
            raise await _already_decided(session, reports)
        others = {r.assigned_to_id for r in open_ if r.status == "claimed"} - {actor.id}
        if others:
            holder = await session.get(StaffUser, next(iter(others)))
            raise Conflict(f"already claimed by {staff_name(holder) or 'someone else'}")
        if all(r.status == "claimed" for r in open_):
            return
        when = _now(now)
        for report in open_:
            report.status = "claimed"
            report.assigned_to_id = actor.id
            report.updated_at = when
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="moderation.claimed",
            subject_type="message",
            subject_id=message_id,
            thread_id=message.thread_id,
            details={"report_ids": [str(r.id) for r in open_]},
        )


async def unclaim(
    session: AsyncSession, message_id: uuid.UUID, *, actor: StaffUser, now: datetime | None = None
) -> None:
    """Releases the actor's claim (an admin may release anyone's); nothing if unclaimed."""
    require_role(actor, "moderator", "admin")
    async with refusable(session):
        message = await _lock_message(session, message_id)
        reports = await _current_reports(session, message_id)
        claimed = [r for r in reports if r.status == "claimed"]
        if not claimed:
            return
        if actor.role != "admin" and any(r.assigned_to_id != actor.id for r in claimed):
            raise Forbidden("only the moderator who claimed an item (or an admin) releases it")
        when = _now(now)
        for report in claimed:
            report.status = "open"
            report.assigned_to_id = None
            report.updated_at = when
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="moderation.unclaimed",
            subject_type="message",
            subject_id=message_id,
            thread_id=message.thread_id,
            details={"report_ids": [str(r.id) for r in claimed]},
        )


async def dismiss(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    note: str | None = None,
    now: datetime | None = None,
) -> None:
    """No action needed: the item's reports are closed as dismissed."""
    note = validation.optional_note("note", note, max_length=MAX_NOTE_LENGTH)
    await _decide(
        session,
        message_id,
        actor=actor,
        now=now,
        status="dismissed",
        decision="dismissed",
        action="moderation.dismissed",
        details={"note": note},
    )


async def remove_message(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Withholds the message's body from its readers (kept for the audit trail)."""
    reason = required_text("reason", reason, max_length=MAX_REASON_LENGTH)

    async def withhold(message: Message, when: datetime, _reports: list[FlagReport]) -> None:
        message.is_removed = True
        message.removed_at = when
        message.removed_reason = reason
        message.updated_at = when

    await _decide(
        session,
        message_id,
        actor=actor,
        now=now,
        status="actioned",
        decision="removed",
        action="message.removed",
        details={"reason": reason},
        effect=withhold,
    )


async def warn_sender(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    note: str,
    now: datetime | None = None,
) -> None:
    """Records a warning to the sender (on their timeline); the message stays."""
    note = required_text("note", note, max_length=MAX_NOTE_LENGTH)
    await _decide(
        session,
        message_id,
        actor=actor,
        now=now,
        status="actioned",
        decision="warned",
        action="user.warned",
        details={"note": note},
        subject_user=True,
    )


async def suspend_sender(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    reason: str,
    days: int | None,
    now: datetime | None = None,
) -> None:
    """Suspends the sender for ``days`` (1, 3, 7, 30) or indefinitely (None). The one audit
    event is the suspension's ``user.suspended``, naming the message and reports."""
    reason = required_text("reason", reason, max_length=MAX_REASON_LENGTH)
    days = suspension_days(days)

    async def suspend(message: Message, when: datetime, reports: list[FlagReport]) -> None:
        sender = await lock_user(session, message.sender_id)
        await apply_suspension(
            session,
            sender,
            actor=actor,
            reason=reason,
            days=days,
            now=when,
            thread_id=message.thread_id,
            details={
                "message_id": str(message.id),
                "report_ids": [str(r.id) for r in reports],
            },
        )

    await _decide(
        session,
        message_id,
        actor=actor,
        now=now,
        status="actioned",
        decision="suspended",
        action=None,
        details={},
        effect=suspend,
    )


async def escalate(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    note: str | None = None,
    now: datetime | None = None,
) -> None:
    """Hands the item to compliance."""
    note = validation.optional_note("note", note, max_length=MAX_NOTE_LENGTH)
    await _decide(
        session,
        message_id,
        actor=actor,
        now=now,
        status="escalated",
        decision="escalated",
        action="moderation.escalated",
        details={"note": note},
    )


async def add_note(
    session: AsyncSession,
    *,
    actor: StaffUser,
    body: str,
    message_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> NoteView:
    """A moderator note on a message or a user (exactly one of them). Any staff role."""
    require_role(actor, *DECIDER_ROLES)
    body = required_text("body", body, max_length=MAX_NOTE_LENGTH)
    if (message_id is None) == (user_id is None):
        raise InvalidInput("message_id", "a note is on a message or on a user (exactly one)")
    async with refusable(session):
        thread_id = None
        if message_id is not None:
            message = await session.get(Message, message_id)
            if message is None:
                raise NotFound(f"message {message_id} does not exist")
            thread_id = message.thread_id
        elif await session.get(User, user_id) is None:
            raise NotFound(f"user {user_id} does not exist")
        note = ModeratorNote(
            id=new_id(),
            author_id=actor.id,
            message_id=message_id,
            user_id=user_id,
            body=body,
            created_at=_now(now),
        )
        session.add(note)
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="moderation.note_added",
            subject_type="message" if message_id is not None else "user",
            subject_id=message_id or user_id,
            thread_id=thread_id,
            details={"note_id": str(note.id), "body": body},
        )
    return _note_view(note, staff_name(actor) or "")


async def next_item(
    session: AsyncSession,
    *,
    viewer: StaffUser,
    after_message_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> uuid.UUID | None:
    """The item to open after deciding ``after_message_id``: the viewer's own claimed items
    first, then the highest-priority item the viewer can act on (escalated items for compliance,
    open ones otherwise), other than that one and not claimed by someone else; None when there
    is none."""
    statuses: tuple[str, ...] = ("escalated",) if viewer.role == "compliance" else OPEN
    query = _queue_select(
        statuses=statuses, viewer=viewer, exclude=after_message_id, not_claimed_by_others=True
    )
    columns = query.selected_columns
    query = query.order_by(columns.claimed_by_viewer.desc(), *_ordering(columns)).limit(1)
    async with refusable(session, write=False):
        row = (await session.execute(query)).first()
    return None if row is None else row.message_id


async def bulk_decide(
    session: AsyncSession,
    message_ids: list[uuid.UUID],
    action: str,
    *,
    actor: StaffUser,
    reason: str | None = None,
    now: datetime | None = None,
) -> BulkResult:
    """``action`` (dismiss | remove | escalate) on each item in its own transaction; items
    decided meanwhile, unknown or that ``actor`` may not decide are skipped and named."""
    require_role(actor, *DECIDER_ROLES)
    validation.one_of("action", action, BULK_ACTIONS)
    if action == "remove":
        reason = required_text("reason", reason, max_length=MAX_REASON_LENGTH)
    else:
        reason = validation.optional_note("reason", reason, max_length=MAX_NOTE_LENGTH)
    if not message_ids:
        raise InvalidInput("message_ids", "select at least one item")
    if len(message_ids) > 500:
        raise InvalidInput("message_ids", "at most 500 items at once")
    result = BulkResult()
    for message_id in dict.fromkeys(message_ids):
        try:
            if action == "dismiss":
                await dismiss(session, message_id, actor=actor, note=reason, now=now)
            elif action == "remove":
                await remove_message(session, message_id, actor=actor, reason=reason or "", now=now)
            else:
                await escalate(session, message_id, actor=actor, note=reason, now=now)
        except AlreadyDecided as exc:
            result.skipped.append(
                SkippedItem(message_id, exc.decided_by_name, exc.decision, exc.detail)
            )
        except (Forbidden, NotFound) as exc:
            result.skipped.append(SkippedItem(message_id, None, None, exc.detail))
        else:
            result.decided.append(message_id)
    return result


async def user_history(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime | None = None
) -> UserHistory:
    """A user's profile, status, counts, moderation timeline and notes; NotFound if unknown."""
    now = _now(now)
    their_messages = select(Message.id).where(Message.sender_id == user_id)
    async with refusable(session, write=False):
        user, counts = await _user_with_counts(session, user_id)
        timeline = await _timeline(session, user_id)
        notes = await _notes(
            session,
            or_(ModeratorNote.user_id == user_id, ModeratorNote.message_id.in_(their_messages)),
        )
    in_force = suspended_now(user, now)
    return UserHistory(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        created_at=user.created_at,
        last_active_at=user.last_active_at,
        suspended=in_force,
        suspended_at=user.suspended_at if in_force else None,
        suspended_until=user.suspended_until if in_force else None,
        suspended_reason=user.suspended_reason if in_force else None,
        counts=counts,
        timeline=timeline,
        notes=notes,
    )


async def overview(session: AsyncSession, *, now: datetime | None = None) -> Overview:
    """Today's figures (the UTC day of ``now``), in one statement."""
    now = _now(now)
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def scalar(query: Select[Any]) -> Any:
        return query.scalar_subquery()

    def reports(*where: ColumnElement[bool], what: Any = None) -> Any:
        return scalar(select(what if what is not None else func.count()).where(*where))

    query = select(
        reports(FlagReport.status.in_(OPEN), what=func.count(FlagReport.id)),
        reports(FlagReport.status.in_(OPEN), what=func.count(distinct(FlagReport.message_id))),
        reports(FlagReport.status.in_(OPEN), what=func.min(FlagReport.created_at)),
        reports(FlagReport.status == "escalated", what=func.count(distinct(FlagReport.message_id))),
        scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.action.in_(DECISION_ACTIONS), AuditEvent.occurred_at >= today
            )
        ),
        scalar(
            select(func.count(RateLimitViolation.id)).where(RateLimitViolation.occurred_at >= today)
        ),
        scalar(
            select(func.count(EmailOutbox.id)).where(
                EmailOutbox.status == "sent", EmailOutbox.sent_at >= today
            )
        ),
        scalar(
            select(func.count(EmailOutbox.id)).where(
                EmailOutbox.status == "failed", EmailOutbox.updated_at >= today
            )
        ),
    )
    async with refusable(session, write=False):
        row = (await session.execute(query)).one()
    (open_reports, open_items, oldest, escalated_, decisions, violations, sent, failed) = row
    oldest_age = None
    if oldest is not None:
        if oldest.tzinfo is None:  # a scalar aggregate loses the column's type on SQLite
            oldest = datetime.fromisoformat(str(oldest)).replace(tzinfo=UTC)
        oldest_age = max(0, int((now - oldest).total_seconds()))
    return Overview(
        open_reports=open_reports,
        open_items=open_items,
        oldest_open_age_seconds=oldest_age,
        escalated_items=escalated_,
        decisions_today=decisions,
        violations_today=violations,
        emails_sent_today=sent,
        emails_failed_today=failed,
    )
