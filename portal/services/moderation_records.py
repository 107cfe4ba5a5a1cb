"""What staff read about a report and a person: the report view, a user's history with the
timeline of moderation decisions (from the audit log), and the day's overview figures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
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

from portal.database import read_transaction
from portal.errors import InvalidInput, NotFound
from portal.models import (
    AuditEvent,
    EmailOutbox,
    FlagReport,
    Message,
    MessageBlock,
    MessageThread,
    ModerationDecision,
    ModeratorNote,
    RateLimitViolation,
    StaffUser,
    User,
)
from portal.models.base import utcnow
from portal.services.attachments import file_links
from portal.services.moderation_queue import item_state, reports_of_items
from portal.services.moderation_types import (
    DECISION_ACTIONS,
    OPEN,
    DecisionRecord,
    NoteView,
    Overview,
    ReportEntry,
    ReportView,
    SenderSummary,
    ThreadMessage,
    UserCounts,
    UserHistory,
    now_or_utcnow,
)
from portal.services.suspensions import suspended_now

TIMELINE_LIMIT: Final = 200
_STAFF_NAME = func.coalesce(StaffUser.display_name, StaffUser.email)


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
        files=file_links(row.attachments),
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
            Message.attachments,
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
            select(func.count())
            .select_from(FlagReport)
            .join(Message, Message.id == FlagReport.message_id)
            .where(Message.sender_id == user_id, FlagReport.status.in_(OPEN))
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
    user, sent, against, open_against, made, blocks, violations, removals, suspensions = row
    return user, UserCounts(
        sent=sent,
        reports_against=against,
        open_reports_against=open_against,
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
    return [note_view(note, name) for note, name in (await session.execute(query)).all()]


def note_view(note: ModeratorNote, author_name: str) -> NoteView:
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
    async with read_transaction(session):
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
        reports = (await reports_of_items(session, [message_id], None)).get(message_id, [])
        user, counts = await _user_with_counts(session, message.sender_id)
        earlier = await _timeline(session, message.sender_id, limit=50)
        notes = await _notes(session, ModeratorNote.message_id == message_id)
        overturned = await session.scalar(
            select(ModerationDecision.overturned)
            .where(
                ModerationDecision.message_id == message_id,
                ModerationDecision.overturned.is_not(None),
            )
            .order_by(ModerationDecision.created_at.desc())
            .limit(1)
        )
    state = item_state(reports)
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
            files=file_links(message.attachments),
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
            other_open_reports=counts.open_reports_against
            - sum(1 for r in reports if r.status in OPEN),
            removals=counts.removals,
            suspensions=counts.suspensions,
            violations=counts.violations,
            suspended=suspended_now(user, utcnow()),
            suspended_until=user.suspended_until if user.is_suspended else None,
        ),
        earlier_decisions=earlier,
        notes=notes,
        overturned=overturned,
    )


async def user_history(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime | None = None
) -> UserHistory:
    """A user's profile, status, counts, moderation timeline and notes; NotFound if unknown."""
    now = now_or_utcnow(now)
    their_messages = select(Message.id).where(Message.sender_id == user_id)
    async with read_transaction(session):
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
    now = now_or_utcnow(now)
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
            select(func.count(RateLimitViolation.id)).where(
                RateLimitViolation.last_attempt_at >= today
            )
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
    async with read_transaction(session):
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
