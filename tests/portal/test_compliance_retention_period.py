"""When the retention period runs out (the later of a thread's last activity and its
application's last status change, 29 CFR 1602.14), what a run records (one event with who, the
setting and the held threads), and that a hold placed after the plan still stops the purge."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.database import write_transaction
from portal.models import Application, AuditEvent, Message, MessageThread, StaffUser, User
from portal.models.base import utcnow
from portal.services.applications import upsert_application
from portal.services.compliance.holds import place_hold
from portal.services.compliance.integrity import check_all_chains
from portal.services.compliance.retention import plan_purge, purge_expired, purge_thread
from portal.settings import Settings
from tests.conftest import settings_with
from tests.people import person
from tests.portal.compliance_world import send

OFFICER = Actor.staff(uuid.UUID("01900000-0000-7000-8000-00000000beef"))
RETENTION_DAYS = 365


@pytest.fixture(autouse=True)
async def officer(session: AsyncSession) -> None:
    """OFFICER's account: services ask it may purge and place holds (portal.permissions)."""
    async with write_transaction(session):
        session.add(
            StaffUser(
                id=OFFICER.id, email="officer@staff.example", role="compliance", password_hash="x"
            )
        )


async def _conversation(
    session: AsyncSession, settings: Settings, application: bool = False
) -> tuple[uuid.UUID, User, uuid.UUID | None]:
    settings = settings_with(settings, rate_limit_messages=100)
    employer = await person(session, "employer")
    candidate = await person(session, "candidate")
    application_id = None
    if application:
        applied, _ = await upsert_application(
            session,
            employer_id=employer.id,
            candidate_id=candidate.id,
            job_title="Welder",
            actor=Actor.service(),
        )
        application_id = applied.id
    first = await send(session, settings, employer, candidate, "first", application_id)
    await send(session, settings, candidate, employer, "second", application_id)
    return first.thread_id, employer, application_id


async def _age(
    session: AsyncSession,
    thread_id: uuid.UUID,
    *,
    created: int,
    active: int,
    status_changed: int | None = None,
) -> None:
    """Sets the thread's creation and last activity, and its application's last status change,
    to that many days ago."""
    now = utcnow()
    async with session.begin():
        await session.execute(
            update(MessageThread)
            .where(MessageThread.id == thread_id)
            .values(
                created_at=now - timedelta(days=created),
                last_message_at=now - timedelta(days=active),
            )
        )
        if status_changed is not None:
            thread = await session.get(MessageThread, thread_id)
            assert thread is not None and thread.application_id is not None
            await session.execute(
                update(Application)
                .where(Application.id == thread.application_id)
                .values(status_changed_at=now - timedelta(days=status_changed))
            )


async def test_the_period_runs_from_the_last_activity_not_the_creation(
    session: AsyncSession, settings: Settings
) -> None:
    quiet, _, _ = await _conversation(session, settings)
    lively, _, _ = await _conversation(session, settings)
    await _age(session, quiet, created=500, active=400)
    await _age(session, lively, created=500, active=10)  # old, but written to lately
    plan = await plan_purge(session, RETENTION_DAYS)
    assert plan.threads == [quiet]
    await purge_expired(session, RETENTION_DAYS, actor=OFFICER)
    bodies = set(await session.scalars(select(Message.body).where(Message.thread_id == lively)))
    assert bodies == {"first", "second"}


async def test_the_period_runs_from_the_applications_last_status_change_when_later(
    session: AsyncSession, settings: Settings
) -> None:
    decided_lately, _, application_id = await _conversation(session, settings, application=True)
    decided_long_ago, _, _ = await _conversation(session, settings, application=True)
    await _age(session, decided_lately, created=500, active=400, status_changed=30)
    await _age(session, decided_long_ago, created=500, active=400, status_changed=400)
    assert (await plan_purge(session, RETENTION_DAYS)).threads == [decided_long_ago]

    # A status change through provisioning restarts the period; other edits do not.
    assert application_id is not None
    application = await session.get(Application, application_id)
    assert application is not None
    employer_id, candidate_id = application.employer_id, application.candidate_id
    before = application.status_changed_at
    await session.commit()
    for status, title in (("submitted", "Senior welder"), ("rejected", "Senior welder")):
        changed, _ = await upsert_application(
            session,
            employer_id=employer_id,
            candidate_id=candidate_id,
            job_title=title,
            status=status,
            actor=Actor.service(),
            application_id=application_id,
        )
        if status == "submitted":
            assert changed.status_changed_at == before  # the title changed, not the status
    assert changed.status_changed_at is not None
    assert changed.status_changed_at > utcnow() - timedelta(minutes=1)


async def test_a_run_records_one_event_with_its_operator_setting_and_held_threads(
    session: AsyncSession, settings: Settings
) -> None:
    expired, _, _ = await _conversation(session, settings)
    held, held_employer, _ = await _conversation(session, settings)
    for thread_id in (expired, held):
        await _age(session, thread_id, created=400, active=400)
    hold = await place_hold(
        session,
        actor=OFFICER,
        reason="charge",
        case_reference="EEOC-9",
        user_id=held_employer.id,
    )
    plan = await plan_purge(session, RETENTION_DAYS)
    assert [(h.hold_id, h.case_reference, h.thread_ids) for h in plan.holds] == [
        (hold.id, "EEOC-9", (held,))
    ]
    result = await purge_expired(session, RETENTION_DAYS, actor=OFFICER)
    assert (result.threads, result.held_threads) == (1, [held])

    runs = list(
        await session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.purged"))
    )
    assert len(runs) == 1
    (run,) = runs
    assert (run.actor_type, run.actor_id, run.thread_id) == ("staff", OFFICER.id, None)
    assert run.details["retention_days"] == RETENTION_DAYS
    assert run.details["cutoff"].startswith(result.cutoff.strftime("%Y-%m-%dT%H:%M:%S"))
    assert (run.details["threads_purged"], run.details["messages_purged"]) == (1, 2)
    assert run.details["held_threads"] == [str(held)]
    assert run.details["holds"] == [
        {
            "hold_id": str(hold.id),
            "case_reference": "EEOC-9",
            "scope": "user",
            "thread_ids": [str(held)],
        }
    ]
    assert (await check_all_chains(session)).problems == []


async def test_a_hold_placed_after_the_plan_still_stops_the_purge(
    session: AsyncSession, settings: Settings
) -> None:
    thread_id, _, _ = await _conversation(session, settings)
    await _age(session, thread_id, created=400, active=400)
    plan = await plan_purge(session, RETENTION_DAYS)
    assert plan.threads == [thread_id]
    # Between the plan and the thread's turn, compliance places a hold on it.
    await place_hold(
        session, actor=OFFICER, reason="dispute", case_reference="LATE-1", thread_id=thread_id
    )
    assert await purge_thread(session, thread_id, cutoff=plan.cutoff, actor=OFFICER) is None
    bodies = set(await session.scalars(select(Message.body).where(Message.thread_id == thread_id)))
    assert bodies == {"first", "second"}
