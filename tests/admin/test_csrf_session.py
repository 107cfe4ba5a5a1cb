"""The CSRF token is bound to the staff session and replaced when a session begins or ends: a
token from before a sign-in, or one planted from elsewhere, changes nothing."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from portal.settings import Settings
from tests.admin.support import CSRF_COOKIE, csrf_token, make_world, post_form, sign_in, snapshot
from tests.portal.moderation_support import PASSWORD


def _set_csrf_cookie(client: AsyncTestClient[Litestar], token: str) -> None:
    for cookie in [c for c in client.cookies.jar if c.name == CSRF_COOKIE]:
        client.cookies.jar.clear(cookie.domain, cookie.path, cookie.name)
    client.cookies.set(CSRF_COOKIE, token, domain="testserver.local")


async def test_the_token_is_replaced_at_sign_in_and_sign_out(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        before = await csrf_token(client)
        signed_in = await post_form(
            client, "/mod/login", {"email": world.moderator.email, "password": PASSWORD}
        )
        assert signed_in.status_code == 303
        assert f"{CSRF_COOKIE}=" in signed_in.headers.get("set-cookie", "")
        during = client.cookies[CSRF_COOKIE]
        assert during != before
        # the token from before the sign-in, cookie and form alike, is refused in the session
        _set_csrf_cookie(client, before)
        state = await snapshot(session)
        stale = await post_form(client, f"/mod/reports/{world.message.id}/claim")
        assert stale.status_code == 403
        assert await snapshot(session) == state
        _set_csrf_cookie(client, during)
        assert (await post_form(client, f"/mod/reports/{world.message.id}/claim")).status_code in (
            200,
            303,
        )
        signed_out = await post_form(client, "/mod/logout")
        assert signed_out.status_code == 303
        after = client.cookies[CSRF_COOKIE]
        assert after not in (before, during)
        # the next session gets a token of its own again
        await sign_in(client, world.moderator)
        assert client.cookies[CSRF_COOKIE] not in (before, during, after)


async def test_a_token_planted_from_elsewhere_is_refused(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    """Someone who can set a cookie for the site (a sibling subdomain) plants their own valid
    token pair: the double-submit check alone would pass it."""
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as victim, AsyncTestClient(app=app) as attacker:
        planted = await csrf_token(attacker)
        await sign_in(victim, world.admin)
        own = victim.cookies[CSRF_COOKIE]
        _set_csrf_cookie(victim, planted)
        state = await snapshot(session)
        for path in (f"/mod/staff/{world.moderator.id}/deactivate", "/admin/logout"):
            forged = await victim.post(
                path, data={"_csrf_token": planted}, headers={"x-csrftoken": planted}
            )
            assert forged.status_code == 403, path
            assert "did not come from this site" in forged.text
        assert await snapshot(session) == state
        _set_csrf_cookie(victim, own)
        assert (await victim.get("/mod", follow_redirects=False)).status_code == 200
        done = await post_form(victim, f"/mod/staff/{world.moderator.id}/deactivate")
        assert done.status_code == 303
