"""At most one live thread per (employer, candidate, application-or-none), enforced by the
database itself, also when two first messages race."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.audit import Actor
from portal.database import create_sessionmaker
from portal.models import MessageThread
from portal.models.base import new_id, utcnow
from portal.services.applications import upsert_application
from portal.services.messaging import MessageDraft, SentMessage, send_message
from portal.services.users import create_user
from portal.settings import Settings


async def _pair(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    employer = await create_user(
        session,
        email="boss@example.com",
        display_name="Boss",
        role="employer",
        actor=Actor.system(),
    )
    candidate = await create_user(
        session,
        email="cand@example.com",
        display_name="Cand",
        role="candidate",
        actor=Actor.system(),
    )
    application, _ = await upsert_application(
        session,
        employer_id=employer.id,
        candidate_id=candidate.id,
        job_title="Engineer",
        actor=Actor.system(),
    )
    return employer.id, candidate.id, application.id


def _thread_row(employer_id: uuid.UUID, candidate_id: uuid.UUID, application_id: uuid.UUID | None):
    now = utcnow()
    return insert(MessageThread).values(
        id=new_id(),
        employer_id=employer_id,
        candidate_id=candidate_id,
        application_id=application_id,
        unread_count_employer=0,
        unread_count_candidate=0,
        archived_by_employer=False,
        archived_by_candidate=False,
        is_deleted=False,
        created_at=now,
        updated_at=now,
    )


async def _live_threads(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(
            select(func.count())
            .select_from(MessageThread)
            .where(MessageThread.is_deleted.is_(False))
        )


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite serialises writers: no race there
@pytest.mark.parametrize("with_application", [True, False], ids=["application", "no-application"])
async def test_two_concurrent_first_inserts_leave_one_live_thread(
    engine: AsyncEngine, session: AsyncSession, with_application: bool
) -> None:
    employer_id, candidate_id, application_id = await _pair(session)
    app_id = application_id if with_application else None

    first = await engine.connect()
    second = await engine.connect()
    try:
        await first.begin()
        await first.execute(_thread_row(employer_id, candidate_id, app_id))
        await second.begin()
        # The second insert waits on the first transaction's index entry ...
        racing = asyncio.create_task(second.execute(_thread_row(employer_id, candidate_id, app_id)))
        await asyncio.sleep(0.2)
        assert not racing.done(), "the second insert must wait for the first transaction"
        await first.commit()
        # ... and fails once the first commits.
        with pytest.raises(IntegrityError):
            await racing
        await second.rollback()
    finally:
        await first.close()
        await second.close()
    assert await _live_threads(engine) == 1


async def test_second_live_thread_is_refused_and_a_deleted_one_does_not_count(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    employer_id, candidate_id, application_id = await _pair(session)
    for app_id in (application_id, None):
        async with engine.begin() as connection:
            await connection.execute(_thread_row(employer_id, candidate_id, app_id))
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(_thread_row(employer_id, candidate_id, app_id))
    # Soft-deleting the live threads frees the slot for new ones.
    async with engine.begin() as connection:
        await connection.execute(update(MessageThread).values(is_deleted=True, deleted_at=utcnow()))
        await connection.execute(_thread_row(employer_id, candidate_id, application_id))
        await connection.execute(_thread_row(employer_id, candidate_id, None))
    assert await _live_threads(engine) == 2


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite serialises writers: no race there
async def test_send_racing_a_delete_starts_a_new_thread(
    engine: AsyncEngine, session: AsyncSession, settings: Settings
) -> None:
    employer_id, candidate_id, _ = await _pair(session)
    first = await send_message(
        session,
        sender_id=employer_id,
        draft=MessageDraft(recipient_id=candidate_id, body="first"),
        settings=settings,
    )
    deleted_id = first.message.thread_id

    deleting = await engine.connect()
    try:
        await deleting.begin()
        await deleting.execute(
            update(MessageThread)
            .where(MessageThread.id == deleted_id)
            .values(is_deleted=True, deleted_at=utcnow())
        )

        async def send_second() -> SentMessage:
            async with create_sessionmaker(engine)() as other:
                return await send_message(
                    other,
                    sender_id=employer_id,
                    draft=MessageDraft(recipient_id=candidate_id, body="second"),
                    settings=settings,
                )

        sending = asyncio.create_task(send_second())
        await asyncio.sleep(0.3)
        assert not sending.done(), "the send must wait for the delete's lock on the thread"
        await deleting.commit()
        second = await sending
    finally:
        await deleting.close()

    assert second.thread_created
    assert second.message.thread_id != deleted_id
    async with engine.connect() as connection:
        unread = await connection.scalar(
            select(MessageThread.unread_count_candidate).where(MessageThread.id == deleted_id)
        )
    assert unread == 1, "the deleted thread must not receive the racing message"
    assert await _live_threads(engine) == 1
