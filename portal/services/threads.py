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

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.attributes import set_committed_value

from portal.audit import Actor, record_event
from portal.database import write_transaction
from portal.errors import Forbidden, NotFound
from portal.events import publish as events
from portal.models import FlagReport, Message, MessageThread, User
from portal.models.base import utcnow
from portal.models.rows import MessageRow, ParticipantRow, ThreadAccessRow, ThreadRow
from portal.prepared import Prepared
from portal.principals import Participant
from portal.services import inbox_totals, retaliation

DEFAULT_THREAD_PAGE_SIZE = 20
DEFAULT_MESSAGE_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


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


def deleted_by(thread: ThreadAccessRow, role: str) -> datetime | None:
    """When this participant last deleted the thread: their view holds only later messages."""
    return thread.deleted_by_employer_at if role == "employer" else thread.deleted_by_candidate_at


def visible_to(thread: ThreadAccessRow, role: str) -> bool:
    """Whether the thread is in this participant's view: not deleted, or new messages since."""
    if thread.is_deleted:
        return False
    cutoff = deleted_by(thread, role)
    return cutoff is None or (
        thread.last_message_at is not None and thread.last_message_at > cutoff
    )


def message_visible_to(message: MessageRow, thread: ThreadAccessRow, role: str) -> bool:
    if message.is_deleted or thread.is_deleted:
        return False
    cutoff = deleted_by(thread, role)
    return cutoff is None or message.created_at > cutoff


def totals_share(thread: ThreadRow, role: str) -> inbox_totals.Share:
    """What the thread adds to the inbox totals of its participant in ``role``."""
    if role == "employer":
        archived, unread = thread.archived_by_employer, thread.unread_count_employer
    else:
        archived, unread = thread.archived_by_candidate, thread.unread_count_candidate
    return inbox_totals.share(visible=visible_to(thread, role), archived=archived, unread=unread)


def role_in(thread: ThreadAccessRow, user_id: uuid.UUID) -> str | None:
    if thread.employer_id == user_id:
        return "employer"
    if thread.candidate_id == user_id:
        return "candidate"
    return None


@dataclass(frozen=True)
class ThreadView:
    """A thread as one participant sees it: their counter, their archive flag, the other person."""

    thread: ThreadRow  # a MessageThread, or a row of a hot read
    viewer_id: uuid.UUID
    other: ParticipantRow

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
    messages: list[MessageRow]
    total_messages: int
    page: int
    limit: int
    # The reason of the viewer's own report on each message of the page they reported.
    own_reports: dict[uuid.UUID, str]
    # The cursor (``after``) for the next page: the last message of this one, if more follow.
    next_after: uuid.UUID | None = None


@dataclass(frozen=True)
class UnreadSummary:
    unread_count: int
    unread_threads: int


async def access_thread(
    session: AsyncSession, user: Participant, thread_id: uuid.UUID, *, for_update: bool = False
) -> ThreadView:
    """The thread with the other participant, or NotFound (unknown, or deleted for this user
    with nothing new since) or Forbidden (not a participant).

    ``for_update`` locks the thread row on PostgreSQL (SQLite renders no lock: its write
    transaction already serialises), so that a change decided on what was read cannot race
    another one.
    """
    thread, other = await _thread_with_other(session, user, thread_id, for_update=for_update)
    return ThreadView(thread=thread, viewer_id=user.id, other=other)


async def _thread_with_other(
    session: AsyncSession, user: Participant, thread_id: uuid.UUID, *, for_update: bool
) -> tuple[MessageThread, User]:
    """:func:`access_thread`'s thread as an entity (to be changed), with the other participant."""
    other_id = case(
        (MessageThread.employer_id == user.id, MessageThread.candidate_id),
        else_=MessageThread.employer_id,
    )
    query = select(MessageThread, User).join(User, User.id == other_id)
    query = query.where(MessageThread.id == thread_id)
    if for_update:
        query = query.with_for_update(of=MessageThread, key_share=True)
    result = await session.execute(query.execution_options(populate_existing=True))
    row = result.tuples().first()
    if row is None:
        raise NotFound(f"thread {thread_id} does not exist")
    _viewer_role(row[0], user.id, thread_id)
    return row


