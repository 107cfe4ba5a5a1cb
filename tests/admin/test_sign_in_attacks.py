"""Sign-in under attack: concurrent guesses, floods, lockouts from elsewhere, and sessions that
must stay ended."""

from __future__ import annotations

import asyncio
import time

import pytest
from argon2 import PasswordHasher
from httpx import ASGITransport, AsyncClient, Response
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import passwords
from portal.database import read_transaction
from portal.models import StaffSignInWindow, StaffUser
from portal.services import sign_in_throttle
from portal.services import staff as staff_service
from portal.settings import Settings
from tests.admin.support import CSRF_COOKIE, csrf_token, make_world, post_form, sign_in
from tests.portal.moderation_support import PASSWORD, audit_count, staff

ATTEMPTS = 20


async def clear_of_window_edge(margin_seconds: float = 20) -> None:
    """Waits out the end of the sign-in throttle's current window when it is near, so that the
    attempts of a test (at the real time) all fall into one window."""
    left = sign_in_throttle.WINDOW_SECONDS - time.time() % sign_in_throttle.WINDOW_SECONDS
    if left < margin_seconds:
        await asyncio.sleep(left + 0.5)


async def _windows(session: AsyncSession, email: str) -> list[StaffSignInWindow]:
    async with read_transaction(session):
        return list(
            (
                await session.scalars(
                    select(StaffSignInWindow)
                    .where(StaffSignInWindow.email.in_([email, ""]))
                    .order_by(StaffSignInWindow.scope)
                )
            ).all()
        )


async def _attempt(
    client: AsyncClient | AsyncTestClient[Litestar], token: str, account: StaffUser, password: str
) -> Response:
    form = {"_csrf_token": token, "email": account.email, "password": password}
    return await client.post("/mod/login", data=form, follow_redirects=False)


def concurrent_client(app: Litestar) -> AsyncClient:
    """Requests that really run at once on this event loop (Litestar's test client answers one
    request at a time from a thread of its own)."""
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver.local")


async def test_concurrent_guesses_are_checked_at_most_the_limit(
    app: Litestar, session: AsyncSession
) -> None:
    """20 wrong passwords at once, then the right one: at most the limit of them are checked,
    and the right password after them is refused while the account is locked."""
    await clear_of_window_edge()
    moderator = await staff(session, "moderator")
    async with concurrent_client(app) as client:
        await client.get("/mod/login")
        token = client.cookies[CSRF_COOKIE]
        answers = await asyncio.gather(
            *(_attempt(client, token, moderator, "wrong password!") for _ in range(ATTEMPTS))
        )
        codes = [answer.status_code for answer in answers]
        assert codes.count(401) == staff_service.SIGN_IN_MAX_FAILURES, codes
        assert codes.count(429) == ATTEMPTS - staff_service.SIGN_IN_MAX_FAILURES, codes
        right = await _attempt(client, token, moderator, PASSWORD)
        assert right.status_code == 429
        assert "portal_staff=" not in right.headers.get("set-cookie", "")
    [pair] = [w for w in await _windows(session, moderator.email) if w.scope == "account_address"]
    assert (pair.failures, pair.refused) == (
        staff_service.SIGN_IN_MAX_FAILURES,
        ATTEMPTS - staff_service.SIGN_IN_MAX_FAILURES + 1,
    )
    assert await audit_count(session, "staff.signed_in") == 0
    assert await audit_count(session, "staff.sign_in_locked") == 1


@pytest.mark.parametrize("failures", [3, 8])
async def test_failed_sign_ins_are_one_row_per_counter_and_at_most_one_event(
    app: Litestar, session: AsyncSession, failures: int
) -> None:
    """Anonymous failures do not grow the audit chain one event each: N failures for one account
    from one address are one counter row per scope, and at most the lockout's event."""
    await clear_of_window_edge()
    moderator = await staff(session, "moderator")
    events_before = await audit_count(session)
    async with AsyncTestClient(app=app) as client:
        token = await csrf_token(client)
        for _ in range(failures):
            answer = await _attempt(client, token, moderator, "wrong password!")
            assert answer.status_code in (401, 429)
    rows = await _windows(session, moderator.email)
    assert [row.scope for row in rows] == ["account", "account_address", "address"]
    checked = min(failures, staff_service.SIGN_IN_MAX_FAILURES)
    by_scope = {row.scope: row for row in rows}
    pair = by_scope["account_address"]
    assert (pair.failures + pair.refused, pair.failures) == (failures, checked)
    assert (pair.email, pair.address) == (moderator.email, "testclient")
    assert pair.first_attempt_at <= pair.last_attempt_at
    assert by_scope["account"].failures == checked
    new_events = await audit_count(session) - events_before
    assert new_events == (1 if failures >= staff_service.SIGN_IN_MAX_FAILURES else 0)


