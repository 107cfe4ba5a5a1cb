"""EEOC charge holds (29 CFR 1602.14): a hold of type ``eeoc_charge`` on the respondent
employer's requisition keeps the charging party's threads with the employer and every other
candidate's threads for the requisition through retention until the charge's final disposition
date; the retention run after that date releases it, and purges what it kept."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.database import read_transaction
from portal.errors import InvalidInput
from portal.models import AuditEvent, LegalHold, Message, User
from portal.models.base import utcnow
from portal.services.applications import upsert_application
from portal.services.compliance.holds import Charge, place_hold, record_final_disposition
from portal.services.compliance.report_data import hold_entry
from portal.services.compliance.retention import purge_expired
from portal.services.compliance.summaries import hold_views
from portal.settings import Settings
from tests.conftest import settings_with
from tests.people import person
from tests.portal.compliance_world import send

OFFICER = Actor.system()
RETENTION_DAYS = 365


async def _applied(
    session: AsyncSession, employer: User, candidate: User, requisition: str | None
) -> uuid.UUID:
    application, _ = await upsert_application(
        session,
        employer_id=employer.id,
        candidate_id=candidate.id,
        job_title="Welder",
        requisition_id=requisition,
        actor=Actor.service(),
    )
    return application.id


async def _unpurged(session: AsyncSession, thread_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    async with read_transaction(session):
        rows = await session.scalars(
            select(Message.thread_id)
            .where(Message.thread_id.in_(thread_ids), Message.purged_at.is_(None))
            .group_by(Message.thread_id)
        )
        return set(rows)


async def test_a_charge_hold_keeps_the_requisition_until_final_disposition(
    session: AsyncSession, settings: Settings
) -> None:
    settings = settings_with(settings, rate_limit_messages=100)
    employer = await person(session, "employer")
    charging = await person(session, "candidate")
    rival = await person(session, "candidate")  # another candidate for the same job
    elsewhere = await person(session, "candidate")  # a candidate for another job
    for_charge = await _applied(session, employer, charging, "REQ-9")
    for_rival = await _applied(session, employer, rival, "REQ-9")
    for_other = await _applied(session, employer, elsewhere, "REQ-10")

    async def thread(candidate: User, application_id: uuid.UUID | None) -> uuid.UUID:
        sent = await send(session, settings, employer, candidate, "About the job", application_id)
        return sent.thread_id

    held = {
        await thread(charging, for_charge),
        await thread(charging, None),  # the charging party's other thread with the employer
        await thread(rival, for_rival),
    }
    unheld = {await thread(elsewhere, for_other)}

    filed = utcnow().date()
    disposition = filed + timedelta(days=500)
    hold = await place_hold(
        session,
        actor=OFFICER,
        reason="Charge of sex discrimination in hiring for REQ-9",
        case_reference="EEOC 846-2026-01234",
        employer_id=employer.id,
        requisition_id="REQ-9",
        charge=Charge(
            charge_number="846-2026-01234",
            agency="EEOC Chicago District Office",
            charging_party_id=charging.id,
            filed_on=filed,
        ),
    )
    assert (hold.scope, hold.hold_type) == ("requisition", "eeoc_charge")
    await record_final_disposition(session, hold.id, disposition, actor=OFFICER)

    # Long after the retention period, before the final disposition: only the unheld go.
    before = utcnow() + timedelta(days=450)
    first = await purge_expired(session, RETENTION_DAYS, actor=OFFICER, now=before)
    assert first.released_holds == []
    assert set(first.held_threads) == held
    assert await _unpurged(session, held | unheld) == held
    [keeping] = first.holds
    assert keeping.hold_id == hold.id and set(keeping.thread_ids) == held

    # The day of the final disposition is still held; the run after it releases the hold.
    on_the_day = utcnow() + (disposition - filed)
    second = await purge_expired(session, RETENTION_DAYS, actor=OFFICER, now=on_the_day)
    assert second.released_holds == [] and await _unpurged(session, held) == held
    after = on_the_day + timedelta(days=1)
    third = await purge_expired(session, RETENTION_DAYS, actor=OFFICER, now=after)
    assert third.released_holds == [hold.id]
    assert await _unpurged(session, held | unheld) == set()
    async with read_transaction(session):
        lifted = await session.get(LegalHold, hold.id, populate_existing=True)
        events = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "hold.lifted", AuditEvent.subject_id == hold.id)
        )
    assert lifted is not None and lifted.lifted_at is not None
    assert "final disposition" in (lifted.lifted_reason or "") and events == 1


async def test_the_basis_is_shown_and_recorded(session: AsyncSession) -> None:
    employer = await person(session, "employer")
    charging = await person(session, "candidate")
    await _applied(session, employer, charging, "REQ-1")
    hold = await place_hold(
        session,
        actor=OFFICER,
        reason="charge",
        case_reference="EEOC 1",
        employer_id=employer.id,
        requisition_id="REQ-1",
        charge=Charge("470-2026-00001", "EEOC", charging.id, date(2026, 3, 1)),
    )
    litigation = await place_hold(
        session, actor=OFFICER, reason="suit", case_reference="Doe v. Acme", user_id=employer.id
    )
    entry = hold_entry(hold)
    assert entry["basis"] == {
        "type": "eeoc_charge",
        "charge_number": "470-2026-00001",
        "agency": "EEOC",
        "charging_party_id": str(charging.id),
        "respondent_employer_id": str(employer.id),
        "requisition_id": "REQ-1",
        "filed_on": "2026-03-01",
        "final_disposition_on": None,
    }
    assert hold_entry(litigation)["basis"] == {"type": "litigation"}
    views = {v.id: v for v in await hold_views(session)}
    assert views[hold.id].is_charge and views[hold.id].charging_party_name == charging.display_name
    assert not views[litigation.id].is_charge
    async with read_transaction(session):
        placed = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "hold.placed", AuditEvent.subject_id == hold.id
            )
        )
    assert placed is not None and placed.details["basis"] == entry["basis"]


@pytest.mark.parametrize("problem", ["no_application", "not_candidate", "thread_scope", "dates"])
async def test_a_charge_hold_needs_its_basis(
    session: AsyncSession, settings: Settings, problem: str
) -> None:
    employer = await person(session, "employer")
    charging = await person(session, "candidate")
    await _applied(session, employer, charging, "REQ-1" if problem != "no_application" else None)
    party = employer.id if problem == "not_candidate" else charging.id
    filed = date(2026, 3, 1)
    charge = Charge(
        "470-2026-00001",
        "EEOC",
        party,
        filed,
        filed - timedelta(days=1) if problem == "dates" else None,
    )
    target: dict[str, object] = (
        {"user_id": charging.id}
        if problem == "thread_scope"
        else {"employer_id": employer.id, "requisition_id": "REQ-1"}
    )
    with pytest.raises(InvalidInput):
        await place_hold(
            session, actor=OFFICER, reason="charge", case_reference="c", charge=charge, **target
        )  # type: ignore[arg-type]
    async with read_transaction(session):
        assert await session.scalar(select(func.count()).select_from(LegalHold)) == 0
