"""Staff search: people by name, email or id; threads by subject, id or either participant;
messages by their text (or id). One page of results, each section capped.

A message matches when it holds every word of the query: on PostgreSQL in full text
(``to_tsvector('simple', body)``, the GIN index of migration 0011), each word as a prefix; on
SQLite each word with a LIKE. Names and emails hold the whole query (case-insensitive) on both.
User input never reaches a pattern unescaped: ``%`` and ``_`` match themselves.

Three statements whatever the database holds (users, threads, messages), each limited. Message
matches are taken from the index first, then the latest of them (see ``messages_query``).
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, and_, exists, func, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from portal.database import read_transaction
from portal.models import FlagReport, Message, MessageThread, User

MAX_QUERY: Final = 200
USERS_SHOWN: Final = 20
THREADS_SHOWN: Final = 20
MESSAGES_SHOWN: Final = 30
SNIPPET: Final = 180
_WORD = re.compile(r"\w+")
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class UserHit:
    id: uuid.UUID
    display_name: str
    email: str
    role: str
    is_suspended: bool


@dataclass(frozen=True)
class ThreadHit:
    id: uuid.UUID
    subject: str | None
    employer_id: uuid.UUID
    employer_name: str
    candidate_id: uuid.UUID
    candidate_name: str
    last_message_at: datetime | None
    is_deleted: bool


@dataclass(frozen=True)
class MessageHit:
    id: uuid.UUID
    thread_id: uuid.UUID
    sender_id: uuid.UUID
    sender_name: str
    recipient_id: uuid.UUID
    recipient_name: str
    snippet: str
    created_at: datetime
    is_removed: bool
    is_deleted: bool
    reported: bool  # has reports: its page is the report page


@dataclass(frozen=True)
class SearchResults:
    query: str
    users: list[UserHit] = field(default_factory=list)
    threads: list[ThreadHit] = field(default_factory=list)
    messages: list[MessageHit] = field(default_factory=list)
    # Whether a section had more than it shows.
    more_users: bool = False
    more_threads: bool = False
    more_messages: bool = False

    @property
    def empty(self) -> bool:
        return not (self.users or self.threads or self.messages)


def normalise(query: str) -> str:
    """The query as searched: whitespace collapsed, at most ``MAX_QUERY`` characters."""
    return " ".join(query.split())[:MAX_QUERY]


def like_pattern(query: str) -> str:
    """``%query%`` for ``LIKE ... ESCAPE '\\'``, the query's own ``\\``, ``%`` and ``_`` escaped."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(column: Any, query: str) -> ColumnElement[bool]:
    return column.ilike(like_pattern(query), escape="\\")  # type: ignore[no-any-return]