async def test_password_hashing_runs_off_the_event_loop_and_is_bounded() -> None:
    real_hash = PasswordHasher().hash("a password to check")  # the app's cost, not the tests'
    check = asyncio.create_task(passwords.verify_password_off_loop(real_hash, "a guess"))
    ticks = 0
    while not check.done() and ticks < 3:
        await asyncio.sleep(0)
        ticks += 1
    # the loop went round while argon2 worked (on the loop, the task would have finished in
    # its first step)
    assert ticks == 3 and not check.done()
    assert await check is False

    bound = passwords.HASHING_THREADS + passwords.MAX_WAITING
    cheap_hash = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash("x")
    outcomes = await asyncio.gather(
        *(passwords.verify_password_off_loop(cheap_hash, "x") for _ in range(bound + 4)),
        return_exceptions=True,
    )
    busy = [o for o in outcomes if isinstance(o, passwords.HashingBusy)]
    assert len(busy) == 4
    assert busy[0].status_code == 503 and busy[0].retry_after_seconds >= 1
    assert passwords.hashing_in_flight() == 0


async def test_a_guesser_elsewhere_does_not_lock_the_owner_out(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    admin = await staff(session, "admin")
    # the guesser's attempts, from another address, straight through the service
    for _ in range(staff_service.SIGN_IN_MAX_FAILURES + 2):
        with pytest.raises(Exception):  # noqa: B017 - wrong password, then throttled
            await staff_service.authenticate_staff(
                session, admin.email, "guess", address="198.51.100.23"
            )
    async with AsyncTestClient(app=app) as client:
        answer = await post_form(client, "/mod/login", {"email": admin.email, "password": PASSWORD})
        assert answer.status_code == 303


async def test_spoofed_forwarded_for_does_not_reset_the_count(
    app: Litestar, session: AsyncSession
) -> None:
    """Without PORTAL_TRUSTED_PROXIES, X-Forwarded-For is the client's own words."""
    await clear_of_window_edge()
    moderator = await staff(session, "moderator")
    async with AsyncTestClient(app=app) as client:
        token = await csrf_token(client)
        for i in range(staff_service.SIGN_IN_MAX_FAILURES):
            form = {"_csrf_token": token, "email": moderator.email, "password": "wrong"}
            answer = await client.post(
                "/mod/login", data=form, headers={"x-forwarded-for": f"203.0.113.{i}"}
            )
            assert answer.status_code == 401
        form = {"_csrf_token": token, "email": moderator.email, "password": PASSWORD}
        answer = await client.post(
            "/mod/login", data=form, headers={"x-forwarded-for": "203.0.113.99"}
        )
        assert answer.status_code == 429


async def test_reactivation_does_not_revive_old_sessions(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as admin_client, AsyncTestClient(app=app) as mod_client:
        await sign_in(admin_client, world.admin)
        await sign_in(mod_client, world.moderator)
        copied = mod_client.cookies["portal_staff"]
        assert (await mod_client.get("/mod", follow_redirects=False)).status_code == 200
        deactivated = await post_form(admin_client, f"/mod/staff/{world.moderator.id}/deactivate")
        assert deactivated.status_code == 303
        reactivated = await post_form(admin_client, f"/mod/staff/{world.moderator.id}/reactivate")
        assert reactivated.status_code == 303
        mod_client.cookies.clear()
        mod_client.cookies.set("portal_staff", copied)
        assert (await mod_client.get("/mod", follow_redirects=False)).status_code == 303
        assert (await mod_client.get("/admin/", follow_redirects=False)).status_code == 303
        await sign_in(mod_client, world.moderator)  # a new sign-in works
        assert (await mod_client.get("/mod", follow_redirects=False)).status_code == 200
    assert sign_in_throttle.MAX_FAILURES == staff_service.SIGN_IN_MAX_FAILURES
