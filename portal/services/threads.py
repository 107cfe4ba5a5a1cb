"""Threads as a participant sees them: access checks, the inbox, one thread's messages,
unread counts, and the per-participant archive and delete.

Each participant has their own unread counter, archive flag and deletion time on the thread row;
which columns are theirs follows from their role, which never changes once provisioned.

Deleting is per participant. The deleter's view of the thread then holds only messages sent after
their deletion: none at first, so the thread is gone for them (404, as for a thread that does not
exist), and a new message in either direction brings the same thread back with just that message.
The other participant keeps everything, and staff and the audit log see all. Once both have
deleted, the thread is deleted outright (``is_deleted``) and the pair's next message starts a new
thread.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.attributes import set_committed_value

from portal.audit import Actor, record_event
from portal.database import is_sqlite, read_transaction, write_transaction
from portal.errors import Forbidden, NotFound
from portal.models import FlagReport, Message, MessageThread, User
from portal.models.base import utcnow
from portal.principals import Participant

DEFAULT_THREAD_PAGE_SIZE = 20
DEFAULT_MESSAGE_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


def participant_column(role: str) -> InstrumentedAttribute[uuid.UUID]:
    return MessageThread.employer_id if role == "employer" else MessageThread.candidate_id


def other_participant_column(role: str) -> InstrumentedAttribute[uuid.UUID]:
    return MessageThread.candidate_id if role == "employer" else MessageThread.employer_id


def unread_column(role: str) -> InstrumentedAttribute[int]:
    return (
        MessageThread.unread_count_employer
        if role == "employer"
        else MessageThread.unread_count_candidate
    )


def archived_column(role: str) -> InstrumentedAttribute[bool]:
    return (
        MessageThread.archived_by_employer
        if role == "employer"
        else MessageThread.archived_by_candidate
    )


def deleted_by_column(role: str) -> InstrumentedAttribute[datetime | None]:
    return (
        MessageThread.deleted_by_employer_at
        if role == "employer"
        else MessageThread.deleted_by_candidate_at
    )


def deleted_by(thread: MessageThread, role: str) -> datetime | None:
    """When this participant last deleted the thread: their view holds only later messages."""
    return thread.deleted_by_employer_at if role == "employer" else thread.deleted_by_candidate_at


def visible_to(thread: MessageThread, role: str) -> bool:
    """Whether the thread is in this participant's view: not deleted, or new messages since."""
    if thread.is_deleted:
        return False
    cutoff = deleted_by(thread, role)
    return cutoff is None or (
        thread.last_message_at is not None and thread.last_message_at > cutoff
    )


def message_visible_to(message: Message, thread: MessageThread, role: str) -> bool:
    if message.is_deleted or thread.is_deleted:
        return False
    cutoff = deleted_by(thread, role)
    return cutoff is None or message.created_at > cutoff


def role_in(thread: MessageThread, user_id: uuid.UUID) -> str | None:
    if thread.employer_id == user_id:
        return "employer"
    if thread.candidate_id == user_id:
        return "candidate"
    return None


@dataclass(frozen=True)
class ThreadView:
    """A thread as one participant sees it: their counter, their archive flag, the other person."""

    thread: MessageThread
    viewer_id: uuid.UUID
    other: User

    @property
    def viewer_role(self) -> str:
        return "employer" if self.thread.employer_id == self.viewer_id else "candidate"

    @property
    def unread_count(self) -> int:
        thread = self.thread
        if self.viewer_role == "employer":
            return thread.unread_count_employer
        return thread.unread_count_candidate

    @property
    def is_archived(self) -> bool:
        thread = self.thread
        if self.viewer_role == "employer":
            return thread.archived_by_employer
        return thread.archived_by_candidate


@dataclass(frozen=True)
class ThreadPage:
    threads: list[ThreadView]
    total: int
    page: int
    limit: int
    unread_count: int


@dataclass(frozen=True)
class ThreadDetail:
    view: ThreadView
    messages: list[Message]
    total_messages: int
    page: int
    limit: int
    # The reason of the viewer's own report on each message of the page they reported.
    own_reports: dict[uuid.UUID, str]


@dataclass(frozen=True)
class UnreadSummary:
    unread_count: int
    unread_threads: int


