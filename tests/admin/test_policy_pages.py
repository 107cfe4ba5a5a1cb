"""Policies in /mod (administrators only) and in SQLAdmin: the catalogue, a new policy, an edit
that makes a new version; refusals keep the form and change nothing; other roles get 403; the
SQLAdmin panel edits through the same service."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import AuditEvent, Policy
from portal.settings import Settings
from tests.admin.support import csrf_token, make_world, post_form, sign_in, snapshot

NEW = {
    "key": "fake_reviews",
    "title": "Fake reviews",
    "ground": "terms_of_service",
    "ground_reference": "Terms of Service, section 4.7",
    "category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "explanation": "The message offered payment for a review.",
}


async def _policy(session: AsyncSession, key: str) -> Policy:
    async with read_transaction(session):
        found = await session.scalar(
            select(Policy).where(Policy.key == key).execution_options(populate_existing=True)
        )
    assert found is not None
    return found


async def _events(session: AsyncSession, action: str) -> list[AuditEvent]:
    async with read_transaction(session):
        return list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.position)
            )
        )


async def test_admins_list_create_and_edit_policies_and_others_get_403(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    spam = await _policy(session, "spam")
    async with AsyncTestClient(app=app) as client:
        for role in ("moderator", "compliance"):
            await sign_in(client, world.account(role))
            assert 'id="nav-policies"' not in (await client.get("/mod")).text
            before = await snapshot(session)
            assert (await client.get("/mod/policies")).status_code == 403
            assert (await client.get(f"/mod/policies/{spam.id}")).status_code == 403
            assert (await post_form(client, "/mod/policies", NEW)).status_code == 403
            edit = {**NEW, "active": "on"}
            assert (await post_form(client, f"/mod/policies/{spam.id}", edit)).status_code == 403
            assert await snapshot(session) == before

        await sign_in(client, world.admin)
        page = (await client.get("/mod/policies")).text
        assert 'id="nav-policies"' in page and "6 active of 6" in page
        row = re.search(r'<td class="mono">spam</td>(.*?)</tr>', page, re.S)
        assert row
        for text in (
            "Spam and unsolicited bulk messages",
            "terms of service",
            "other violation tc",
        ):
            assert text in row.group(1), text
        assert '<td class="num">1</td>' in row.group(1)

        before = await snapshot(session)
        taken = await post_form(client, "/mod/policies", {**NEW, "key": "spam"})
        assert taken.status_code == 400 and "already exists" in taken.text
        assert 'value="Fake reviews"' in taken.text  # the form comes back as sent
        assert await snapshot(session) == before
        created = await post_form(client, "/mod/policies", NEW)
        assert created.status_code == 303
        assert created.headers["location"] == "/mod/policies?done=created"
        assert "Done: policy created." in (await client.get(created.headers["location"])).text
        assert (await _policy(session, "fake_reviews")).version == 1

        edit_page = (await client.get(f"/mod/policies/{spam.id}")).text
        assert "Save version 2" in edit_page and spam.explanation in edit_page
        before = await snapshot(session)
        blank = await post_form(
            client,
            f"/mod/policies/{spam.id}",
            {**NEW, "title": "Spam", "explanation": " ", "active": "on"},
        )
        assert blank.status_code == 400 and "explanation" in blank.text
        assert 'value="Spam"' in blank.text
        assert await snapshot(session) == before
        saved = await post_form(
            client,
            f"/mod/policies/{spam.id}",
            {
                "title": "Spam",
                "ground": "terms_of_service",
                "ground_reference": "Terms, 4.4",
                "category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
                "explanation": "Unsolicited messages.",
                # unticked "active": the policy is withdrawn from the pickers
            },
        )
        assert saved.status_code == 303
    edited = await _policy(session, "spam")
    assert (edited.version, edited.title, edited.active) == (2, "Spam", False)
    [event] = await _events(session, "policy.updated")
    assert event.actor_id == world.admin.id and event.details["explanation"] == (
        "Unsolicited messages."
    )
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        report_page = (await client.get(f"/mod/reports/{world.message.id}")).text
        assert 'value="spam"' not in report_page and 'value="fake_reviews"' in report_page


async def test_the_sqladmin_panel_lists_and_edits_through_the_service(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    scam = await _policy(session, "scam")
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        listed = await client.get("/admin/policy/list")
        assert listed.status_code == 200 and "Scams and advance-fee fraud" in listed.text
        assert f"/admin/policy/edit/{scam.id}" not in listed.text
        before = await snapshot(session)
        forged = await post_form(client, f"/admin/policy/edit/{scam.id}", {"title": "x"})
        assert forged.status_code == 403
        assert await snapshot(session) == before

        await sign_in(client, world.admin)
        listed = (await client.get("/admin/policy/list")).text
        assert f"/admin/policy/edit/{scam.id}" in listed
        token = await csrf_token(client)
        before = await snapshot(session)
        bad = await client.post(
            f"/admin/policy/edit/{scam.id}",
            data={
                "_csrf_token": token,
                "title": "Scams",
                "ground": "vibes",
                "ground_reference": "4.1",
                "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
                "explanation": "Fees.",
                "active": "y",
                "save": "Save",
            },
            follow_redirects=False,
        )
        assert bad.status_code == 400 and "ground" in bad.text
        assert await snapshot(session) == before
        edited = await client.post(
            f"/admin/policy/edit/{scam.id}",
            data={
                "_csrf_token": token,
                "title": "Scams",
                "ground": "terms_of_service",
                "ground_reference": "4.1",
                "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
                "explanation": "Fees.",
                "active": "y",
                "save": "Save",
            },
            follow_redirects=False,
        )
        assert edited.status_code == 302, edited.text
        created = await client.post(
            "/admin/policy/create",
            data={"_csrf_token": token, **NEW, "save": "Save"},
            follow_redirects=False,
        )
        assert created.status_code == 302, created.text
    scam = await _policy(session, "scam")
    assert (scam.version, scam.title, scam.explanation, scam.active) == (2, "Scams", "Fees.", True)
    [update] = await _events(session, "policy.updated")
    assert update.actor_id == world.admin.id
    [create] = await _events(session, "policy.created")
    assert create.details["key"] == "fake_reviews" and create.actor_id == world.admin.id
