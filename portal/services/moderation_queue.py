"""The moderation queue: one item per reported message collapsing all of its reports, ordered by
priority or age, with a fixed number of SQL statements whatever its size."""

from __future__ import annotations

import html
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    case,
    distinct,
    func,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from portal.database import read_transaction
from portal.errors import InvalidInput
from portal.models import (
    AuditEvent,
    FlagReport,
    Message,
    RateLimitViolation,
    StaffUser,
    User,
)
from portal.models.moderation import FLAG_REASONS
from portal.permissions import may_decide
from portal.services import retaliation, validation
from portal.services.moderation_types import (
    DECIDED,
    EXCERPT_LENGTH,
    OPEN,
    QUEUE_ORDERS,
    QUEUE_STATUSES,
    SEVERITY,
    UNDECIDED,
    URGENT_REASONS,
    QueueCounts,
    QueueItem,
    QueuePage,
    ResponseTargets,
    SenderGroup,
    SenderGroupPage,
    now_or_utcnow,
)

MAX_AGE_DAYS: Final = 36_500
_STATUS_FILTERS: Final = {
    "open": OPEN,
    "mine": ("claimed",),
    "escalated": ("escalated",),
    "decided": DECIDED,
}
# The weights of the priority (see queue_page)
W_REPORTER: Final = 10
W_MAX_SEVERITY: Final = 20
W_SUM_SEVERITY: Final = 2
W_REMOVAL: Final = 8
W_SUSPENSION: Final = 12
W_VIOLATION: Final = 2
MAX_VIOLATIONS_COUNTED: Final = 10


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
    n_removals = func.coalesce(removals.c.n, 0)
    n_suspensions = func.coalesce(suspensions.c.n, 0)
    counted_violations = case(
        (n_violations > MAX_VIOLATIONS_COUNTED, MAX_VIOLATIONS_COUNTED), else_=n_violations
    )
    priority = (
        W_REPORTER * items.c.reporter_count
        + W_MAX_SEVERITY * items.c.max_severity
        + W_SUM_SEVERITY * items.c.sum_severity
        + W_REMOVAL * n_removals
        + W_SUSPENSION * n_suspensions
        + W_VIOLATION * counted_violations
    ).label("priority")
    # Narrow rows: what the order needs. The page's display columns (names, body) are joined
    # only to the rows of the page, not to every item of the queue.
    return (
        select(
            items,
            priority,
            Message.sender_id,
            n_removals.label("sender_removals"),
            n_suspensions.label("sender_suspensions"),
            counted_violations.label("sender_violations"),
        )
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
    targets: ResponseTargets | None = None,
) -> QueuePage:
    """One page of the queue, one item per reported message.

    ``status``: ``open`` (open or claimed), ``mine`` (claimed by ``viewer``), ``escalated``,
    ``decided``. ``reason`` keeps items with at least one such report; ``max_age_days`` keeps
    items first reported at most that many days ago. ``order``: ``priority`` (highest first, then
    oldest) or ``age`` (oldest first; ``decided``: most recently decided first).

    Priority = 10 × distinct reporters + 20 × the highest severity among the reports (6 for
    harassment and threats, 5 for discrimination, 3 for scam, 2 for inappropriate_content, 1 for
    spam and other) + 2 × the sum of severities + 8 × the sender's removed messages + 12 × the
    sender's suspensions + 2 × the sender's rate-limit violations (at most 10 counted). Each
    item says what its priority is made of (``priority_parts``), and when it is due
    (``targets``: the first report + the target of its most urgent reason).

    Two SQL statements whatever the size of the queue (three when ``page`` is past the end):
    the page of items with their total (a window count), then the reports of those items.
    """
    _check_queue_args(status, order, reason, page, per_page)
    if max_age_days is not None and not 0 <= max_age_days <= MAX_AGE_DAYS:
        raise InvalidInput("max_age_days", f"must be between 0 and {MAX_AGE_DAYS}")
    now = now_or_utcnow(now)
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
    async with read_transaction(session):
        rows = (await session.execute(page_query)).all()
        if rows:
            total = rows[0].total
        else:
            counted = query.subquery()
            total = await session.scalar(select(func.count()).select_from(counted)) or 0
        reports = await reports_of_items(
            session, [row.message_id for row in rows], _STATUS_FILTERS[status]
        )
    targets = targets or ResponseTargets()
    items = [_queue_item(row, reports.get(row.message_id, []), targets) for row in rows]
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


