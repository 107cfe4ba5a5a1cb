"""A requisition hold covers the threads of that requisition's candidates and no other: the
service's SQL (``thread_is_held``), the purge plan and the database's own rule
(``portal_legal_hold_for`` on PostgreSQL, the triggers on SQLite) agree thread by thread, on a
world where one employer has held and unheld requisitions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.models import MessageThread, User
from portal.models.base import utcnow
from portal.services.applications import upsert_application
from portal.services.compliance.holds import place_hold, thread_is_held
from portal.services.compliance.retention import plan_purge
from portal.settings import Settings
from tests.conftest import settings_with
from tests.people import person
from tests.portal.compliance_world import send

OFFICER = Actor.system()


@dataclass
class HiringWorld:
    held: set[uuid.UUID]  # the threads the requisition hold must cover
    unheld: set[uuid.UUID]


async def _thread(
    session: AsyncSession,
    settings: Settings,
    employer: User,
    candidate: User,
    application_id: uuid.UUID | None = None,
) -> uuid.UUID:
    return (await send(session, settings, employer, candidate, "hello", application_id)).thread_id


async def _applied(
    session: AsyncSession, employer_id: uuid.UUID, candidate_id: uuid.UUID, requisition: str | None
) -> uuid.UUID:
    application, _ = await upsert_application(
        session,
        employer_id=employer_id,
        candidate_id=candidate_id,
        job_title="Welder",
        requisition_id=requisition,
        actor=Actor.service(),
    )
    return application.id


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> HiringWorld:
    settings = settings_with(settings, rate_limit_messages=100)
    employer = await person(session, "employer")
    other_employer = await person(session, "employer")
    held_candidate = await person(session, "candidate")
    other_candidate = await person(session, "candidate")
    no_application = await person(session, "candidate")
    for_held = await _applied(session, employer.id, held_candidate.id, "REQ-HELD")
    for_other = await _applied(session, employer.id, other_candidate.id, "REQ-OPEN")
    # The same requisition id at another employer is another job.
    elsewhere = await _applied(session, other_employer.id, other_candidate.id, "REQ-HELD")
    held = {
        await _thread(session, settings, employer, held_candidate, application_id=for_held),
        # The held candidate's other thread with the employer: the pair is under the hold.
        await _thread(session, settings, employer, held_candidate),
    }
    unheld = {
        await _thread(session, settings, employer, other_candidate, application_id=for_other),
        await _thread(session, settings, employer, other_candidate),
        await _thread(session, settings, employer, no_application),
        await _thread(session, settings, other_employer, other_candidate, application_id=elsewhere),
    }
    await place_hold(
        session,
        actor=OFFICER,
        reason="charge on one position",
        case_reference="EEOC-HELD",
        employer_id=employer.id,
        requisition_id="REQ-HELD",
    )
    await session.commit()
    return HiringWorld(held, unheld)


async def _service_says(session: AsyncSession) -> dict[uuid.UUID, bool]:
    rows = await session.execute(select(MessageThread.id, thread_is_held()))
    return {thread_id: bool(held) for thread_id, held in rows}


class _Undo(Exception):
    pass


async def _database_says(session: AsyncSession, backend: str) -> dict[uuid.UUID, bool]:
    """The database's own rule: its hold function on PostgreSQL; on SQLite, whether the hold
    trigger refuses to delete the thread (rolled back either way)."""
    if backend == "postgres":
        rows = await session.execute(
            select(
                MessageThread.id,
                func.portal_legal_hold_for(
                    MessageThread.id, MessageThread.employer_id, MessageThread.candidate_id
                ).is_not(None),
            )
        )
        return {thread_id: bool(held) for thread_id, held in rows}
    says: dict[uuid.UUID, bool] = {}
    thread_ids = list(await session.scalars(select(MessageThread.id)))
    await session.commit()
    for thread_id in thread_ids:
        try:
            async with session.begin():
                await session.execute(delete(MessageThread).where(MessageThread.id == thread_id))
                raise _Undo
        except _Undo:
            says[thread_id] = False
        except DBAPIError as refused:
            assert "legal hold" in str(refused.orig)
            says[thread_id] = True
    return says


async def test_a_requisition_hold_covers_only_that_requisitions_threads(
    session: AsyncSession, owner_session: AsyncSession, world: HiringWorld, backend: str
) -> None:
    service = await _service_says(session)
    await session.commit()
    database = await _database_says(owner_session, backend)
    assert {t for t, held in service.items() if held} == world.held
    assert service == database
    assert set(service) == world.held | world.unheld


async def test_the_purge_plan_keeps_only_the_held_requisitions_threads(
    session: AsyncSession, world: HiringWorld
) -> None:
    plan = await plan_purge(session, 1, now=utcnow() + timedelta(days=2))  # all expired
    assert set(plan.held_threads) == world.held
    assert set(plan.threads) == world.unheld
