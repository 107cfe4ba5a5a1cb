"""Retention and legal holds: expired unheld threads are purged with a tombstone per message,
held ones (thread, user and requisition holds, an application provisioned after its
requisition's hold included) are untouched, the chain still verifies, a dry run changes
nothing, and no hard delete or cascade destroys held content."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.schemas import PURGED_BODY
from portal.audit import Actor, message_digest
from portal.database import create_sessionmaker
from portal.errors import Conflict
from portal.models import Application, AuditEvent, Message, MessageThread, User
from portal.models.base import utcnow
from portal.services.applications import upsert_application
from portal.services.compliance.holds import HeldContent, lift_hold, place_hold
from portal.services.compliance.integrity import check_all_chains
from portal.services.compliance.reports import stream_report
from portal.services.compliance.retention import plan_purge, purge_expired
from portal.services.compliance.verify import verify_export
from portal.settings import Settings
from tests.api.helpers import auth
from tests.conftest import settings_with
from tests.people import person
from tests.portal.compliance_world import send

OFFICER = Actor.system()


@dataclass
class Threads:
    expired: uuid.UUID
    deleted: uuid.UUID
    thread_held: uuid.UUID
    user_held: uuid.UUID
    requisition_held: uuid.UUID
    recent: uuid.UUID
    expired_employer: User
    user_hold: uuid.UUID
    thread_hold: uuid.UUID
    requisition_application: uuid.UUID


async def conversation(
    session: AsyncSession,
    settings: Settings,
    employer: User | None = None,
    candidate: User | None = None,
    application_id: uuid.UUID | None = None,
) -> uuid.UUID:
    employer = employer or await person(session, "employer")
    candidate = candidate or await person(session, "candidate")
    first = await send(session, settings, employer, candidate, "first", application_id)
    await send(session, settings, candidate, employer, "second", application_id)
    return first.thread_id


async def backdate(session: AsyncSession, thread_id: uuid.UUID, days: int, deleted: bool) -> None:
    """The thread's last activity (or deletion) and its application's last status change."""
    past = utcnow() - timedelta(days=days)
    async with session.begin():
        values = {"last_message_at": past, "created_at": past}
        if deleted:
            values = {"is_deleted": True, "deleted_at": past}
        await session.execute(
            update(MessageThread).where(MessageThread.id == thread_id).values(**values)
        )
        await session.execute(
            update(Application)
            .where(
                Application.id
                == select(MessageThread.application_id)
                .where(MessageThread.id == thread_id)
                .scalar_subquery()
            )
            .values(status_changed_at=past)
        )


@pytest.fixture
async def threads(session: AsyncSession, settings: Settings) -> Threads:
    settings = settings_with(settings, rate_limit_messages=100)
    expired_employer = await person(session, "employer")
    expired = await conversation(session, settings, employer=expired_employer)
    deleted = await conversation(session, settings)
    thread_held = await conversation(session, settings)
    held_candidate = await person(session, "candidate")
    user_held = await conversation(session, settings, candidate=held_candidate)

    # A requisition hold placed before the candidate's application exists still covers it.
    hiring = await person(session, "employer")
    late_candidate = await person(session, "candidate")
    requisition_hold = await place_hold(
        session,
        actor=OFFICER,
        reason="charge filed by another candidate",
        case_reference="EEOC-REQ-7",
        employer_id=hiring.id,
        requisition_id="REQ-7",
    )
    application, _ = await upsert_application(
        session,
        employer_id=hiring.id,
        candidate_id=late_candidate.id,
        job_title="Welder",
        requisition_id="REQ-7",
        actor=Actor.service(),
    )
    requisition_held = await conversation(
        session, settings, employer=hiring, candidate=late_candidate, application_id=application.id
    )
    recent = await conversation(session, settings)
    for thread_id in (expired, thread_held, user_held, requisition_held):
        await backdate(session, thread_id, days=400, deleted=False)
    await backdate(session, deleted, days=400, deleted=True)
    thread_hold = await place_hold(
        session, actor=OFFICER, reason="dispute", case_reference="CASE-1", thread_id=thread_held
    )
    user_hold = await place_hold(
        session, actor=OFFICER, reason="charge", case_reference="CASE-2", user_id=held_candidate.id
    )
    assert requisition_hold.scope == "requisition"
    return Threads(
        expired,
        deleted,
        thread_held,
        user_held,
        requisition_held,
        recent,
        expired_employer,
        user_hold.id,
        thread_hold.id,
        application.id,
    )


async def bodies(session: AsyncSession, thread_id: uuid.UUID) -> list[str]:
    return list(
        await session.scalars(
            select(Message.body).where(Message.thread_id == thread_id).order_by(Message.created_at)
        )
    )


async def count_events(session: AsyncSession) -> int:
    return (await session.scalar(select(func.count()).select_from(AuditEvent))) or 0


async def test_dry_run_changes_nothing(session: AsyncSession, threads: Threads) -> None:
    events_before = await count_events(session)
    plan = await plan_purge(session, 365)
    assert sorted(plan.threads) == sorted([threads.expired, threads.deleted])
    assert plan.messages == 4
    assert sorted(plan.held_threads) == sorted(
        [threads.thread_held, threads.user_held, threads.requisition_held]
    )
    assert await bodies(session, threads.expired) == ["first", "second"]
    assert await count_events(session) == events_before


async def test_purge_takes_expired_unheld_content_and_leaves_held_content(
    session: AsyncSession,
    engine: AsyncEngine,
    settings: Settings,
    threads: Threads,
    client: AsyncTestClient[Litestar],
) -> None:
    async with session.begin():
        messages = list(
            await session.scalars(select(Message).where(Message.thread_id == threads.expired))
        )
        digests = {message.id: message_digest(message) for message in messages}
    ticks: list[int] = []
    result = await purge_expired(session, 365, actor=OFFICER, progress=ticks.append)
    assert (result.threads, result.messages) == (2, 4)
    assert sum(ticks) == 2
    for purged in (threads.expired, threads.deleted):
        assert await bodies(session, purged) == ["", ""]
    for kept in (threads.thread_held, threads.user_held, threads.requisition_held, threads.recent):
        assert await bodies(session, kept) == ["first", "second"]

    tombstones = list(
        await session.scalars(select(AuditEvent).where(AuditEvent.action == "message.purged"))
    )
    assert len(tombstones) == 4
    for tombstone in tombstones:
        if tombstone.subject_id in digests:
            assert tombstone.details["content_sha256"] == digests[tombstone.subject_id]
            assert tombstone.thread_id == threads.expired
    assert (await check_all_chains(session)).problems == []

    report = await stream_report(
        create_sessionmaker(engine), threads.expired, "json", actor=OFFICER, settings=settings
    )
    data = b"".join([chunk async for chunk in report.chunks])
    assert verify_export(data).events > 0
    exported = json.loads(data)["report"]["messages"]
    assert [m["content"] for m in exported] == [None, None]
    assert all(m["purged_at"] for m in exported)

    response = await client.get(
        f"/api/v1/messages/threads/{threads.expired}",
        headers=auth(settings, threads.expired_employer),
    )
    assert response.status_code == 200, response.text
    shown = response.json()["messages"]
    assert [(m["body"], m["is_purged"], m["attachments"]) for m in shown] == [
        (PURGED_BODY, True, [])
    ] * 2

    # A second run finds nothing left to purge.
    again = await purge_expired(session, 365, actor=OFFICER)
    assert (again.threads, again.messages) == (0, 0)


async def test_a_lifted_hold_lets_the_purge_through(
    session: AsyncSession, threads: Threads
) -> None:
    await lift_hold(session, threads.thread_hold, actor=OFFICER, reason="case closed")
    with pytest.raises(Conflict, match="already lifted"):
        await lift_hold(session, threads.thread_hold, actor=OFFICER, reason="again")
    result = await purge_expired(session, 365, actor=OFFICER)
    assert result.threads == 3
    assert await bodies(session, threads.thread_held) == ["", ""]
    assert await bodies(session, threads.user_held) == ["first", "second"]


async def _refused(session: AsyncSession, statement: object, table: str) -> str:
    with pytest.raises(DBAPIError) as raised:
        async with session.begin():
            await session.execute(statement)  # type: ignore[call-overload]
    message = str(raised.value.orig)
    assert "legal hold" in message and table in message
    return message


async def test_no_delete_or_cascade_destroys_held_content(
    session: AsyncSession, owner_session: AsyncSession, threads: Threads, backend: str
) -> None:
    """As the schema's owner, who may delete (the app's own role may not delete at all)."""
    held_thread = await session.get(MessageThread, threads.user_held)
    assert held_thread is not None
    held_user = held_thread.candidate_id
    await session.commit()
    message = await _refused(
        owner_session,
        delete(MessageThread).where(MessageThread.id == threads.thread_held),
        "message_threads",
    )
    if backend == "postgres":
        assert str(threads.thread_hold) in message  # PostgreSQL names the hold itself
    await _refused(
        owner_session,
        delete(Message).where(Message.thread_id == threads.requisition_held),
        "messages",
    )
    # Deleting a held user would cascade to their threads and messages.
    await _refused(owner_session, delete(User).where(User.id == held_user), "")
    # Deleting the application would unlink the requisition that holds the thread.
    await _refused(
        owner_session,
        delete(Application).where(Application.id == threads.requisition_application),
        "applications",
    )
    await _refused(
        owner_session,
        update(Message)
        .where(Message.thread_id == threads.user_held)
        .values(purged_at=utcnow(), body=""),
        "messages",
    )
    assert await bodies(session, threads.user_held) == ["first", "second"]
    assert await bodies(session, threads.thread_held) == ["first", "second"]

    # Unheld content can still be deleted outright (by an administrator, say).
    async with owner_session.begin():
        await owner_session.execute(delete(MessageThread).where(MessageThread.id == threads.recent))
    await session.commit()  # a fresh snapshot
    assert await bodies(session, threads.recent) == []


async def test_a_held_requisition_cannot_be_moved_away(
    session: AsyncSession, threads: Threads
) -> None:
    application = await session.get(Application, threads.requisition_application)
    assert application is not None
    with pytest.raises(HeldContent, match="EEOC-REQ-7") as refused:
        await upsert_application(
            session,
            employer_id=application.employer_id,
            candidate_id=application.candidate_id,
            job_title="Welder",
            requisition_id="REQ-OTHER",
            actor=Actor.service(),
            application_id=application.id,
        )
    assert refused.value.code == "held_content"  # the API's error code (a 409)
    await session.rollback()
    assert (
        await session.scalar(
            text("SELECT requisition_id FROM applications WHERE job_title = 'Welder'")
        )
    ) == "REQ-7"