async def reports_of_items(
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


# item_state's order of precedence in SQL, for a roll-up of a message's reports: rank each
# report (claimed 3, open 2, escalated 1, else 0), take the highest, name it back.
_STATUS_BY_RANK: Final = ("escalated", "open", "claimed")
ITEM_STATUSES: Final = ("open", "claimed", "escalated", "decided")


def item_status_rank(status: SQLColumnExpression[str]) -> ColumnElement[int]:
    return case(*((status == name, rank) for rank, name in enumerate(_STATUS_BY_RANK, 1)), else_=0)


def item_status_of_rank(rank: ColumnElement[int]) -> ColumnElement[str]:
    """The item's status from its reports' highest rank; "decided" when none is undecided."""
    return case(
        *((rank == number, name) for number, name in enumerate(_STATUS_BY_RANK, 1)),
        else_="decided",
    )


def item_state(reports: list[_ReportRow]) -> _ItemState:
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


def priority_parts(row: Any, reasons: Counter[str]) -> tuple[tuple[str, int], ...]:
    """What an item's priority is made of, in words and points (the terms that are not 0)."""
    worst = max(reasons, key=lambda r: SEVERITY.get(r, 1), default=None)
    parts = [
        (
            f"{row.reporter_count} reporter{'s' if row.reporter_count != 1 else ''}",
            W_REPORTER * row.reporter_count,
        ),
        (f"most severe: {(worst or 'other').replace('_', ' ')}", W_MAX_SEVERITY * row.max_severity),
        ("severity of all reports", W_SUM_SEVERITY * row.sum_severity),
        (f"sender's {row.sender_removals} removed messages", W_REMOVAL * row.sender_removals),
        (f"sender's {row.sender_suspensions} suspensions", W_SUSPENSION * row.sender_suspensions),
        (
            f"sender's {row.sender_violations} rate-limit violations",
            W_VIOLATION * row.sender_violations,
        ),
    ]
    return tuple((what, int(points)) for what, points in parts if points)


def target_hours(reasons: Counter[str] | dict[str, int], targets: ResponseTargets) -> int:
    """The response target of an item with these reasons."""
    urgent = any(reason in URGENT_REASONS for reason in reasons)
    return targets.urgent_hours if urgent else targets.hours


def _queue_item(row: Any, reports: list[_ReportRow], targets: ResponseTargets) -> QueueItem:
    reasons = Counter(r.reason for r in reports)
    state = item_state(reports)
    hours = target_hours(reasons, targets)
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
        priority_parts=priority_parts(row, reasons),
        due_at=row.first_reported_at + timedelta(hours=hours),
        target_hours=hours,
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
    ).where(FlagReport.status.in_(UNDECIDED))
    async with read_transaction(session):
        open_, mine, escalated_ = (await session.execute(query)).one()
    return QueueCounts(open=open_, mine=mine, escalated=escalated_)


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
    statuses: tuple[str, ...] = OPEN if may_decide(viewer, "open") else ("escalated",)
    query = _queue_select(
        statuses=statuses, viewer=viewer, exclude=after_message_id, not_claimed_by_others=True
    )
    columns = query.selected_columns
    # Never to an item held for compliance's retaliation review: nobody may decide it yet.
    query = query.where(columns.message_id.not_in(retaliation.held_message_ids()))
    query = query.order_by(columns.claimed_by_viewer.desc(), *_ordering(columns)).limit(1)
    async with read_transaction(session):
        row = (await session.execute(query)).first()
    return None if row is None else row.message_id


