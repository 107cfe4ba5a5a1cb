"""Navigation and errors: an unknown /mod URL answers the dashboard's HTML 404 (in its frame when
signed in, a plain page with a sign-in link when not) while /api keeps its JSON errors; /mod and
/admin link to each other; /admin's 404 keeps its navigation; a bulk decision redirects (PRG), so
reloading the result does not decide again."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from portal.services import moderation
from portal.settings import Settings
from tests.admin.support import make_world, post_form, sign_in
from tests.portal.moderation_support import audit_count, report, report_rows, send

UNKNOWN = ("/mod/nowhere", "/mod/reports/not-an-id", "/mod/reports", "/mod/a/b/c/d")


async def test_an_unknown_dashboard_url_is_an_html_page_in_the_frame(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        for path in UNKNOWN:  # signed out: a plain page that leads to the sign-in
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"].startswith("text/html"), path
            assert "<h1" in response.text and "Not found" in response.text
            assert 'id="error-sign-in"' in response.text and 'href="/mod/login"' in response.text
            assert 'class="topbar"' not in response.text
        await sign_in(client, world.moderator)
        for path in UNKNOWN:
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"].startswith("text/html"), path
            assert 'class="topbar"' in response.text  # the dashboard's frame, its navigation
            assert "Mona Moderator" in response.text and "Back to the queue" in response.text
            assert f"There is no page at {path}." in response.text
            assert "error-sign-in" not in response.text
        # a form's address opened: the page says so, in the frame
        opened = await client.get("/mod/logout")
        assert opened.status_code == 405 and 'class="topbar"' in opened.text
        assert "Not a page" in opened.text and "/mod/logout is not a page to open" in opened.text
        assert "POST" in opened.headers["allow"]
        hostile = await client.get("/mod/%3Cb%3Ehi%3C%2Fb%3E")  # the path shown, escaped
        assert hostile.status_code == 404 and "<b>hi</b>" not in hostile.text
        assert "&lt;b&gt;hi&lt;/b&gt;" in hostile.text
        # a post without its CSRF token to nowhere: still the page, as signed out
        posted = await client.post("/mod/nowhere", data={"x": "1"})
        assert posted.status_code == 404
        assert posted.headers["content-type"].startswith("text/html")
        # the API keeps its JSON errors, signed in to the dashboard or not
        for path in ("/api/v1/nowhere", "/api/nowhere", "/nowhere"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"].startswith("application/json"), path
            assert response.json()["status_code"] == 404
        wrong = await client.delete("/api/v1/messages/threads")
        assert wrong.status_code == 405 and wrong.json()["status_code"] == 405


async def test_the_dashboard_and_the_records_link_to_each_other(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        for role in ("moderator", "compliance", "admin"):
            await sign_in(client, world.account(role))
            queue = await client.get("/mod")
            assert 'id="nav-records"' in queue.text and 'href="/admin/"' in queue.text, role
            records = await client.get("/admin/")
            assert records.status_code == 200
            assert 'href="/mod"' in records.text and "Back to the dashboard" in records.text
            assert 'href="/static/admin.css"' in records.text  # the app's static route
        missing = await client.get("/admin/nowhere/list")
        assert missing.status_code == 404
        assert "Back to the dashboard" in missing.text and 'id="navbar-menu"' in missing.text


async def test_a_bulk_decision_redirects_so_a_reload_decides_nothing(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    second = await send(session, settings, world.sender, world.recipient, "again")
    await report(session, second, world.recipient, "spam")
    await moderation.escalate(session, second.id, actor=world.admin, note="for counsel")
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        response = await post_form(
            client,
            "/mod/bulk",
            {"action": "dismiss", "message_id": [str(world.message.id), str(second.id)]},
        )
        assert response.status_code == 303
        location = response.headers["location"]
        assert location.startswith("/mod")
        decided = await audit_count(session)
        page = await client.get(location)
        assert "Dismiss: 1 item decided, 1 skipped." in page.text
        assert "already escalated by Ada Admin" in page.text
        again = await client.get(location)  # the reload: a GET, nothing decided again
        assert again.status_code == 200 and "Dismiss:" not in again.text
        assert await audit_count(session) == decided
    assert {r.status for r in await report_rows(session, world.message.id)} == {"dismissed"}