def _as_id(query: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(query)
    except ValueError:
        return None


def _matching_users(query: str, as_id: uuid.UUID | None) -> ColumnElement[bool]:
    conditions = [_contains(User.display_name, query), _contains(User.email, query)]
    if as_id is not None:
        conditions.append(User.id == as_id)
    return or_(*conditions)


def _text_match(dialect: str, query: str) -> ColumnElement[bool] | None:
    """Message text matching the query, or None when it has nothing to search for."""
    if dialect == "postgresql":
        words = _WORD.findall(query)
        if not words:
            return None
        # \w+ words only, so nothing of to_tsquery's syntax comes from the user.
        terms = " & ".join(f"{word}:*" for word in words)
        return func.to_tsvector(text("'simple'::regconfig"), Message.body).bool_op("@@")(
            func.to_tsquery(text("'simple'::regconfig"), literal(terms))
        )
    return and_(*(_contains(Message.body, word) for word in query.split()))


def snippet(body: str, body_format: str, query: str, width: int = SNIPPET) -> str:
    """Up to ``width`` characters of the body's text around the first word of the query found in
    it (from the start when none is); HTML bodies as their text."""
    plain = body
    if body_format == "html":
        plain = html.unescape(_TAG.sub(" ", body))
    plain = " ".join(plain.split())
    if len(plain) <= width:
        return plain
    lowered = plain.lower()
    found = -1
    for word in [query, *_WORD.findall(query)]:
        found = lowered.find(word.lower()) if word else -1
        if found >= 0:
            break
    start = max(0, min(found - width // 3, len(plain) - width)) if found >= 0 else 0
    cut = plain[start : start + width]
    return ("…" if start else "") + cut + ("…" if start + width < len(plain) else "")


def users_query(query: str, as_id: uuid.UUID | None, limit: int) -> Select[Any]:
    return (
        select(User.id, User.display_name, User.email, User.role, User.is_suspended)
        .where(_matching_users(query, as_id))
        .order_by(User.display_name, User.id)
        .limit(limit + 1)
    )


def threads_query(query: str, as_id: uuid.UUID | None, limit: int) -> Select[Any]:
    employer = aliased(User, name="employer")
    candidate = aliased(User, name="candidate")
    people = select(User.id).where(_matching_users(query, as_id))
    conditions = [
        _contains(MessageThread.subject, query),
        MessageThread.employer_id.in_(people),
        MessageThread.candidate_id.in_(people),
    ]
    if as_id is not None:
        conditions.append(MessageThread.id == as_id)
    return (
        select(
            MessageThread.id,
            MessageThread.subject,
            MessageThread.employer_id,
            employer.display_name.label("employer_name"),
            MessageThread.candidate_id,
            candidate.display_name.label("candidate_name"),
            MessageThread.last_message_at,
            MessageThread.is_deleted,
        )
        .join(employer, employer.id == MessageThread.employer_id)
        .join(candidate, candidate.id == MessageThread.candidate_id)
        .where(or_(*conditions))
        .order_by(
            MessageThread.last_message_at.desc().nulls_last(),
            MessageThread.created_at.desc(),
            MessageThread.id,
        )
        .limit(limit + 1)
    )


def messages_query(
    dialect: str, query: str, as_id: uuid.UUID | None, limit: int
) -> Select[Any] | None:
    conditions: list[ColumnElement[bool]] = []
    words = _text_match(dialect, query)
    if words is not None:
        conditions.append(and_(words, Message.purged_at.is_(None)))
    if as_id is not None:
        conditions.append(Message.id == as_id)
    if not conditions:
        return None
    # The matches first, then the latest of them: left to choose, PostgreSQL walks every
    # message newest first and computes each one's tsvector, since it cannot tell how many a
    # word (or prefix) matches; the index finds them all at once instead.
    matched = (
        select(Message.id, Message.created_at)
        .where(or_(*conditions))
        .cte("matched")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    latest = (
        select(matched.c.id)
        .order_by(matched.c.created_at.desc(), matched.c.id.desc())
        .limit(limit + 1)
        .subquery("latest")
    )
    sender = aliased(User, name="sender")
    recipient = aliased(User, name="recipient")
    reported = exists().where(FlagReport.message_id == Message.id)
    return (
        select(
            Message.id,
            Message.thread_id,
            Message.sender_id,
            sender.display_name.label("sender_name"),
            Message.recipient_id,
            recipient.display_name.label("recipient_name"),
            Message.body,
            Message.body_format,
            Message.created_at,
            Message.is_removed,
            Message.is_deleted,
            reported.label("reported"),
        )
        .join(latest, latest.c.id == Message.id)
        .join(sender, sender.id == Message.sender_id)
        .join(recipient, recipient.id == Message.recipient_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit + 1)
    )


async def search(
    session: AsyncSession,
    query: str,
    *,
    users: int = USERS_SHOWN,
    threads: int = THREADS_SHOWN,
    messages: int = MESSAGES_SHOWN,
) -> SearchResults:
    """Everything matching ``query`` (see the module); an empty query finds nothing. A section
    with a limit of 0 is not searched."""
    query = normalise(query)
    if not query:
        return SearchResults(query="")
    as_id = _as_id(query)
    dialect = session.get_bind().dialect.name
    found_users: list[Any] = []
    found_threads: list[Any] = []
    found_messages: list[Any] = []
    async with read_transaction(session):
        if users:
            found_users = list((await session.execute(users_query(query, as_id, users))).all())
        if threads:
            statement = threads_query(query, as_id, threads)
            found_threads = list((await session.execute(statement)).all())
        text_query = messages_query(dialect, query, as_id, messages) if messages else None
        if text_query is not None:
            found_messages = list((await session.execute(text_query)).all())
    return SearchResults(
        query=query,
        users=[
            UserHit(r.id, r.display_name, r.email, r.role, bool(r.is_suspended))
            for r in found_users[:users]
        ],
        threads=[
            ThreadHit(
                id=r.id,
                subject=r.subject,
                employer_id=r.employer_id,
                employer_name=r.employer_name,
                candidate_id=r.candidate_id,
                candidate_name=r.candidate_name,
                last_message_at=r.last_message_at,
                is_deleted=bool(r.is_deleted),
            )
            for r in found_threads[:threads]
        ],
        messages=[
            MessageHit(
                id=r.id,
                thread_id=r.thread_id,
                sender_id=r.sender_id,
                sender_name=r.sender_name,
                recipient_id=r.recipient_id,
                recipient_name=r.recipient_name,
                snippet=snippet(r.body, r.body_format, query),
                created_at=r.created_at,
                is_removed=bool(r.is_removed),
                is_deleted=bool(r.is_deleted),
                reported=bool(r.reported),
            )
            for r in found_messages[:messages]
        ],
        more_users=len(found_users) > users,
        more_threads=len(found_threads) > threads,
        more_messages=len(found_messages) > messages,
    )
