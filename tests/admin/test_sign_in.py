"""Staff sign-in and the session: cookie flags, throttling, expiry, sign-out, revocation by
deactivation or password reset, and no open redirect after sign-in."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

import dashboard.staff_auth as staff_auth
from portal.services import staff as staff_service
from portal.settings import Settings
from server.app import create_app
from tests.admin.support import make_world, post_form, sign_in
from tests.admin.test_sign_in_attacks import clear_of_window_edge
from tests.conftest import settings_with
from tests.portal.moderation_support import PASSWORD, audit_count, staff


async def test_sign_in_sets_a_strict_session_cookie_and_records_it(
    app: Litestar, session: AsyncSession
) -> None:
    moderator = await staff(session, "moderator", "Mo")
    async with AsyncTestClient(app=app) as client:
        response = await sign_in(client, moderator)
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("portal_staff=")
        )
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=lax", "path=/"} <= flags
        assert "secure" not in flags  # http base URL
        assert (await client.get("/mod")).status_code == 200
    assert await audit_count(session, "staff.signed_in") == 1


async def test_the_cookie_is_secure_behind_https(session: AsyncSession, settings: Settings) -> None:
    moderator = await staff(session, "moderator")
    app = create_app(settings_with(settings, base_url="https://portal.example.com"))
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        response = await sign_in(client, moderator)
        cookies = response.headers.get_list("set-cookie")
        assert all("secure" in c.lower() for c in cookies if c.startswith("portal_staff="))


async def test_wrong_password_is_refused_then_throttled(
    app: Litestar, session: AsyncSession
) -> None:
    moderator = await staff(session, "moderator")
    await clear_of_window_edge()
    async with AsyncTestClient(app=app) as client:
        for _ in range(staff_service.SIGN_IN_MAX_FAILURES):
            response = await post_form(
                client, "/mod/login", {"email": moderator.email, "password": "wrong password!"}
            )
            assert response.status_code == 401
            assert "do not match" in response.text
            assert "portal_staff=" not in response.headers.get("set-cookie", "")
        # even the right password is refused now, with a time to wait
        response = await post_form(
            client, "/mod/login", {"email": moderator.email, "password": PASSWORD}
        )
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 0
        assert (await client.get("/mod", follow_redirects=False)).status_code == 303
    # one lockout event, not one event per attempt
    assert await audit_count(session, "staff.sign_in_locked") == 1
    assert await audit_count(session, "staff.signed_in") == 0


async def test_sign_out_ends_the_session_even_for_a_copied_cookie(
    app: Litestar, session: AsyncSession
) -> None:
    moderator = await staff(session, "moderator")
    async with AsyncTestClient(app=app) as client, AsyncTestClient(app=app) as other_device:
        await sign_in(client, moderator)
        await sign_in(other_device, moderator)
        copied = client.cookies["portal_staff"]
        response = await post_form(client, "/mod/logout")
        assert (response.status_code, response.headers["location"]) == (303, "/mod/login")
        after = await client.get("/mod", follow_redirects=False)
        assert after.headers["location"] == "/mod/login"
        client.cookies.set("portal_staff", copied)
        assert (await client.get("/mod", follow_redirects=False)).status_code == 303
        assert (await other_device.get("/mod", follow_redirects=False)).status_code == 303
        await sign_in(client, moderator)  # a new sign-in works at once
        assert (await client.get("/mod", follow_redirects=False)).status_code == 200
    assert await audit_count(session, "staff.signed_out") == 1


async def test_idle_and_absolute_expiry(
    app: Litestar, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    moderator = await staff(session, "moderator")
    clock = [1_800_000_000]
    monkeypatch.setattr(staff_auth, "now_seconds", lambda: clock[0])
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, moderator)
        # active every 50 minutes: the idle limit (60) never passes, until 12 hours are up
        while clock[0] - 1_800_000_000 + 50 * 60 <= staff_auth.ABSOLUTE_TIMEOUT_SECONDS:
            clock[0] += 50 * 60
            assert (await client.get("/mod", follow_redirects=False)).status_code == 200
        clock[0] += 50 * 60
        assert (await client.get("/mod", follow_redirects=False)).status_code == 303

        await sign_in(client, moderator)
        clock[0] += staff_auth.IDLE_TIMEOUT_SECONDS + 1
        assert (await client.get("/mod", follow_redirects=False)).status_code == 303


async def test_deactivation_and_password_reset_end_sessions_at_once(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as admin_client, AsyncTestClient(app=app) as mod_client:
        await sign_in(admin_client, world.admin)
        await sign_in(mod_client, world.moderator)
        reset = await post_form(
            admin_client,
            f"/mod/staff/{world.moderator.id}/password",
            {"password": "a brand new password"},
        )
        assert reset.status_code == 303
        assert (await mod_client.get("/mod", follow_redirects=False)).status_code == 303
        await sign_in(mod_client, world.moderator, "a brand new password")
        await post_form(admin_client, f"/mod/staff/{world.moderator.id}/deactivate")
        assert (await mod_client.get("/mod", follow_redirects=False)).status_code == 303
        refused = await post_form(
            mod_client,
            "/mod/login",
            {"email": world.moderator.email, "password": "a brand new password"},
        )
        assert refused.status_code == 401


HOSTILE_TARGETS = [
    "https://evil.example.com/",
    "//evil.example.com/mod",
    "/\\evil.example.com",
    "http:/mod",
    "/api/v1/messages",
    "/mod/login",
    "/mod\r\nLocation: https://evil.example.com",
    "/mod/..//evil.example.com",
    "/admin/../..//evil.example.com/x",
    "/mod/%2e%2e//evil.example.com",
    "/mod/%2E%2E/%2Fevil.example.com",
    "/mod/./../api/v1/messages",
    "/mod//evil.example.com",
    "/mod/%5cevil.example.com",
    "/mod/%0d%0aSet-Cookie:x=y",
]


async def test_no_open_redirect_after_sign_in(app: Litestar, session: AsyncSession) -> None:
    moderator = await staff(session, "moderator")
    async with AsyncTestClient(app=app) as client:
        for target in HOSTILE_TARGETS:
            client.cookies.clear()
            response = await post_form(
                client,
                "/mod/login",
                {"email": moderator.email, "password": PASSWORD, "next": target},
            )
            assert (response.status_code, response.headers["location"]) == (303, "/mod"), target


def test_safe_next_keeps_dashboard_paths() -> None:
    assert staff_auth.safe_next("/mod/reports/1?done=x") == "/mod/reports/1?done=x"
    assert staff_auth.safe_next("/admin/") == "/admin/"
    assert staff_auth.safe_next("/admin/user/list?search=a%20b") == "/admin/user/list?search=a%20b"
    assert staff_auth.safe_next("/mod/reports/1/..") == "/mod"
    assert staff_auth.safe_next("/modx") == "/mod"
    assert staff_auth.safe_next(None) == "/mod"
