"""Races, on SQLite and PostgreSQL: thread creation and unread counters stay exact when many
sends, reads, archives and deletes run at once, each in its own session. (The rate limit under
concurrency is tested over HTTP in tests/api/test_rate_limit_http.py.)"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from portal.audit import Actor
from portal.database import create_sessionmaker
from portal.errors import Forbidden, NotFound, PortalError
from portal.models import Message, MessageThread, User
from portal.models.base import utcnow
from portal.services import messaging, threads
from portal.services.messaging import MessageDraft
from portal.services.users import create_user
from portal.settings import Settings
from tests.conftest import settings_with


async def _user(sessions: async_sessionmaker[AsyncSession], role: str) -> User:
    async with sessions() as session:
        user = await create_user(
            session,
            email=f"{role}-{uuid.uuid4().hex[:12]}@example.com",
            display_name=role.title(),
            role=role,
            actor=Actor.service(),
        )
        # Online, so that sends queue no email: these tests are about the message tables.
        async with session.begin():
            await session.execute(
                update(User).where(User.id == user.id).values(last_active_at=utcnow())
            )
    return user


async def _in_own_session(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[Any]],
) -> Any:
    async with sessions() as session:
        try:
            return await work(session)
        except PortalError as exc:
            return exc


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
        employer = await _user(sessions, "employer")
        candidate = await _user(sessions, "candidate")
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
            *(_in_own_session(sessions, lambda s, p=pair: one_send(s, p)) for pair in pairs)
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


async def _assert_counters_match_a_recount(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Each participant's counter is their unread messages in their view of the thread: not
    deleted, and sent after their own deletion of the thread, if any."""
    async with sessions() as session:
        all_threads = {t.id: t for t in (await session.scalars(select(MessageThread))).all()}
        unread_messages = (
            await session.scalars(
                select(Message).where(Message.is_read.is_(False), Message.is_deleted.is_(False))
            )
        ).all()
    unread: Counter[tuple[uuid.UUID, uuid.UUID]] = Counter()
    for message in unread_messages:
        thread = all_threads[message.thread_id]
        role = "employer" if message.recipient_id == thread.employer_id else "candidate"
        if threads.message_visible_to(message, thread, role):
            unread[(thread.id, message.recipient_id)] += 1
    for thread in all_threads.values():
        assert thread.unread_count_employer == unread[(thread.id, thread.employer_id)]
        assert thread.unread_count_candidate == unread[(thread.id, thread.candidate_id)]
    return sum(unread.values())


async def test_counters_equal_a_recount_after_a_random_concurrent_mix(
    engine: AsyncEngine, settings: Settings
) -> None:
    generous = settings_with(settings, rate_limit_messages=100_000)
    sessions = create_sessionmaker(engine)
    rng = random.Random(20240611)
    employers = [await _user(sessions, "employer") for _ in range(3)]
    candidates = [await _user(sessions, "candidate") for _ in range(3)]
    # (message id, recipient) of every message sent so far, and every thread with its pair.
    sent: list[tuple[uuid.UUID, User]] = []
    known_threads: list[tuple[uuid.UUID, User, User]] = []

    def send(sender: User, recipient: User) -> Callable[[AsyncSession], Awaitable[Any]]:
        async def work(session: AsyncSession) -> Any:
            result = await messaging.send_message(
                session,
                sender_id=sender.id,
                draft=MessageDraft(recipient_id=recipient.id, body="mix"),
                settings=generous,
            )
            sent.append((result.message.id, recipient))
            employer, candidate = (
                (sender, recipient) if sender.role == "employer" else (recipient, sender)
            )
            known_threads.append((result.message.thread_id, employer, candidate))
            return result

        return work

    def read(message_id: uuid.UUID, reader: User) -> Callable[[AsyncSession], Awaitable[Any]]:
        return lambda session: messaging.mark_read(session, reader, message_id)

    def archive(thread_id: uuid.UUID, user: User) -> Callable[[AsyncSession], Awaitable[Any]]:
        return lambda session: threads.archive_thread(
            session, user, thread_id, archived=rng.random() < 0.8
        )

    def delete(thread_id: uuid.UUID, user: User) -> Callable[[AsyncSession], Awaitable[Any]]:
        return lambda session: threads.delete_thread(session, user, thread_id)

    outcomes: Counter[str] = Counter()
    for _batch in range(10):
        batch: list[Callable[[AsyncSession], Awaitable[Any]]] = []
        for _ in range(20):
            kind = rng.choices(["send", "read", "archive", "delete"], weights=[10, 8, 3, 2])[0]
            if kind == "send" or not sent:
                employer, candidate = rng.choice(employers), rng.choice(candidates)
                pair = (employer, candidate) if rng.random() < 0.5 else (candidate, employer)
                batch.append(send(*pair))
            elif kind == "read":
                message_id, recipient = rng.choice(sent)
                batch.append(read(message_id, recipient))
                if rng.random() < 0.3:  # the same message read twice at once
                    batch.append(read(message_id, recipient))
            else:
                thread_id, employer, candidate = rng.choice(known_threads)
                user = rng.choice([employer, candidate])
                batch.append((archive if kind == "archive" else delete)(thread_id, user))
        results = await asyncio.gather(*(_in_own_session(sessions, work) for work in batch))
        for result in results:
            if isinstance(result, PortalError):
                # Reads, archives and deletes can meet a thread deleted a moment before (or by
                # the caller, who no longer sees it); nothing else.
                assert isinstance(result, NotFound | Forbidden), result
            outcomes[type(result).__name__] += 1
    # mark_read returns the message's receipt, a row
    assert outcomes["SentMessage"] > 40 and outcomes["Row"] > 20, outcomes
    unread_total = await _assert_counters_match_a_recount(sessions)
    assert unread_total > 0


async def _delete_racing_reads_and_sends(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    employer = await _user(sessions, "employer")
    candidate = await _user(sessions, "candidate")

    def send(session: AsyncSession, body: str = "after") -> Awaitable[messaging.SentMessage]:
        return messaging.send_message(
            session,
            sender_id=employer.id,
            draft=MessageDraft(recipient_id=candidate.id, body=body),
            settings=settings,
        )

    sent = [await _in_own_session(sessions, lambda s: send(s, "before")) for _ in range(4)]
    thread_id = sent[0].message.thread_id

    def read(message_id: uuid.UUID) -> Callable[[AsyncSession], Awaitable[Any]]:
        return lambda session: messaging.mark_read(session, candidate, message_id)

    work: list[Callable[[AsyncSession], Awaitable[Any]]] = [
        lambda session: threads.delete_thread(session, candidate, thread_id),
        *(read(s.message.id) for s in sent),
        send,
        send,
    ]
    results = await asyncio.gather(*(_in_own_session(sessions, w) for w in work))
    for result in results:
        assert not isinstance(result, PortalError) or isinstance(result, NotFound), result
    await _assert_counters_match_a_recount(sessions)
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