async def sender_groups(
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
) -> SenderGroupPage:
    """The queue grouped by sender: one row per sender of reported messages with how many items
    and reports (in ``status``, of ``reason``, first reported within ``max_age_days``), the
    reasons, the reporters (how many, and the first three by name) and the oldest report.

    ``order``: ``priority`` puts the senders with the most reports first (a flood at the top),
    then the longest waiting; ``age`` the longest waiting first.

    Three SQL statements whatever the size of the queue (four when ``page`` is past the end):
    the page of senders with their total, the reasons of those senders, their first reporters.
    """
    _check_queue_args(status, order, reason, page, per_page)
    if max_age_days is not None and not 0 <= max_age_days <= MAX_AGE_DAYS:
        raise InvalidInput("max_age_days", f"must be between 0 and {MAX_AGE_DAYS}")
    now = now_or_utcnow(now)
    conditions: list[ColumnElement[bool]] = [FlagReport.status.in_(_STATUS_FILTERS[status])]
    if status == "mine":
        conditions.append(FlagReport.assigned_to_id == viewer.id)
    if reason is not None:
        conditions.append(FlagReport.reason == reason)
    if max_age_days is not None:
        conditions.append(FlagReport.created_at >= now - timedelta(days=max_age_days))
    agg = (
        select(
            Message.sender_id.label("sender_id"),
            func.count(distinct(FlagReport.message_id)).label("item_count"),
            func.count().label("report_count"),
            func.count(distinct(FlagReport.reporter_id)).label("reporter_count"),
            func.min(FlagReport.created_at).label("first_reported_at"),
        )
        .select_from(FlagReport)
        .join(Message, Message.id == FlagReport.message_id)
        .where(*conditions)
        .group_by(Message.sender_id)
    )

    def ordering(c: Any) -> list[Any]:
        if order == "priority":
            return [c.report_count.desc(), c.item_count.desc(), c.first_reported_at, c.sender_id]
        return [c.first_reported_at, c.sender_id]

    agg_columns = agg.selected_columns
    ranked = (
        agg.add_columns(func.count().over().label("total"))
        .order_by(*ordering(agg_columns))
        .limit(per_page)
        .offset((page - 1) * per_page)
        .subquery("ranked")
    )
    page_query = (
        select(ranked, User.display_name, User.is_suspended, User.suspended_until)
        .join(User, User.id == ranked.c.sender_id)
        .order_by(*ordering(ranked.c))
    )
    async with read_transaction(session):
        rows = (await session.execute(page_query)).all()
        if rows:
            total = rows[0].total
        else:
            total = await session.scalar(select(func.count()).select_from(agg.subquery())) or 0
        senders = [row.sender_id for row in rows]
        reasons, reporters = await _group_details(session, senders, conditions)
    groups = [
        SenderGroup(
            sender_id=row.sender_id,
            sender_name=row.display_name,
            items=row.item_count,
            reports=row.report_count,
            reporter_count=row.reporter_count,
            reporter_names=reporters.get(row.sender_id, []),
            reasons=dict(
                sorted(reasons.get(row.sender_id, {}).items(), key=lambda kv: (-kv[1], kv[0]))
            ),
            first_reported_at=row.first_reported_at,
            suspended=row.is_suspended
            and (row.suspended_until is None or row.suspended_until > now),
        )
        for row in rows
    ]
    return SenderGroupPage(groups=groups, total=total, page=page, per_page=per_page)


GROUP_REPORTER_NAMES: Final = 3


async def _group_details(
    session: AsyncSession, senders: list[uuid.UUID], conditions: list[ColumnElement[bool]]
) -> tuple[dict[uuid.UUID, dict[str, int]], dict[uuid.UUID, list[str]]]:
    """The reasons (with their report counts) and the first few reporters of these senders'
    reports that meet ``conditions``: two queries."""
    if not senders:
        return {}, {}
    reasons: dict[uuid.UUID, dict[str, int]] = {}
    reason_query = (
        select(Message.sender_id, FlagReport.reason, func.count())
        .select_from(FlagReport)
        .join(Message, Message.id == FlagReport.message_id)
        .where(Message.sender_id.in_(senders), *conditions)
        .group_by(Message.sender_id, FlagReport.reason)
    )
    for sender_id, reason, n in (await session.execute(reason_query)).all():
        reasons.setdefault(sender_id, {})[reason] = n
    per_reporter = (
        select(
            Message.sender_id.label("sender_id"),
            FlagReport.reporter_id.label("reporter_id"),
            func.min(FlagReport.created_at).label("first_at"),
        )
        .select_from(FlagReport)
        .join(Message, Message.id == FlagReport.message_id)
        .where(Message.sender_id.in_(senders), *conditions)
        .group_by(Message.sender_id, FlagReport.reporter_id)
        .subquery("per_reporter")
    )
    numbered = select(
        per_reporter,
        func.row_number()
        .over(
            partition_by=per_reporter.c.sender_id,
            order_by=(per_reporter.c.first_at, per_reporter.c.reporter_id),
        )
        .label("n"),
    ).subquery("numbered")
    reporter_query = (
        select(numbered.c.sender_id, User.display_name)
        .join(User, User.id == numbered.c.reporter_id)
        .where(numbered.c.n <= GROUP_REPORTER_NAMES)
        .order_by(numbered.c.sender_id, numbered.c.n)
    )
    reporters: dict[uuid.UUID, list[str]] = {}
    for sender_id, name in (await session.execute(reporter_query)).all():
        reporters.setdefault(sender_id, []).append(name)
    return reasons, reporters


async def open_items_of_sender(session: AsyncSession, sender_id: uuid.UUID) -> list[uuid.UUID]:
    """The sender's messages with an open or claimed report, oldest report first."""
    query = (
        select(FlagReport.message_id)
        .join(Message, Message.id == FlagReport.message_id)
        .where(Message.sender_id == sender_id, FlagReport.status.in_(OPEN))
        .group_by(FlagReport.message_id)
        .order_by(func.min(FlagReport.created_at), FlagReport.message_id)
    )
    async with read_transaction(session):
        return list((await session.scalars(query)).all())
