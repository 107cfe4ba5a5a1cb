"""The number of SQL statements each read and the send make, whatever the size of the data: an
N+1 query (one per thread or message shown) changes these numbers and fails here.

Counts are per request in the steady state: the caller is one the worker has authenticated in
the last minute (portal.principals.KnownUsers), so authentication reads nothing. On PostgreSQL
the request's connection is in autocommit, so a read is exactly these statements, one round trip
each; a write adds its BEGIN and COMMIT (psycopg's, not counted here). SQLite also counts the
explicit BEGIN that the engine issues itself.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event

from portal.models import User
from portal.settings import Settings
from tests.api.helpers import auth, make_user, send_ok
from tests.statements import statements

# Statements per request.
EXPECTED = {
    # one statement: the caller's totals row left-joined with one page of threads and the others
    "list": {"sqlite": 2, "postgres": 1},
    # the thread with the other participant; one page of messages, each row carrying the count
    "detail": {"sqlite": 4, "postgres": 2},
    # the caller's totals row
    "unread_count": {"sqlite": 2, "postgres": 1},
    # lock the sender (reading the recipient with any block between the pair in the same
    # statement), the rate-limit window, the live thread, insert the message, bump the
    # thread's counter, add to the pair's inbox totals and take the audit chain's head (one
    # statement on PostgreSQL; three on SQLite, which takes the head by itself), insert the
    # event and move the head (one)
    "send": {"sqlite": 10, "postgres": 5},
    # ... and the thread inside a savepoint (SAVEPOINT, INSERT, RELEASE) and a second event,
    # which moves the head it already holds (insert and move)
    "send_first": {"sqlite": 15, "postgres": 9},
}


async def _conversations(
    app: Litestar, client: AsyncTestClient, settings: Settings, candidate: User, threads: int
) -> str:
    """``threads`` threads with the candidate, the last one long; returns its id."""
    thread_id = ""
    for index in range(threads):
        employer = await make_user(app, "employer")
        for _ in range(1 if index < threads - 1 else threads + 1):
            thread_id = (await send_ok(client, settings, employer, candidate))["thread"]["id"]
    return thread_id


async def _measure(
    app: Litestar, client: AsyncTestClient, settings: Settings, threads: int
) -> dict[str, int]:
    candidate = await make_user(app, "candidate")
    long_thread = await _conversations(app, client, settings, candidate, threads)
    headers = auth(settings, candidate)
    # The first request of a user refreshes last_active_at; measure the steady state.
    assert (await client.get("/api/v1/messages/unread-count", headers=headers)).status_code == 200

    counts: dict[str, int] = {}
    requests = {
        "list": lambda: client.get(
            "/api/v1/messages/threads", params={"limit": 3}, headers=headers
        ),
        "detail": lambda: client.get(
            f"/api/v1/messages/threads/{long_thread}", params={"limit": 5}, headers=headers
        ),
        "unread_count": lambda: client.get("/api/v1/messages/unread-count", headers=headers),
    }
    for name, request in requests.items():
        with statements(app.state.engine) as log:
            response = await request()
        assert response.status_code == 200, response.text
        counts[name] = len(log)

    sender = await make_user(app, "employer")
    await send_ok(client, settings, sender, candidate)  # sender's activity refresh happens here
    with statements(app.state.engine) as log:
        await send_ok(client, settings, sender, candidate, "in an existing thread")
    counts["send"] = len(log)
    newcomer = await make_user(app, "employer")
    await client.get("/api/v1/messages/unread-count", headers=auth(settings, newcomer))
    with statements(app.state.engine) as log:
        await send_ok(client, settings, newcomer, candidate, "first message")
    counts["send_first"] = len(log)
    return counts


async def test_statement_counts_do_not_grow_with_the_data(
    app: Litestar, client: AsyncTestClient, settings: Settings, backend: str
) -> None:
    small = await _measure(app, client, settings, threads=2)
    large = await _measure(app, client, settings, threads=7)
    assert small == large
    assert large == {name: counts[backend] for name, counts in EXPECTED.items()}


async def test_a_request_checks_out_one_connection(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    """The auth middleware and the handler share one session on one connection: one pool
    checkout per request, for reads and for a send's write transaction."""
    candidate = await make_user(app, "candidate")
    employer = await make_user(app, "employer")
    thread_id = (await send_ok(client, settings, employer, candidate))["thread"]["id"]
    checkouts: list[object] = []

    def record(*_: Any) -> None:
        checkouts.append(None)

    pool = app.state.engine.sync_engine.pool
    event.listen(pool, "checkout", record)
    try:
        headers = auth(settings, candidate)
        for path in (
            "/api/v1/messages/threads",
            f"/api/v1/messages/threads/{thread_id}",
            "/api/v1/messages/unread-count",
        ):
            checkouts.clear()
            assert (await client.get(path, headers=headers)).status_code == 200
            assert len(checkouts) == 1, path
        checkouts.clear()
        await send_ok(client, settings, employer, candidate, "again")
        assert len(checkouts) == 1
    finally:
        event.remove(pool, "checkout", record)