def _viewer_role(thread: ThreadAccessRow | None, user_id: uuid.UUID, thread_id: uuid.UUID) -> str:
    """The user's role in the thread they ask for, or NotFound (unknown, or deleted for them
    with nothing new since) or Forbidden (not a participant)."""
    if thread is None or thread.is_deleted:
        raise NotFound(f"thread {thread_id} does not exist")
    role = role_in(thread, user_id)
    if role is None:
        raise Forbidden(f"you are not a participant in thread {thread_id}")
    if not visible_to(thread, role):
        raise NotFound(f"thread {thread_id} does not exist")
    return role


# The hot reads below are Core statements built once per variant (role, filters) with bound
# parameters: no ORM loading, and SQLAlchemy's cache key is computed once per statement object.
_threads = MessageThread.__table__
_messages = Message.__table__
_reports = FlagReport.__table__
_other = User.__table__.alias("other")
_OTHER_COLUMNS = (
    _other.c.id.label("other_id"),
    _other.c.display_name.label("other_display_name"),
    _other.c.role.label("other_role"),
)


@dataclass(frozen=True, slots=True)
class ThreadAccess:
    """What deciding a participant's access to a thread needs of its row."""

    id: uuid.UUID
    employer_id: uuid.UUID
    candidate_id: uuid.UUID
    is_deleted: bool
    last_message_at: datetime | None
    deleted_by_employer_at: datetime | None
    deleted_by_candidate_at: datetime | None


_ACCESS_COLUMNS = tuple(ThreadAccess.__dataclass_fields__)


@functools.cache
def _message_statement(lock_thread: bool) -> Prepared:
    """A message (every column) with its thread's access columns, prefixed ``t_``."""
    query = (
        select(*_messages.c, *(_threads.c[name].label(f"t_{name}") for name in _ACCESS_COLUMNS))
        .join_from(_messages, _threads, _threads.c.id == _messages.c.thread_id)
        .where(_messages.c.id == bindparam("message_id"))
    )
    if lock_thread:
        query = query.with_for_update(of=_threads, key_share=True)
    return Prepared(query)


async def access_message(
    session: AsyncSession, user: Participant, message_id: uuid.UUID, *, lock_thread: bool = False
) -> tuple[MessageRow, ThreadAccess]:
    """A message (a row with every column of it) in the user's view of a thread they take part
    in, with its thread's access columns; or NotFound or Forbidden.

    ``lock_thread`` locks the thread row on PostgreSQL first, so that a change to its counters
    decided on this visibility cannot race the thread's deletion.
    """
    row = await _message_statement(lock_thread).first(session, {"message_id": message_id})
    if row is None:
        raise NotFound(f"message {message_id} does not exist")
    thread = ThreadAccess(*row[-len(_ACCESS_COLUMNS) :])  # the t_ columns come last
    if row.is_deleted or thread.is_deleted:
        raise NotFound(f"message {message_id} does not exist")
    role = role_in(thread, user.id)
    if role is None:
        raise Forbidden(f"you are not a participant in the thread of message {message_id}")
    if not message_visible_to(row, thread, role):
        raise NotFound(f"message {message_id} does not exist")
    return row, thread


@dataclass(frozen=True, slots=True)
class OtherParticipant:
    """The other person of a thread, as a participant is shown them."""

    id: uuid.UUID
    display_name: str
    role: str


class _OtherColumns(Protocol):
    """The other participant's columns of a hot read's row (``_OTHER_COLUMNS``)."""

    @property
    def other_id(self) -> uuid.UUID: ...
    @property
    def other_display_name(self) -> str: ...
    @property
    def other_role(self) -> str: ...