def _threads_visible_to(user: Participant) -> list[ColumnElement[bool]]:
    """The SQL of :func:`visible_to`: the user's live threads they have not deleted, or that
    have had messages since they did."""
    cutoff = deleted_by_column(user.role)
    return [
        participant_column(user.role) == user.id,
        MessageThread.is_deleted.is_(False),
        or_(cutoff.is_(None), MessageThread.last_message_at > cutoff),
    ]


async def access_thread(
    session: AsyncSession, user: Participant, thread_id: uuid.UUID, *, for_update: bool = False
) -> ThreadView:
    """The thread with the other participant, or NotFound (unknown, or deleted for this user
    with nothing new since) or Forbidden (not a participant).

    ``for_update`` locks the thread row on PostgreSQL (SQLite's write transaction already
    serialises), so that a change decided on what was read cannot race another one.
    """
    other_id = case(
        (MessageThread.employer_id == user.id, MessageThread.candidate_id),
        else_=MessageThread.employer_id,
    )
    query = select(MessageThread, User).join(User, User.id == other_id)
    query = query.where(MessageThread.id == thread_id)
    if for_update and not is_sqlite(session):
        query = query.with_for_update(of=MessageThread, key_share=True)
    row = (await session.execute(query.execution_options(populate_existing=True))).first()
    if row is None or row[0].is_deleted:
        raise NotFound(f"thread {thread_id} does not exist")
    thread, other = row
    role = role_in(thread, user.id)
    if role is None:
        raise Forbidden(f"you are not a participant in thread {thread_id}")
    if not visible_to(thread, role):
        raise NotFound(f"thread {thread_id} does not exist")
    return ThreadView(thread=thread, viewer_id=user.id, other=other)


async def access_message(
    session: AsyncSession, user: Participant, message_id: uuid.UUID, *, lock_thread: bool = False
) -> tuple[Message, MessageThread]:
    """A message in the user's view of a thread they take part in, or NotFound or Forbidden.

    ``lock_thread`` locks the thread row on PostgreSQL first, so that a change to its counters
    decided on this visibility cannot race the thread's deletion.
    """
    query = (
        select(Message, MessageThread)
        .join(MessageThread, MessageThread.id == Message.thread_id)
        .where(Message.id == message_id)
    )
    if lock_thread and not is_sqlite(session):
        query = query.with_for_update(of=MessageThread, key_share=True)
    row = (await session.execute(query.execution_options(populate_existing=True))).first()
    if row is None or row[0].is_deleted or row[1].is_deleted:
        raise NotFound(f"message {message_id} does not exist")
    message, thread = row
    role = role_in(thread, user.id)
    if role is None:
        raise Forbidden(f"you are not a participant in the thread of message {message_id}")
    if not message_visible_to(message, thread, role):
        raise NotFound(f"message {message_id} does not exist")
    return message, thread


async def list_threads(
    session: AsyncSession,
    user: Participant,
    *,
    application_id: uuid.UUID | None = None,
    unread_only: bool = False,
    archived: bool = False,
    page: int = 1,
    limit: int = DEFAULT_THREAD_PAGE_SIZE,
) -> ThreadPage:
    """The threads in the user's view, newest activity first; ``archived`` picks the archive
    instead of the inbox. ``unread_count`` is over all of them, whatever the filters."""
    unread = unread_column(user.role)
    filters: list[ColumnElement[bool]] = [archived_column(user.role).is_(archived)]
    if application_id is not None:
        filters.append(MessageThread.application_id == application_id)
    if unread_only:
        filters.append(unread > 0)
    async with read_transaction(session):
        total, unread_total = (
            await session.execute(
                select(
                    func.coalesce(func.sum(case((and_(*filters), 1), else_=0)), 0),
                    func.coalesce(func.sum(unread), 0),
                ).where(*_threads_visible_to(user))
            )
        ).one()
        rows = (
            await session.execute(
                select(MessageThread, User)
                .join(User, User.id == other_participant_column(user.role))
                .where(*_threads_visible_to(user), *filters)
                .order_by(
                    MessageThread.last_message_at.desc().nulls_last(),
                    MessageThread.created_at.desc(),
                    MessageThread.id.desc(),
                )
                .limit(limit)
                .offset((page - 1) * limit)
            )
        ).all()
    return ThreadPage(
        threads=[ThreadView(thread=t, viewer_id=user.id, other=other) for t, other in rows],
        total=int(total),
        page=page,
        limit=limit,
        unread_count=int(unread_total),
    )


