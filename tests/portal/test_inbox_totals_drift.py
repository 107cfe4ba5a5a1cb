"""Each participant's inbox totals row (portal.services.inbox_totals), and each thread's unread
counters, equal a recount after every batch of a random mix of every write that could change
them, run concurrently, each in its own session (both databases); and the list page and unread
count read the row."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from portal.audit import Actor
from portal.database import create_sessionmaker, write_transaction
from portal.errors import Forbidden, NotFound, PortalError
from portal.models import InboxTotals, Message, StaffUser, User
from portal.models.base import utcnow
from portal.services import inbox_totals, messaging, moderation, threads
from portal.services.compliance.retention import purge_expired
from portal.services.messaging import MessageDraft
from portal.settings import Settings
from tests.conftest import settings_with
from tests.portal import moderation_support
from tests.portal.concurrency_support import assert_counters_match_a_recount, in_own_session


async def _assert_no_drift(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        drifted = await inbox_totals.drift(session)
    assert drifted == {}, drifted


def _remove_or_restore(
    message_id: uuid.UUID, staff: StaffUser
) -> Callable[[AsyncSession], Awaitable[Any]]:
    async def work(session: AsyncSession) -> Any:
        async with write_transaction(session):
            message = await session.get(
                Message, message_id, with_for_update=True, populate_existing=True
            )
            assert message is not None
            now = utcnow()
            if message.is_removed:
                await moderation.restore_removed(
                    session, message, actor=staff, decision_id=uuid.uuid4(), when=now
                )
            else:
                moderation.withhold_body(session, message, reason="test", when=now)
        return "moderated"

    return work


def _purge(session: AsyncSession) -> Awaitable[Any]:
    # Every thread has expired a year from now: their bodies go, their counters stay.
    return purge_expired(session, 1, actor=Actor.system(), now=utcnow() + timedelta(days=400))


async def test_totals_equal_a_recount_after_a_random_concurrent_mix(
    engine: AsyncEngine, settings: Settings
) -> None:
    generous = settings_with(settings, rate_limit_messages=100_000)
    sessions = create_sessionmaker(engine)
    rng = random.Random(20261206)
    async with sessions() as session:
        employers = [await moderation_support.user(session, "employer") for _ in range(3)]
        candidates = [await moderation_support.user(session, "candidate") for _ in range(3)]
        staff = await moderation_support.staff(session, "moderator")
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

    outcomes: Counter[str] = Counter()
    kinds = ["send", "read", "archive", "unarchive", "delete", "moderate", "purge"]
    for batch_number in range(12):
        batch: list[Callable[[AsyncSession], Awaitable[Any]]] = []
        for _ in range(20):
            kind = rng.choices(kinds, weights=[10, 8, 3, 2, 2, 2, 0])[0]
            if kind == "send" or not sent:
                employer, candidate = rng.choice(employers), rng.choice(candidates)
                pair = (employer, candidate) if rng.random() < 0.5 else (candidate, employer)
                batch.append(send(*pair))
            elif kind == "read":
                message_id, recipient = rng.choice(sent)
                batch.append(lambda s, m=message_id, r=recipient: messaging.mark_read(s, r, m))
                if rng.random() < 0.3:  # the same message read twice at once
                    batch.append(lambda s, m=message_id, r=recipient: messaging.mark_read(s, r, m))
            elif kind == "moderate":
                batch.append(_remove_or_restore(rng.choice(sent)[0], staff))
            else:
                thread_id, employer, candidate = rng.choice(known_threads)
                user = rng.choice([employer, candidate])
                if kind == "delete":
                    batch.append(lambda s, t=thread_id, u=user: threads.delete_thread(s, u, t))
                else:
                    batch.append(
                        lambda s, t=thread_id, u=user, a=(kind == "archive"): (
                            threads.archive_thread(s, u, t, archived=a)
                        )
                    )
        if batch_number in (5, 9):
            batch.append(_purge)  # the retention purge, racing the rest
        results = await asyncio.gather(*(in_own_session(sessions, work) for work in batch))
        for result in results:
            if isinstance(result, PortalError):
                # Reads, archives and deletes can meet a thread deleted a moment before (or by
                # the caller, who no longer sees it); nothing else.
                assert isinstance(result, NotFound | Forbidden), result
            outcomes[type(result).__name__] += 1
        await _assert_no_drift(sessions)
        await assert_counters_match_a_recount(sessions)
    assert outcomes["SentMessage"] > 50 and outcomes["Row"] > 20, outcomes
    assert outcomes["PurgeResult"] == 2 and outcomes["str"] > 5, outcomes
    async with sessions() as session, session.begin():
        rows = (await session.scalars(select(InboxTotals))).all()
    # The mix left something to count: unread messages, archived threads.
    assert sum(row.unread_messages for row in rows) > 0
    assert sum(row.archived_threads for row in rows) > 0

    # What the list page and the unread count show is the row.
    for person in [*employers, *candidates]:
        async with sessions() as session:
            summary = await threads.unread_summary(session, person)
            inbox = await threads.list_threads(session, person, limit=100)
            archive = await threads.list_threads(session, person, archived=True, limit=100)
            unread_only = await threads.list_threads(session, person, unread_only=True)
        assert inbox.total == len(inbox.threads)
        assert archive.total == len(archive.threads)
        assert all(view.is_archived for view in archive.threads)
        in_view = [*inbox.threads, *archive.threads]
        assert summary.unread_count == inbox.unread_count == sum(v.unread_count for v in in_view)
        assert summary.unread_threads == sum(1 for v in in_view if v.unread_count > 0)
        assert unread_only.total == sum(1 for v in inbox.threads if v.unread_count > 0)


async def test_a_thread_coming_back_after_a_delete_counts_again(
    engine: AsyncEngine, settings: Settings
) -> None:
    """The deleter's totals lose the thread, and a new message from the other participant brings
    it back (one inbox thread, one unread message), whatever it had been in their archive."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        employer = await moderation_support.user(session, "employer")
        candidate = await moderation_support.user(session, "candidate")

    async def send(sender: User, recipient: User) -> messaging.SentMessage:
        async with sessions() as session:
            return await messaging.send_message(
                session,
                sender_id=sender.id,
                draft=MessageDraft(recipient_id=recipient.id, body="hello"),
                settings=settings,
            )

    async def totals(user: User) -> tuple[int, int, int]:
        async with sessions() as session:
            summary = await threads.unread_summary(session, user)
            page = await threads.list_threads(session, user)
        return page.total, summary.unread_count, summary.unread_threads

    first = await send(employer, candidate)
    await send(employer, candidate)
    assert await totals(candidate) == (1, 2, 1)
    assert await totals(employer) == (1, 0, 0)
    async with sessions() as session:
        await threads.archive_thread(session, candidate, first.message.thread_id)
    assert await totals(candidate) == (0, 2, 1)  # archived: out of the inbox, still unread
    async with sessions() as session:
        await threads.delete_thread(session, candidate, first.message.thread_id)
    assert await totals(candidate) == (0, 0, 0)
    await send(employer, candidate)
    assert await totals(candidate) == (1, 1, 1)
    await _assert_no_drift(sessions)
