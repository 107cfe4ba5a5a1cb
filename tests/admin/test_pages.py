"""The dashboard pages over HTTP: submit-and-next, decided once, bad input changes nothing,
htmx partials, escaped hostile content, staff management, and the security headers."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from portal.services import moderation
from portal.settings import Settings
from server.security_headers import DASHBOARD_CSP
from tests.admin.support import make_world, post_form, sign_in, snapshot
from tests.conftest import no_database
from tests.portal.moderation_support import (
    PASSWORD,
    audit_count,
    report,
    report_rows,
    send,
    staff,
    user,
)

HX = {"HX-Request": "true"}


async def test_a_decision_opens_the_next_item(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    other = await send(session, settings, world.sender, world.recipient, "second one")
    await report(session, other, world.recipient, "spam")
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        response = await post_form(
            client, f"/mod/reports/{world.message.id}/dismiss", {"note": "fine"}
        )
        assert response.status_code == 303
        page = await client.get(response.headers["location"])
        assert page.url.path == f"/mod/reports/{other.id}"
        assert page.url.params["done"] == "dismissed" and page.url.params["undo"]
        assert "Done: dismissed the reports on" in page.text
        assert "That was the previous item" in page.text
        # nothing left: the item just decided, saying so (with its undo)
        response = await post_form(client, f"/mod/reports/{other.id}/dismiss")
        page = await client.get(response.headers["location"])
        assert page.url.path == f"/mod/reports/{other.id}"
        assert "The queue is empty" in page.text and 'id="undo-btn"' in page.text
        missing = await client.get("/mod/reports/00000000-0000-7000-8000-000000000000")
        assert missing.status_code == 404 and "Not found" in missing.text
    assert {r.status for r in await report_rows(session, world.message.id)} == {"dismissed"}


async def test_a_second_decision_is_told_who_decided(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    await moderation.remove_message(
        session,
        world.message.id,
        actor=world.admin,
        reason="abuse",
        grounds=moderation.Grounds(policy="spam"),
    )
    before = await snapshot(session)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        before = await snapshot(session)
        response = await post_form(client, f"/mod/reports/{world.message.id}/dismiss")
        assert response.status_code == 409
        assert "already decided by Ada Admin" in response.text
    assert await snapshot(session) == before


async def test_remove_and_suspend_need_a_reason(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        before = await snapshot(session)
        for action, data in (
            ("remove", {"reason": "  ", "policy": "spam"}),
            ("suspend", {"reason": "", "days": "1", "policy": "spam"}),
            ("suspend", {"reason": "spam", "days": "2", "policy": "spam"}),
            ("suspend", {"reason": "spam", "policy": "spam"}),  # no duration: not "indefinite"
            ("suspend", {"reason": "x\x00y", "days": "1", "policy": "spam"}),
        ):
            response = await post_form(client, f"/mod/reports/{world.message.id}/{action}", data)
            assert response.status_code == 400, (action, data)
            assert 'role="alert"' in response.text
        response = await post_form(client, f"/mod/users/{world.sender.id}/suspend", {"days": "9"})
        assert response.status_code == 400
        assert "days" in response.text
        response = await post_form(client, "/mod/bulk", {"action": "explode"})
        assert response.status_code == 400
        response = await post_form(client, "/mod/bulk", {"action": "remove", "message_id": "x"})
        assert response.status_code == 400
        assert await snapshot(session) == before


async def test_bulk_names_what_it_skipped(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    second = await send(session, settings, world.sender, world.recipient, "again")
    await report(session, second, world.recipient, "spam")
    await moderation.escalate(session, second.id, actor=world.admin, note="legal")
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        token = client.cookies["portal_csrf"]
        response = await client.post(
            "/mod/bulk",
            data={
                "_csrf_token": token,
                "action": "dismiss",
                "message_id": [str(world.message.id), str(second.id)],
            },
        )
        assert response.status_code == 200
        assert "Dismiss: 1 item decided, 1 skipped." in response.text
        assert "already escalated by Ada Admin" in response.text


async def test_htmx_gets_partials(app: Litestar, session: AsyncSession, settings: Settings) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        rows = await client.get("/mod?reason=harassment", headers={**HX, "HX-Target": "queue-rows"})
        assert rows.status_code == 200
        assert "<html" not in rows.text and f'data-message-id="{world.message.id}"' in rows.text
        assert '<span id="queue-total" class="muted" hx-swap-oob="true">1 item</span>' in rows.text
        counts = await client.get("/mod/counts", headers={**HX, "HX-Target": "nav-counts"})
        assert counts.text.strip().startswith('<span id="nav-counts"')
        assert 'hx-trigger="every 30s"' in counts.text
        boosted = await client.get("/mod", headers={**HX, "HX-Boosted": "true"})
        assert "<html" in boosted.text  # a boosted navigation gets the whole page
        # signed out, htmx is told where to go instead of swapping a sign-in page in
        client.cookies.clear()
        page = f"http://testserver.local/mod/reports/{world.message.id}"
        gone = await client.get(
            "/mod/counts", headers={**HX, "HX-Current-URL": page}, follow_redirects=False
        )
        assert gone.status_code == 401
        assert gone.headers["hx-redirect"] == f"/mod/login?next=/mod/reports/{world.message.id}"


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def test_hostile_content_is_escaped(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    sender = await user(session, "employer", HOSTILE)
    recipient = await user(session, "candidate", HOSTILE)
    message = await send(session, settings, sender, recipient, "hi " + HOSTILE)
    await report(session, message, recipient, "harassment", note=HOSTILE)
    moderator = await staff(session, "moderator", HOSTILE)
    await moderation.add_note(session, actor=moderator, body=HOSTILE, message_id=message.id)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, moderator)
        for path in ("/mod", f"/mod/reports/{message.id}", f"/mod/users/{sender.id}"):
            page = await client.get(path)
            assert page.status_code == 200
            assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
            assert "&lt;script&gt;" in page.text, path


async def test_staff_management(app: Litestar, session: AsyncSession, settings: Settings) -> None:
    world = await make_world(session, settings)
    created_before = await audit_count(session, "staff.created")
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.admin)
        created = await post_form(
            client,
            "/mod/staff",
            {"email": "nina@staff.example.com", "role": "moderator", "password": PASSWORD},
        )
        assert created.status_code == 303
        page = await client.get("/mod/staff")
        assert "nina@staff.example.com" in page.text
        short = await post_form(
            client,
            "/mod/staff",
            {"email": "x@staff.example.com", "role": "admin", "password": "short"},
        )
        assert short.status_code == 400 and "password" in short.text
        role = await post_form(
            client, f"/mod/staff/{world.moderator.id}/role", {"role": "compliance"}
        )
        assert role.status_code == 303
        myself = await post_form(client, f"/mod/staff/{world.admin.id}/deactivate")
        assert myself.status_code in (400, 403, 409)
    assert await audit_count(session, "staff.created") == created_before + 1


@no_database
async def test_security_headers_and_local_api_docs(app: Litestar) -> None:
    async with AsyncTestClient(app=app) as client:
        login = await client.get("/mod/login")
        assert login.headers["content-security-policy"] == DASHBOARD_CSP
        assert login.headers["x-frame-options"] == "DENY"
        assert "script-src 'self';" in DASHBOARD_CSP and "unsafe-inline" not in DASHBOARD_CSP
        docs = await client.get("/schema")
        assert docs.status_code == 200
        assert "script-src 'self'" in docs.headers["content-security-policy"]
        assert "http" not in docs.text.replace("http-equiv", "")  # no CDN, only local paths
        assert "<script>" not in docs.text  # no inline script
        for asset in (
            "/static/vendor/swagger-ui/swagger-ui-bundle.js",
            "/static/vendor/htmx/htmx.min.js",
            "/static/api-docs.js",
            "/static/mod.js",
            "/static/mod.css",
        ):
            assert (await client.get(asset)).status_code == 200, asset


async def test_queue_filters_from_the_form(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    item = f'data-message-id="{world.message.id}"'
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        any_filter = await client.get("/mod?status=open&reason=&age=&order=priority")
        assert any_filter.status_code == 200 and item in any_filter.text
        other_reason = await client.get("/mod?reason=spam&age=1&order=age")
        assert other_reason.status_code == 200 and item not in other_reason.text
        for bad in ("status=all", "reason=rude", "age=2", "age=x", "page=0", "order=random"):
            response = await client.get(f"/mod?{bad}")
            assert response.status_code == 400, bad
            assert bad.split("=")[0] in response.text, bad
        await sign_in(client, world.compliance)  # compliance starts on the escalated items
        escalated = await client.get("/mod")
        assert item not in escalated.text and "No escalated items" not in escalated.text
        assert 'value="escalated" selected' in escalated.text