async def thread_detail(
    session: AsyncSession,
    user: Participant,
    thread_id: uuid.UUID,
    *,
    page: int = 1,
    limit: int = DEFAULT_MESSAGE_PAGE_SIZE,
) -> ThreadDetail:
    """One page of the user's view of a thread, oldest first: deleted messages and those from
    before the user's own deletion of the thread are left out."""
    async with read_transaction(session):
        view = await access_thread(session, user, thread_id)
        visible = [Message.thread_id == thread_id, Message.is_deleted.is_(False)]
        cutoff = deleted_by(view.thread, view.viewer_role)
        if cutoff is not None:
            visible.append(Message.created_at > cutoff)
        total = await session.scalar(select(func.count()).select_from(Message).where(*visible))
        own_report = and_(FlagReport.message_id == Message.id, FlagReport.reporter_id == user.id)
        rows = (
            await session.execute(
                select(Message, FlagReport.reason)
                .outerjoin(FlagReport, own_report)
                .where(*visible)
                .order_by(Message.created_at, Message.id)
                .limit(limit)
                .offset((page - 1) * limit)
            )
        ).all()
    return ThreadDetail(
        view=view,
        messages=[message for message, _ in rows],
        total_messages=total or 0,
        page=page,
        limit=limit,
        own_reports={message.id: reason for message, reason in rows if reason is not None},
    )


async def unread_summary(session: AsyncSession, user: Participant) -> UnreadSummary:
    unread = unread_column(user.role)
    async with read_transaction(session):
        count, threads = (
            await session.execute(
                select(
                    func.coalesce(func.sum(unread), 0),
                    func.coalesce(func.sum(case((unread > 0, 1), else_=0)), 0),
                ).where(*_threads_visible_to(user))
            )
        ).one()
    return UnreadSummary(unread_count=int(count), unread_threads=int(threads))


async def _write_participant_change(
    session: AsyncSession, thread: MessageThread, values: dict[InstrumentedAttribute[Any], Any]
) -> None:
    """Writes what one participant's archive or delete changes on the thread, leaving
    ``updated_at`` as it is: both participants are shown it, and one participant archiving or
    deleting is not the other's business."""
    await session.execute(
        update(MessageThread)
        .where(MessageThread.id == thread.id)
        .values({**values, MessageThread.updated_at: MessageThread.updated_at})
        .execution_options(synchronize_session=False)
    )
    for column, value in values.items():
        set_committed_value(thread, column.key, value)


async def archive_thread(
    session: AsyncSession, user: Participant, thread_id: uuid.UUID, *, archived: bool = True
) -> ThreadView:
    """Archives (or brings back) the thread for this user only."""
    async with write_transaction(session):
        view = await access_thread(session, user, thread_id, for_update=True)
        if view.is_archived != archived:
            await _write_participant_change(
                session, view.thread, {archived_column(view.viewer_role): archived}
            )
            await record_event(
                session,
                actor=Actor.user(user.id),
                action="thread.archived" if archived else "thread.unarchived",
                subject_type="thread",
                subject_id=thread_id,
                thread_id=thread_id,
                details={"role": view.viewer_role},
            )
    return view


async def delete_thread(session: AsyncSession, user: Participant, thread_id: uuid.UUID) -> None:
    """Deletes the thread for this user only: it leaves their list and unread count, and its
    messages so far leave their view for good; the other participant keeps it all. Kept for
    audit. A suspended user may delete too: it hides the thread from themselves only."""
    async with write_transaction(session):
        view = await access_thread(session, user, thread_id, for_update=True)
        thread, role = view.thread, view.viewer_role
        # Never before the last message, whatever the clock of the process that wrote it, so
        # that every message so far is hidden (and the counter below is right to be zero).
        now = max(utcnow(), thread.last_message_at or datetime.min.replace(tzinfo=UTC))
        for_both = not visible_to(thread, "candidate" if role == "employer" else "employer")
        changes: dict[InstrumentedAttribute[Any], Any] = {
            deleted_by_column(role): now,
            unread_column(role): 0,
            # Brought back by a new message, it returns to the inbox, not to the archive.
            archived_column(role): False,
        }
        if for_both:
            changes.update({MessageThread.is_deleted: True, MessageThread.deleted_at: now})
        await _write_participant_change(session, thread, changes)
        await record_event(
            session,
            actor=Actor.user(user.id),
            action="thread.deleted",
            subject_type="thread",
            subject_id=thread_id,
            thread_id=thread_id,
            details={"role": role, "deleted_for_both": for_both},
        )
