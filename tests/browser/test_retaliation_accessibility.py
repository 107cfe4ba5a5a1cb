"""The retaliation queue with an item on it (a held counter-report, its timeline and review
form), the report page telling a moderator why the item is held, and the holds page with an EEOC
charge hold (its basis and the final-disposition form): axe finds nothing serious. The
every-page walk (test_accessibility) sees the queue empty, so this one fills it."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.models import StaffUser
from portal.principals import EndUser
from portal.services.applications import upsert_application
from portal.services.compliance.holds import Charge, place_hold
from portal.services.flags import flag_message
from portal.settings import Settings
from tests.browser.accessibility import serious_violations
from tests.browser.conftest import FRONT_END_ONLY, Browsing, LiveServer
from tests.browser.test_dashboard import sign_in
from tests.portal.moderation_support import send, staff, user

pytestmark = FRONT_END_ONLY


async def _world(
    session: AsyncSession, settings: Settings
) -> tuple[StaffUser, StaffUser, uuid.UUID]:
    employer = await user(session, "employer", "Erin Employer")
    candidate = await user(session, "candidate", "Cody Candidate")
    await upsert_application(
        session,
        employer_id=employer.id,
        candidate_id=candidate.id,
        job_title="Welder",
        requisition_id="REQ-5",
        actor=Actor.service(),
    )
    message = await send(session, settings, employer, candidate, "No foreigners here")
    await flag_message(session, EndUser(candidate.id, "candidate"), message.id, reason="harassment")
    reply = await send(session, settings, candidate, employer, "I have reported you")
    await flag_message(session, EndUser(employer.id, "employer"), reply.id, reason="spam")
    await place_hold(
        session,
        actor=Actor.system(),
        reason="Charge of national-origin discrimination",
        case_reference="EEOC 846-2026-00005",
        employer_id=employer.id,
        requisition_id="REQ-5",
        charge=Charge("846-2026-00005", "EEOC", candidate.id, date(2026, 11, 2)),
    )
    return await staff(session, "compliance"), await staff(session, "moderator"), reply.id


def test_the_retaliation_pages_are_accessible(live_server: LiveServer, browsing: Browsing) -> None:
    live = live_server
    officer, moderator, reported = live.run(_world, live.settings)
    found: dict[str, list[dict[str, Any]]] = {}
    page = browsing.new_page()
    sign_in(page, live, officer, then="/mod/compliance/retaliation")
    assert page.locator(".retaliation-item").count() == 1
    for path in ("/mod/compliance/retaliation", "/mod/compliance/holds"):
        page.goto(live.url + path)
        if violations := serious_violations(page):
            found[path] = violations
    page.context.clear_cookies()  # signed out: sign in as the moderator
    sign_in(page, live, moderator, then=f"/mod/reports/{reported}")
    assert page.locator("#retaliation-hold").count() == 1
    if violations := serious_violations(page):
        found["held report"] = violations
    assert found == {}
