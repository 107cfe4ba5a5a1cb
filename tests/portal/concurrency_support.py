"""What the concurrency tests share (tests/portal/test_concurrency.py, test_inbox_totals_drift.py):
users who are online, work run in a session of its own, and the unread counters recounted."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.errors import PortalError
from portal.models import Message, MessageThread, User
from portal.models.base import utcnow
from portal.services import threads
from tests.people import person


async def online_user(sessions: async_sessionmaker[AsyncSession], role: str) -> User:
    async with sessions() as session:
        user = await person(session, role, role.title())
        # Online, so that sends queue no email: these tests are about the message tables.
        async with session.begin():
            await session.execute(
                update(User).where(User.id == user.id).values(last_active_at=utcnow())
            )
    return user


async def in_own_session(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[Any]],
) -> Any:
    async with sessions() as session:
        try:
            return await work(session)
        except PortalError as exc:
            return exc


async def assert_counters_match_a_recount(sessions: async_sessionmaker[AsyncSession]) -> int:
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
