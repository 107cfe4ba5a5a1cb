"""Staff sign-in (``POST /mod/login``, argon2id at its production cost) at 16 connections, and
the API's unread count measured alone and at the same time, for `make bench`.

The hash runs off the event loop (portal/passwords.py): if it did not, every request of a worker
would wait behind each sign-in, and the unread count's latency during sign-in would jump by the
hash's ~100 ms. It still shares the machine's cores, so some slowdown is expected; the rows show
how much. Each sign-in is of one of many staff accounts, so the throttle's per-account limit
(five attempts in flight) is not what is measured."""

from __future__ import annotations

import asyncio
import urllib.parse
import uuid
from collections.abc import Callable

import httpx
from argon2 import PasswordHasher

from bench import paths_wrk
from bench.path_rows import Row, slowdown
from bench.paths_wrk import HeaderRequest
from bench.staff_paths import CSRF_COOKIE, Target

PASSWORD = "bench sign-in password 12345"
ACCOUNTS = 64


async def _create_accounts(owner_url: str, count: int) -> list[str]:
    from sqlalchemy import insert

    from portal.database import create_engine, create_sessionmaker, write_transaction
    from portal.models import StaffUser

    # argon2-cffi's defaults, as the app hashes (one hash: each check still costs a full one)
    password_hash = PasswordHasher().hash(PASSWORD)
    tag = uuid.uuid4().hex[:8]
    rows = [
        {
            "id": uuid.uuid4(),
            "email": f"bench-signin-{tag}-{n}@staff.example.com",
            "role": "moderator",
            "display_name": f"Bench Sign-in {n}",
            "password_hash": password_hash,
        }
        for n in range(count)
    ]
    engine = create_engine(owner_url)
    try:
        async with create_sessionmaker(engine)() as session, write_transaction(session):
            await session.execute(insert(StaffUser), rows)
    finally:
        await engine.dispose()
    return [str(row["email"]) for row in rows]


def sign_in_requests(base_url: str, emails: list[str]) -> list[HeaderRequest]:
    """One form post per account, all with one CSRF cookie and token (wrk keeps no cookies, so
    the rotated token a sign-in hands out is never used)."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        client.get("/mod/login")
        token = client.cookies[CSRF_COOKIE]
    headers = {
        "Cookie": f"{CSRF_COOKIE}={token}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    requests = [
        HeaderRequest(
            "POST",
            "/mod/login",
            headers,
            urllib.parse.urlencode({"_csrf_token": token, "email": email, "password": PASSWORD}),
        )
        for email in emails
    ]
    answer = httpx.post(
        f"{base_url}/mod/login", headers=headers, content=requests[0].body, timeout=30
    )
    if answer.status_code != 303:
        raise RuntimeError(f"a sign-in answered {answer.status_code}")
    return requests


def measure(
    target: Target, owner_url: str, unread: list[HeaderRequest], mark_active: Callable[[], None]
) -> list[Row]:
    """``unread``: unread-count requests with users' tokens; ``mark_active``: called before each
    unread run (users marked active, as the bench's own runs do)."""
    emails = asyncio.run(_create_accounts(owner_url, ACCOUNTS))
    signing = sign_in_requests(target.base_url, emails)
    one_thread = Target(
        target.base_url, target.out_dir, target.seconds, target.warmup, 1, target.connections
    )
    mark_active()
    alone = one_thread.wrk("unread-alone", unread)
    paths_wrk.run(
        target.base_url, target.out_dir, "signin-warmup", signing,
        seconds=target.warmup, threads=1, connections=target.connections,
    )  # fmt: skip
    mark_active()
    running = [
        paths_wrk.start(
            target.base_url,
            target.out_dir,
            name,
            requests,
            seconds=target.seconds,
            threads=1,
            connections=target.connections,
        )
        for name, requests in (("signin", signing), ("unread-during-signin", unread))
    ]
    signed, during = (paths_wrk.finish(*r) for r in running)
    print(
        f"  sign-in        {signed.rate:8.0f}/s p99 {signed.p99_ms:6.1f} ms; unread "
        f"p99 {alone.p99_ms:.1f} ms alone, {during.p99_ms:.1f} ms during sign-in",
        flush=True,
    )
    conns = target.connections
    return [
        signed.row(
            f"staff sign-in POST /mod/login ({conns} connections)",
            f"argon2id at the app's cost, {ACCOUNTS} accounts; with unread count at once",
        ),
        alone.row("unread count alone (1 wrk thread)", f"{conns} connections"),
        during.row(
            "unread count during sign-in",
            f"{conns} connections; p50 {slowdown(alone.p50_ms, during.p50_ms):.2f}x, "
            f"p99 {slowdown(alone.p99_ms, during.p99_ms):.2f}x of alone",
        ),
    ]
