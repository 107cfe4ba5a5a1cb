"""What the panels let staff change, and how: evidence refuses every write for every role,
allowed edits go through the services and leave an audit event naming the staff member, list
exports are for compliance and admin and are audited, and the row actions (mark reviewed,
suspend, audit report, legal hold) call the same services as the dashboard."""

from __future__ import annotations

import json
import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import AuditEvent, FlagReport, LegalHold, RateLimitViolation, StaffUser, User
from portal.settings import Settings
from tests.admin.panel_support import make_panel_world
from tests.admin.support import ROLES, csrf_token, post_form, sign_in, snapshot

EVIDENCE = ("message", "flag-report", "audit-event", "rate-limit-violation")


async def events(session: AsyncSession, action: str) -> list[AuditEvent]:
    async with read_transaction(session):
        return list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.position)
            )
        )


async def test_evidence_refuses_create_edit_and_delete_for_every_role(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_panel_world(session, settings)
    async with read_transaction(session):
        ids = {
            "message": world.base.message.id,
            "flag-report": await session.scalar(select(FlagReport.id).limit(1)),
            "audit-event": await session.scalar(select(AuditEvent.id).limit(1)),
            "rate-limit-violation": world.violation_id,
        }
    async with AsyncTestClient(app=app) as client:
        for role in ROLES:
            await sign_in(client, world.base.account(role))
            token = await csrf_token(client)
            before = await snapshot(session)
            for identity in EVIDENCE:
                if role == "moderator" and identity == "audit-event":
                    continue
                pk = ids[identity]
                page = await client.get(f"/admin/{identity}/list")
                assert page.status_code == 200
                # the UI offers no way to write: no create, edit, delete, import or bulk action
                for marker in ("/create", "/edit/", "/delete", "/import", "/action/"):
                    assert f"/admin/{identity}{marker}" not in page.text, (identity, marker)
                assert "read-only evidence" in page.text
                for path in (f"/admin/{identity}/create", f"/admin/{identity}/edit/{pk}"):
                    assert (await client.get(path)).status_code == 403, path
                    forged = await client.post(
                        path, data={"_csrf_token": token, "body": "forged", "status": "reviewed"}
                    )
                    assert forged.status_code == 403, path
                deleted = await client.delete(
                    f"/admin/{identity}/delete?pks={pk}", headers={"x-csrftoken": token}
                )
                assert deleted.status_code == 403
                imported = await client.post(
                    f"/admin/{identity}/import",
                    files={"file": ("rows.csv", b"id\n1\n", "text/csv")},
                    data={"_csrf_token": token},
                )
                assert imported.status_code == 403
            assert await snapshot(session) == before, role


async def test_allowed_edits_go_through_the_services_and_are_audited(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_panel_world(session, settings)
    sender = world.base.sender
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.base.moderator)
        before = await snapshot(session)
        refused = await post_form(
            client, f"/admin/user/edit/{sender.id}", {"email": sender.email, "display_name": "X"}
        )
        assert refused.status_code == 403
        assert await snapshot(session) == before

        await sign_in(client, world.base.admin)
        token = await csrf_token(client)
        # the edit form is multipart, as the browser sends it
        edited = await client.post(
            f"/admin/user/edit/{sender.id}",
            files={
                "_csrf_token": (None, token),
                "email": (None, sender.email),
                "display_name": (None, "Erin Renamed"),
                "save": (None, "Save"),
            },
            follow_redirects=False,
        )
        assert edited.status_code == 302, edited.text
        [event] = await events(session, "user.updated")
        assert (event.actor_type, event.actor_id) == ("staff", world.base.admin.id)
        assert event.details == {"display_name": "Erin Renamed"}

        bad = await post_form(
            client,
            f"/admin/application/edit/{world.application_id}",
            {"job_title": "  ", "status": "hired", "requisition_id": "REQ-1"},
        )
        assert bad.status_code == 400 and "job_title" in bad.text
        assert await events(session, "application.updated") == []
        moved = await post_form(
            client,
            f"/admin/application/edit/{world.application_id}",
            {
                "job_title": "Head cook",
                "status": "hired",
                "requisition_id": "REQ-1",
                "save": "Save",
            },
        )
        assert moved.status_code == 302, moved.text
        [event] = await events(session, "application.updated")
        assert event.actor_id == world.base.admin.id
        assert event.details["status"] == "hired"

        created = await post_form(
            client,
            "/admin/staff-account/create",
            {
                "email": "new.moderator@staff.example.com",
                "display_name": "Nia New",
                "role": "moderator",
                "password": "a long enough password",
                "save": "Save",
            },
        )
        assert created.status_code == 302, created.text
        [event] = await events(session, "staff.created")
        assert event.actor_id == world.base.admin.id
        async with read_transaction(session):
            account = await session.scalar(
                select(StaffUser).where(StaffUser.email == "new.moderator@staff.example.com")
            )
        assert account is not None and account.password_hash.startswith("$argon2")
        changed = await post_form(
            client,
            f"/admin/staff-account/edit/{account.id}",
            {"role": "compliance", "save": "Save"},  # unticked: deactivated
        )
        assert changed.status_code == 302, changed.text
        assert [e.actor_id for e in await events(session, "staff.role_changed")] == [
            world.base.admin.id
        ]
        assert len(await events(session, "staff.deactivated")) == 1
        # the password hash is shown nowhere
        page = await client.get(f"/admin/staff-account/details/{account.id}")
        assert account.password_hash not in page.text and "password_hash" not in page.text


async def test_list_exports_are_for_compliance_and_admin_and_audited(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_panel_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.base.moderator)
        page = await client.get("/admin/user/list")
        assert "/admin/user/export/" not in page.text
        assert (await post_form(client, "/admin/user/export/csv")).status_code == 403
        assert await events(session, "panel.exported") == []

        await sign_in(client, world.base.compliance)
        page = await client.get("/admin/user/list")
        assert 'action="http://testserver.local/admin/user/export/csv"' in page.text
        csv = await post_form(client, "/admin/user/export/csv")
        assert csv.status_code == 200 and world.base.sender.email in csv.text
        rows = json.loads((await post_form(client, "/admin/blocklist/export/json")).text)
        assert rows[0]["blocked_by_recent"] == 1
        exported = await events(session, "panel.exported")
        assert [(e.actor_id, e.details["panel"], e.details["format"]) for e in exported] == [
            (world.base.compliance.id, "user", "csv"),
            (world.base.compliance.id, "blocklist", "json"),
        ]
        assert exported[0].details["rows"] == 2

        await sign_in(client, world.base.admin)
        staff_csv = await post_form(client, "/admin/staff-account/export/csv")
        assert world.base.moderator.email in staff_csv.text
        assert "password" not in staff_csv.text and "$argon2" not in staff_csv.text


async def test_violation_actions_use_the_moderation_services(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_panel_world(session, settings)
    base = f"/admin/rate-limit-violation/do/{{}}/{world.violation_id}"
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.base.compliance)
        page = await client.get(f"/admin/rate-limit-violation/details/{world.violation_id}")
        assert "Mark reviewed" not in page.text
        assert (await post_form(client, base.format("review"))).status_code == 403

        await sign_in(client, world.base.moderator)
        page = await client.get(f"/admin/rate-limit-violation/details/{world.violation_id}")
        assert "Mark reviewed" in page.text and "Suspend user" in page.text
        before = await snapshot(session)
        bad = await post_form(client, base.format("suspend"), {"reason": "spam", "days": "2"})
        assert bad.status_code == 400 and "days: must be 1, 3, 7, 30 or indefinite" in bad.text
        assert await snapshot(session) == before

        reviewed = await post_form(client, base.format("review"))
        assert reviewed.status_code == 303
        assert reviewed.headers["location"].endswith("?done=review")
        shown = await client.get(reviewed.headers["location"])
        assert "Mark reviewed: done." in shown.text
        again = await post_form(client, base.format("review"))
        assert again.status_code == 409 and "already reviewed by Mona Moderator" in again.text
        async with read_transaction(session):
            violation = await session.get(
                RateLimitViolation, world.violation_id, populate_existing=True
            )
        assert violation is not None
        assert (violation.status, violation.reviewed_by_id) == ("reviewed", world.base.moderator.id)
        [event] = await events(session, "rate_limit.reviewed")
        assert event.actor_id == world.base.moderator.id

        # the policy is picked from the active ones; none is refused, changing nothing
        assert re.search(r'<option value="spam" ?>Spam and unsolicited', page.text)
        before = await snapshot(session)
        unfounded = await post_form(
            client, base.format("suspend"), {"reason": "flood", "days": "7"}
        )
        assert unfounded.status_code == 400 and "policy" in unfounded.text
        assert await snapshot(session) == before
        suspended = await post_form(
            client, base.format("suspend"), {"reason": "flood", "days": "7", "policy": "spam"}
        )
        assert suspended.status_code == 303
        async with read_transaction(session):
            user = await session.get(User, world.base.sender.id, populate_existing=True)
        assert user is not None and user.is_suspended and user.suspended_reason == "flood"
        [event] = await events(session, "user.suspended")
        assert (event.actor_id, event.details["days"]) == (world.base.moderator.id, 7)
        assert event.details["violation_id"] == str(world.violation_id)


async def test_thread_report_download_and_legal_hold(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_panel_world(session, settings)
    thread = world.thread_id
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.base.moderator)
        page = await client.get(f"/admin/message-thread/details/{thread}")
        assert page.status_code == 200 and 'id="audit-report"' not in page.text
        refused = await post_form(client, f"/admin/message-thread/do/report/{thread}")
        assert refused.status_code == 403

        await sign_in(client, world.base.compliance)
        page = await client.get(f"/admin/message-thread/details/{thread}")
        assert 'id="audit-report"' in page.text
        for fmt, media in (("json", "application/json"), ("csv", "text/csv"), ("pdf", "pdf")):
            download = await post_form(
                client, f"/admin/message-thread/do/report/{thread}", {"format": fmt}
            )
            assert download.status_code == 200, download.text
            assert media in download.headers["content-type"]
            assert f"audit-thread-{thread}.{fmt}" in download.headers["content-disposition"]
        report = json.loads(
            (
                await post_form(
                    client, f"/admin/message-thread/do/report/{thread}", {"format": "json"}
                )
            ).content
        )
        assert report["report"]["thread"]["id"] == str(thread)
        exports = await events(session, "report.exported")
        assert [e.details["format"] for e in exports] == ["json", "csv", "pdf", "json"]
        assert {e.actor_id for e in exports} == {world.base.compliance.id}

        before = await snapshot(session)
        bad = await post_form(
            client, f"/admin/message-thread/do/hold/{thread}", {"reason": "x", "case_reference": ""}
        )
        assert bad.status_code == 400 and "case_reference" in bad.text
        assert await snapshot(session) == before
        held = await post_form(
            client,
            f"/admin/message-thread/do/hold/{thread}",
            {"reason": "charge filed", "case_reference": "EEOC-2"},
        )
        assert held.status_code == 303
        async with read_transaction(session):
            hold = await session.scalar(select(LegalHold).where(LegalHold.thread_id == thread))
        assert hold is not None and hold.placed_by_id == world.base.compliance.id
        lifted = await post_form(
            client, f"/admin/legal-hold/do/lift/{hold.id}", {"reason": "case closed"}
        )
        assert lifted.status_code == 303
        [event] = await events(session, "hold.lifted")
        assert event.actor_id == world.base.compliance.id


async def test_one_sign_in_for_mod_and_admin(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_panel_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        anonymous = await client.get("/admin/blocklist/list?sort=desc", follow_redirects=False)
        assert (
            anonymous.headers["location"] == "/mod/login?next=/admin/blocklist/list%3Fsort%3Ddesc"
        )
        login = await client.get("/admin/login", follow_redirects=False)
        assert login.headers["location"] == "/mod/login?next=/admin"

        # signed in at /mod: /admin opens; signed out at /admin: /mod is closed
        await sign_in(client, world.base.admin)
        assert (await client.get("/admin/")).status_code == 200
        out = await post_form(client, "/admin/logout")
        assert (out.status_code, out.headers["location"]) == (303, "/mod/login")
        assert "portal_staff" not in client.cookies
        assert (await client.get("/mod", follow_redirects=False)).status_code == 303
        assert len(await events(session, "staff.signed_out")) == 1

        # and the other way round
        await sign_in(client, world.base.compliance)
        cookie = client.cookies["portal_staff"]
        await post_form(client, "/mod/logout")
        client.cookies.set("portal_staff", cookie)  # even a copy of the old cookie is dead
        closed = await client.get("/admin/", follow_redirects=False)
        assert closed.headers["location"] == "/mod/login?next=/admin/"
