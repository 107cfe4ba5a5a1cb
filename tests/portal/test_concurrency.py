"""Races, on SQLite and PostgreSQL: thread creation and unread counters stay exact when many
sends, reads, archives and deletes run at once, each in its own session (the random mix of every
write, with the unread counters and inbox totals recounted after each batch, is in
tests/portal/test_inbox_totals_drift.py). (The rate limit under
concurrency is tested over HTTP in tests/api/test_rate_limit_http.py.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from portal.database import create_sessionmaker
from portal.errors import NotFound, PortalError
from portal.models import MessageThread, User
from portal.services import messaging, threads
from portal.services.messaging import MessageDraft
from portal.settings import Settings
from tests.conftest import settings_with
from tests.portal.concurrency_support import (
    assert_counters_match_a_recount,
    in_own_session,
    online_user,
)


async def test_concurrent_first_messages_make_one_thread(
    engine: AsyncEngine, settings: Settings, backend: str
) -> None:
    sessions = create_sessionmaker(engine)
    savepoint_rollbacks: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("ROLLBACK TO SAVEPOINT"):
            savepoint_rollbacks.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    for _ in range(10):
        employer = await online_user(sessions, "employer")
        candidate = await online_user(sessions, "candidate")
        pairs = [(employer, candidate), (candidate, employer)] * 3

        def one_send(session: AsyncSession, pair: tuple[User, User]) -> Awaitable[Any]:
            sender, recipient = pair
            return messaging.send_message(
                session,
                sender_id=sender.id,
                draft=MessageDraft(recipient_id=recipient.id, body="hi"),
                settings=settings,
            )

        results = await asyncio.gather(
            *(in_own_session(sessions, lambda s, p=pair: one_send(s, p)) for pair in pairs)
        )
        assert all(isinstance(r, messaging.SentMessage) for r in results), results
        assert len({r.message.thread_id for r in results}) == 1
        assert sum(r.thread_created for r in results) == 1
        async with sessions() as session:
            thread = await session.scalar(
                select(MessageThread).where(MessageThread.employer_id == employer.id)
            )
            assert thread is not None
            assert (thread.unread_count_employer, thread.unread_count_candidate) == (3, 3)
    event.remove(engine.sync_engine, "before_cursor_execute", record)
    if backend == "postgres":
        # The race was really run: the losing INSERT met the unique index and joined the thread.
        assert savepoint_rollbacks


async def _delete_racing_reads_and_sends(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    employer = await online_user(sessions, "employer")
    candidate = await online_user(sessions, "candidate")

    def send(session: AsyncSession, body: str = "after") -> Awaitable[messaging.SentMessage]:
        return messaging.send_message(
            session,
            sender_id=employer.id,
            draft=MessageDraft(recipient_id=candidate.id, body=body),
            settings=settings,
        )

    sent = [await in_own_session(sessions, lambda s: send(s, "before")) for _ in range(4)]
    thread_id = sent[0].message.thread_id

    def read(message_id: uuid.UUID) -> Callable[[AsyncSession], Awaitable[Any]]:
        return lambda session: messaging.mark_read(session, candidate, message_id)

    work: list[Callable[[AsyncSession], Awaitable[Any]]] = [
        lambda session: threads.delete_thread(session, candidate, thread_id),
        *(read(s.message.id) for s in sent),
        send,
        send,
    ]
    results = await asyncio.gather(*(in_own_session(sessions, w) for w in work))
    for result in results:
        assert not isinstance(result, PortalError) or isinstance(result, NotFound), result
    await assert_counters_match_a_recount(sessions)
    async with sessions() as session:
        thread = await session.get(MessageThread, thread_id)
    assert thread is not None and thread.deleted_by_candidate_at is not None
    # Both new messages went into this same thread, whatever the order.
    assert all(r.message.thread_id == thread_id for r in results[-2:])


async def test_a_delete_racing_reads_and_sends_in_its_thread_keeps_counters_exact(
    engine: AsyncEngine, settings: Settings
) -> None:
    """The deleter's counter is zeroed while their reads of the hidden messages and the other
    participant's new messages (which bring the thread back) run at the same moment."""
    generous = settings_with(settings, rate_limit_messages=100_000)
    sessions = create_sessionmaker(engine)
    for _ in range(8):
        await _delete_racing_reads_and_sends(sessions, generous)