class _ThreadWithOther(ThreadRow, _OtherColumns, Protocol):
    """A row of every thread column and the other participant's (``_thread_statement``)."""


def _other_of(row: _OtherColumns) -> OtherParticipant:
    return OtherParticipant(row.other_id, row.other_display_name, row.other_role)


def _visible_sql(role: str) -> list[ColumnElement[bool]]:
    """The SQL of :func:`visible_to` for the user bound as ``me`` in ``role``: their live threads
    they have not deleted, or that have had messages since they did."""
    cutoff = _threads.c[f"deleted_by_{role}_at"]
    return [
        _threads.c[f"{role}_id"] == bindparam("me"),
        _threads.c.is_deleted.is_(False),
        or_(cutoff.is_(None), _threads.c.last_message_at > cutoff),
    ]


@functools.cache
def _inbox_statement(
    role: str, by_application: bool, unread_only: bool, archived: bool
) -> Prepared:
    """One statement for an inbox page: the caller's totals (every row carries them: their
    ``inbox_totals`` row, or a count of an application's threads) left-joined with one page of
    threads and their other participants, so an empty page still has a row."""
    t = _threads
    unread = t.c[f"unread_count_{role}"]
    filters: list[ColumnElement[bool]] = [t.c[f"archived_by_{role}"].is_(archived)]
    if by_application:
        filters.append(t.c.application_id == bindparam("application_id"))
    if unread_only:
        filters.append(unread > 0)
    visible = _visible_sql(role)
    if by_application:
        # An application's threads are few: counted, the unread total read from the row.
        unread_total = inbox_totals.figures_of_user("unread_messages").scalar_subquery()
        totals = (
            select(
                func.count().label("total"),
                unread_total.label("unread_total"),
            )
            .where(*visible, *filters)
            .subquery("totals")
        )
    else:
        place = "archived" if archived else "inbox"
        figure = f"unread_{place}_threads" if unread_only else f"{place}_threads"
        row = inbox_totals.figures_of_user(figure, "unread_messages").subquery("row")
        totals = select(
            row.c[figure].label("total"), row.c.unread_messages.label("unread_total")
        ).subquery("totals")
    other_side = "candidate" if role == "employer" else "employer"
    page = (
        select(*t.c, *_OTHER_COLUMNS)
        .join_from(t, _other, _other.c.id == t.c[f"{other_side}_id"])
        .where(*visible, *filters)
        .order_by(t.c.last_message_at.desc().nulls_last(), t.c.created_at.desc(), t.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
        .subquery("page")
    )
    return Prepared(
        select(totals, page)
        .select_from(totals.outerjoin(page, true()))
        .order_by(
            page.c.last_message_at.desc().nulls_last(), page.c.created_at.desc(), page.c.id.desc()
        )
    )


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
    statement = _inbox_statement(user.role, application_id is not None, unread_only, archived)
    rows = await statement.all_standalone(
        session,
        {
            "me": user.id,
            "application_id": application_id,
            "limit": limit,
            "offset": (page - 1) * limit,
        },
    )
    return ThreadPage(
        threads=[
            ThreadView(thread=row, viewer_id=user.id, other=_other_of(row))
            for row in rows
            if row.id is not None
        ],
        total=int(rows[0].total),
        page=page,
        limit=limit,
        unread_count=int(rows[0].unread_total),
    )


@functools.cache
def _thread_statement() -> Prepared:
    """A thread with the other participant of the user bound as ``me``."""
    t = _threads
    other_id = case((t.c.employer_id == bindparam("me"), t.c.candidate_id), else_=t.c.employer_id)
    return Prepared(
        select(*t.c, *_OTHER_COLUMNS)
        .join_from(t, _other, _other.c.id == other_id)
        .where(t.c.id == bindparam("thread_id"))
    )


def _in_view(messages: Any, since_deletion: bool) -> list[ColumnElement[bool]]:
    """The messages of the thread bound as ``thread_id`` in the caller's view: not deleted, and
    after their own deletion of the thread (bound as ``cutoff``) if ``since_deletion``."""
    visible: list[ColumnElement[bool]] = [
        messages.c.thread_id == bindparam("thread_id"),
        messages.c.is_deleted.is_(False),
    ]
    if since_deletion:
        visible.append(messages.c.created_at > bindparam("cutoff", type_=Message.created_at.type))
    return visible


@functools.cache
def _message_page_statement(since_deletion: bool, after_cursor: bool) -> Prepared:
    """One page of a thread's messages in the caller's view, each with the caller's own report
    and the view's message count (an uncorrelated subquery: evaluated once). With
    ``after_cursor``, the messages after the one bound as ``after`` (read from the index, however
    deep), instead of an OFFSET."""
    m = _messages
    visible = _in_view(m, since_deletion)
    total = select(func.count()).select_from(m).where(*visible).scalar_subquery()
    own_report = and_(_reports.c.message_id == m.c.id, _reports.c.reporter_id == bindparam("me"))
    source = m.outerjoin(_reports, own_report)
    query = select(*m.c, _reports.c.reason.label("own_report"), total.label("total_messages"))
    if after_cursor:
        # The cursor's time as a subquery evaluated once, so that the row comparison is an index
        # condition (a range of the thread's index), not a filter over the rows before it; a
        # cursor outside the caller's view gives NULL, so no rows (and a 404 from the caller).
        cursor = _messages.alias("cursor")
        in_view = [cursor.c.id == bindparam("after"), *_in_view(cursor, since_deletion)]
        cursor_time = select(cursor.c.created_at).where(*in_view).scalar_subquery()
        visible.append(tuple_(m.c.created_at, m.c.id) > tuple_(cursor_time, bindparam("after")))
    return Prepared(
        query.select_from(source)
        .where(*visible)
        .order_by(m.c.created_at, m.c.id)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )


async def thread_detail(
    session: AsyncSession,
    user: Participant,
    thread_id: uuid.UUID,
    *,
    page: int = 1,
    limit: int = DEFAULT_MESSAGE_PAGE_SIZE,
    after: uuid.UUID | None = None,
) -> ThreadDetail:
    """One page of the user's view of a thread, oldest first: deleted messages and those from
    before the user's own deletion of the thread are left out.

    ``after`` (a message in the user's view of the thread) starts the pages after that message,
    read from the index however deep it is (``page`` then counts from there); ``next_after`` of
    the answer is the cursor for the page after this one. NotFound for an ``after`` outside the
    user's view.
    """
    rows = await _thread_statement().all_standalone(
        session, {"me": user.id, "thread_id": thread_id}
    )
    thread: _ThreadWithOther | None = rows[0] if rows else None
    role = _viewer_role(thread, user.id, thread_id)
    assert thread is not None  # _viewer_role raised NotFound
    view = ThreadView(thread=thread, viewer_id=user.id, other=_other_of(thread))
    cutoff = deleted_by(thread, role)
    params = {
        "thread_id": thread_id,
        "me": user.id,
        "cutoff": cutoff,
        "after": after,
        "limit": limit + 1,  # one more tells whether a next page exists
        "offset": (page - 1) * limit,
    }
    statement = _message_page_statement(cutoff is not None, after is not None)
    messages = await statement.all_standalone(session, params)
    if messages:
        total = int(messages[0].total_messages)
    else:
        total = await _count_past_the_end(session, thread_id, cutoff, after, page)
    more = len(messages) > limit
    del messages[limit:]
    return ThreadDetail(
        view=view,
        messages=messages,
        total_messages=total,
        page=page,
        limit=limit,
        own_reports={row.id: row.own_report for row in messages if row.own_report is not None},
        next_after=messages[-1].id if more else None,
    )


@functools.cache
def _count_statement(since_deletion: bool) -> Prepared:
    """The view's message count, and whether the message bound as ``after`` is in the view."""
    m = _messages
    visible = _in_view(m, since_deletion)
    count = select(func.count()).select_from(m).where(*visible).scalar_subquery()
    cursor_in_view = select(m.c.id).where(m.c.id == bindparam("after"), *visible).exists()
    return Prepared(select(count.label("total"), cursor_in_view.label("cursor_in_view")))


async def _count_past_the_end(
    session: AsyncSession,
    thread_id: uuid.UUID,
    cutoff: datetime | None,
    after: uuid.UUID | None,
    page: int,
) -> int:
    """The view's message count when a page came back empty (its rows carry the count
    otherwise); NotFound when ``after`` is not a message in the view."""
    if after is None and page == 1:
        return 0
    params = {"thread_id": thread_id, "cutoff": cutoff, "after": after}
    row = (await _count_statement(cutoff is not None).all_standalone(session, params))[0]
    if after is not None and not row.cursor_in_view:
        raise NotFound(f"after: message {after} is not in your view of thread {thread_id}")
    return int(row.total)


_UNREAD: Final = Prepared(
    inbox_totals.figures_of_user(
        "unread_messages", "unread_inbox_threads", "unread_archived_threads"
    )
)


async def unread_summary(session: AsyncSession, user: Participant) -> UnreadSummary:
    """The user's unread messages and threads (inbox and archive): their totals row."""
    rows = await _UNREAD.all_standalone(session, {"me": user.id})
    count, in_inbox, in_archive = rows[0]
    return UnreadSummary(unread_count=int(count), unread_threads=int(in_inbox) + int(in_archive))


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
        thread, other = await _thread_with_other(session, user, thread_id, for_update=True)
        view = ThreadView(thread=thread, viewer_id=user.id, other=other)
        if view.is_archived != archived:
            before = totals_share(thread, view.viewer_role)
            await _write_participant_change(
                session, thread, {archived_column(view.viewer_role): archived}
            )
            after = totals_share(thread, view.viewer_role)
            await inbox_totals.apply(session, {user.id: after.minus(before)})
            await record_event(
                session,
                actor=Actor.user(user.id),
                action="thread.archived" if archived else "thread.unarchived",
                subject_type="thread",
                subject_id=thread_id,
                thread_id=thread_id,
                details={"role": view.viewer_role},
            )
            events.thread_archived(session, user=user, thread_id=thread_id, archived=archived)
    return view


async def delete_thread(session: AsyncSession, user: Participant, thread_id: uuid.UUID) -> None:
    """Deletes the thread for this user only: it leaves their list and unread count, and its
    messages so far leave their view for good; the other participant keeps it all. Kept for
    audit. A suspended user may delete too: it hides the thread from themselves only."""
    async with write_transaction(session):
        thread, other = await _thread_with_other(session, user, thread_id, for_update=True)
        role = ThreadView(thread=thread, viewer_id=user.id, other=other).viewer_role
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
        before = {role: totals_share(thread, role) for role in ("employer", "candidate")}
        await _write_participant_change(session, thread, changes)
        await inbox_totals.apply(
            session,
            {
                thread.employer_id: totals_share(thread, "employer").minus(before["employer"]),
                thread.candidate_id: totals_share(thread, "candidate").minus(before["candidate"]),
            },
        )
        await record_event(
            session,
            actor=Actor.user(user.id),
            action="thread.deleted",
            subject_type="thread",
            subject_id=thread_id,
            thread_id=thread_id,
            details={"role": role, "deleted_for_both": for_both, "deleted_at": now},
        )
        await retaliation.on_thread_deleted(session, thread, deleted_by=user.id)
        events.thread_deleted(session, user=user, thread_id=thread_id)
