"""The retaliation queue (/mod/compliance/retaliation) is for compliance roles only; it shows an
item's timeline and reviews it (releasing a held counter-report, whose report page tells
moderators why they cannot decide it meanwhile). The hold form places an EEOC charge hold and
records its final disposition; the holds page shows the basis."""

from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.database import read_transaction
from portal.models import LegalHold
from portal.models.retaliation import RetaliationItem
from portal.principals import EndUser
from portal.services.applications import upsert_application
from portal.services.flags import flag_message
from portal.settings import Settings
from tests.admin.support import post_form, sign_in, snapshot
from tests.portal.moderation_support import send, staff, user

PAGE = "/mod/compliance/retaliation"


async def _held_counter_report(
    session: AsyncSession, settings: Settings
) -> tuple[RetaliationItem, uuid.UUID]:
    """The item of an employer's counter-report, and the candidate's message it reports."""
    employer = await user(session, "employer", "Erin Employer")
    candidate = await user(session, "candidate", "Cody Candidate")
    message = await send(session, settings, employer, candidate, "No foreigners here")
    await flag_message(
        session, EndUser(candidate.id, "candidate"), message.id, reason="discrimination"
    )
    reply = await send(session, settings, candidate, employer, "I have reported you")
    await flag_message(session, EndUser(employer.id, "employer"), reply.id, reason="harassment")
    async with read_transaction(session):
        item = await session.scalar(select(RetaliationItem))
    assert item is not None
    return item, reply.id


async def test_only_compliance_roles_see_and_review_the_queue(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    item, reported = await _held_counter_report(session, settings)
    moderator = await staff(session, "moderator", "Mona Moderator")
    officer = await staff(session, "compliance", "Cleo Compliance")
    admin = await staff(session, "admin", "Ada Admin")
    review = f"{PAGE}/{item.id}/review"
    async with AsyncTestClient(app=app) as client:
        signed_out = await client.get(PAGE, follow_redirects=False)
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/mod/login")

        await sign_in(client, moderator)
        before = await snapshot(session)
        refused = await client.get(PAGE, follow_redirects=False)
        assert refused.status_code == 403
        assert "Cody Candidate" not in refused.text
        assert (await post_form(client, review, {"note": "fine"})).status_code == 403
        assert await snapshot(session) == before
        async with read_transaction(session):
            untouched = await session.get(RetaliationItem, item.id, populate_existing=True)
        assert untouched is not None and untouched.status == "open"
        queue = await client.get("/mod")
        assert PAGE not in queue.text
        # The held report's page tells the moderator why it cannot be decided, and offers no
        # decision; a decision posted anyway is refused.
        report_page = await client.get(f"/mod/reports/{reported}")
        assert report_page.status_code == 200
        assert 'id="retaliation-hold"' in report_page.text
        assert "compliance officer must review and release it" in report_page.text
        assert 'id="dismiss-btn"' not in report_page.text

        for who in (admin, officer):
            await sign_in(client, who)
            page = await client.get(PAGE)
            assert page.status_code == 200
            assert "Erin Employer reported the candidate" in page.text
            assert "0 days after the candidate" in page.text
            assert "Review and release the report" in page.text
            assert f'href="{PAGE}"' in page.text  # the compliance section links to it

        reviewed = await post_form(client, review, {"note": "no retaliatory motive"})
        assert reviewed.status_code == 303
        assert reviewed.headers["location"] == f"{PAGE}?done=released"
        assert "Erin Employer" not in (await client.get(PAGE)).text
        done = await client.get(f"{PAGE}?status=reviewed")
        assert "no retaliatory motive" in done.text and "was released" in done.text
        again = await post_form(client, review, {"note": "twice"})
        assert again.status_code == 409 and "already reviewed" in again.text

        await sign_in(client, moderator)
        report_page = await client.get(f"/mod/reports/{reported}")
        assert 'id="retaliation-hold"' not in report_page.text


async def test_the_hold_form_places_an_eeoc_charge_hold(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    employer = await user(session, "employer", "Acme Hiring")
    charging = await user(session, "candidate", "Dana Charging")
    await upsert_application(
        session,
        employer_id=employer.id,
        candidate_id=charging.id,
        job_title="Welder",
        requisition_id="REQ-44",
        actor=Actor.service(),
    )
    officer = await staff(session, "compliance", "Cleo Compliance")
    form = {
        "employer_id": str(employer.id),
        "requisition_id": "REQ-44",
        "case_reference": "EEOC 846-2026-00044",
        "reason": "Charge of age discrimination",
        "hold_type": "eeoc_charge",
        "charge_number": "846-2026-00044",
        "charge_agency": "EEOC",
        "charging_party_id": str(charging.id),
        "charge_filed_on": "2026-11-02",
    }
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, officer)
        missing = await post_form(client, "/mod/compliance/holds", {**form, "charge_filed_on": ""})
        assert missing.status_code == 400 and "charge_filed_on" in missing.text
        placed = await post_form(client, "/mod/compliance/holds", form)
        assert placed.status_code == 303, placed.text
        async with read_transaction(session):
            hold = await session.scalar(select(LegalHold))
        assert hold is not None and hold.hold_type == "eeoc_charge"
        assert (hold.charging_party_id, hold.requisition_id) == (charging.id, "REQ-44")
        page = await client.get("/mod/compliance/holds")
        assert "EEOC charge" in page.text and "846-2026-00044" in page.text
        assert "Dana Charging" in page.text and "date not yet recorded" in page.text
        recorded = await post_form(
            client,
            f"/mod/compliance/holds/{hold.id}/disposition",
            {"final_disposition_on": "2027-06-30"},
        )
        assert recorded.status_code == 303
        page = await client.get("/mod/compliance/holds")
        assert "held until final disposition on 2027-06-30" in page.text
