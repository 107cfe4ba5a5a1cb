"""Behaviour under database faults: outages answer 503 with Retry-After, waits are bounded, a
failed send never strands its Idempotency-Key, and liveness never waits on the database.

The faults are real: a lock held in a connection of the test's own (LOCK TABLE on PostgreSQL,
BEGIN IMMEDIATE on SQLite), backends ended with pg_terminate_backend, connections refused with
ALTER DATABASE … ALLOW_CONNECTIONS false, and databases that cannot be reached at all.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from httpx import ASGITransport, AsyncClient, Response
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from portal.models import IdempotencyKey, Message
from portal.settings import DatabaseBounds, Settings
from server.app import create_app
from tests.api.helpers import auth, make_pair, send, service_auth
from tests.conftest import POSTGRES_URL, _libpq, _with_database, settings_with

BOUND_MS = 300
# A bounded wait plus this process's own overhead on a busy two-core machine.
FAST = 2.0
LIVE_FAST = 0.5


def bounded(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with small database bounds, as a test can wait for them."""
    bounds = DatabaseBounds(
        statement_timeout_ms=2000,
        lock_timeout_ms=BOUND_MS,
        idle_in_transaction_timeout_ms=5000,
        connect_timeout_seconds=1,
        pool_timeout_ms=BOUND_MS,
        sqlite_busy_timeout_ms=BOUND_MS,
    )
    return settings_with(
        settings,
        database_bounds=replace(bounds, **changes.pop("bounds", {})),
        readiness_timeout_ms=BOUND_MS,
        **changes,
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Litestar, AsyncClient]]:
    """The app, started, and a client whose requests really run concurrently in this event loop
    (Litestar's test client runs each request to its end through a blocking portal)."""
    app = create_app(settings)
    async with (
        AsyncTestClient(app=app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        yield app, client


async def count(app: Litestar, model: Any = Message) -> int:
    async with app.state.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


def assert_503(response: Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert "try again" in response.json()["detail"]


async def assert_live_fast(client: AsyncClient) -> None:
    started = time.monotonic()
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert time.monotonic() - started < LIVE_FAST


@contextmanager
def write_lock_held(settings: Settings) -> Iterator[None]:
    """Another connection holds what a send must wait for: SQLite's write lock, or on
    PostgreSQL an ACCESS EXCLUSIVE lock on the messages table."""
    if settings.is_sqlite:
        path = make_url(settings.database_url).database
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    # As the schema's owner (a maintenance job, say): the app's own role may not lock a table.
    owner_url = _with_database(POSTGRES_URL, database_name(settings))
    with psycopg.connect(_libpq(owner_url)) as holder:
        holder.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        yield
        holder.rollback()


def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(_libpq(POSTGRES_URL), autocommit=True, connect_timeout=3)


def database_name(settings: Settings) -> str:
    name = make_url(settings.database_url).database
    assert name is not None
    return name


def app_backends(settings: Settings, *, waiting_on_lock: bool = False) -> list[int]:
    query = (
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'portal'"
        + (" AND wait_event_type = 'Lock'" if waiting_on_lock else "")
    )
    with admin() as connection:
        return [row[0] for row in connection.execute(query, (database_name(settings),))]


def terminate_app_backends(settings: Settings) -> int:
    """Ends the app's backends and waits (up to 5 s each) until they have exited: without the
    wait, pg_terminate_backend only signals, and a backend that has not yet gone (a busy machine)
    still answered the pool's pre-ping, so the next statement met the closing connection (503)."""
    with admin() as connection:
        ended = connection.execute(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = 'portal'",
            (database_name(settings),),
        ).fetchone()
    return ended[0] if ended else 0


def allow_connections(settings: Settings, allowed: bool) -> None:
    with admin() as connection:
        connection.execute(
            f'ALTER DATABASE "{database_name(settings)}" ALLOW_CONNECTIONS {str(allowed).lower()}'
        )


async def until(condition: Any, *, seconds: float = 5.0) -> None:
    """Waits (briefly, bounded) for a condition the database reports, e.g. backends waiting."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


# --- both backends -----------------------------------------------------------------------------


async def test_unreachable_database_is_503_everywhere_and_liveness_stays_up(
    settings: Settings, backend: str
) -> None:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{settings.var_dir}/no/such/dir/portal.sqlite3"
    else:
        url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    broken = bounded(replace(settings, database_url=url))
    token = auth(broken, uuid.uuid4())
    async with running(broken) as (_, client):
        responses = [
            # Authentication itself reads the database.
            await client.get("/api/v1/messages/threads", headers=token),
            await client.get("/api/v1/messages/unread-count", headers=token),
            await client.post(
                "/api/v1/messages",
                json={"recipient_id": str(uuid.uuid4()), "body": "hi"},
                headers={**token, "Idempotency-Key": "k"},
            ),
            await client.put(
                f"/api/v1/users/{uuid.uuid4()}",
                json={"email": "a@example.com", "display_name": "A", "role": "employer"},
                headers=service_auth(broken),
            ),
        ]
        for response in responses:
            assert_503(response)
        for path in ("/health/ready", "/health"):
            ready = await client.get(path)
            assert ready.status_code == 503
            assert ready.json()["status"] == "unavailable"
            assert "retry-after" in ready.headers
        await assert_live_fast(client)


async def test_a_held_lock_ends_in_503_within_the_bound_and_the_retry_sends(
    settings: Settings,
) -> None:
    bounds = bounded(settings)
    async with running(bounds) as (app, client):
        employer, candidate = await make_pair(app)
        key = {"Idempotency-Key": "held-lock"}
        with write_lock_held(bounds):
            started = time.monotonic()
            refused = await send(client, bounds, employer, candidate, "once", headers=key)
            elapsed = time.monotonic() - started
            assert_503(refused)
            assert refused.headers["retry-after"] == "1"
            assert BOUND_MS / 1000 <= elapsed < FAST
            await assert_live_fast(client)
        assert await count(app) == 0
        assert await count(app, IdempotencyKey) == 0
        sent = await send(client, bounds, employer, candidate, "once", headers=key)
        assert sent.status_code == 201
        replay = await send(client, bounds, employer, candidate, "once", headers=key)
        assert replay.status_code == 201 and replay.json() == sent.json()
        assert await count(app) == 1


async def test_request_timeout_cancels_the_request_and_frees_its_connection(
    settings: Settings, backend: str
) -> None:
    # The database's own bounds are (nearly) off here, so the request timeout ends the wait. On
    # SQLite the wait is a blocking call in aiosqlite's thread, which a cancelled request must
    # still sit out: there the busy timeout stays the real bound.
    busy_ms = 1000
    slow = bounded(
        settings,
        request_timeout_ms=BOUND_MS,
        bounds={"lock_timeout_ms": 0, "statement_timeout_ms": 0, "sqlite_busy_timeout_ms": busy_ms},
    )
    async with running(slow) as (app, client):
        employer, candidate = await make_pair(app)
        key = {"Idempotency-Key": "timed-out"}
        with write_lock_held(slow):
            started = time.monotonic()
            response = await send(client, slow, employer, candidate, headers=key)
            assert_503(response)
            assert "in time" in response.json()["detail"]
            limit = FAST + (busy_ms / 1000 if backend == "sqlite" else 0)
            assert time.monotonic() - started < limit
            if backend == "postgres":
                # The cancelled statement no longer waits on the lock (nor holds a connection).
                assert app_backends(slow, waiting_on_lock=True) == []
            assert app.state.engine.pool.checkedout() == 0
        sent = await send(client, slow, employer, candidate, headers=key)
        assert sent.status_code == 201
        assert await count(app) == 1


async def test_readiness_has_its_own_connection_and_never_queues_behind_the_api_pool(
    settings: Settings,
) -> None:
    tiny = bounded(settings, bounds={"pool_size": 1, "max_overflow": 0})
    async with running(tiny) as (app, client):
        employer, _ = await make_pair(app)
        async with app.state.engine.connect():  # the API pool's only connection is taken
            started = time.monotonic()
            ready = await client.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"status": "ok", "database": "ok"}
            assert time.monotonic() - started < FAST
            queued = await client.get("/api/v1/messages/threads", headers=auth(tiny, employer))
            assert_503(queued)
            await assert_live_fast(client)
        assert (
            await client.get("/api/v1/messages/threads", headers=auth(tiny, employer))
        ).is_success


# --- PostgreSQL: connections ended under the service -------------------------------------------


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_outage_during_sends_loses_and_duplicates_nothing(settings: Settings) -> None:
    """Sends waiting in the database when it goes away fail with 503; once it is back, each
    retry with its key sends exactly once, and a send that had committed replays."""
    faulty = bounded(settings, bounds={"lock_timeout_ms": 10_000, "statement_timeout_ms": 10_000})
    async with running(faulty) as (app, client):
        pairs = [await make_pair(app) for _ in range(4)]
        committed = await send(
            client, faulty, *pairs[0], "before", headers={"Idempotency-Key": "before"}
        )
        assert committed.status_code == 201
        keys = [{"Idempotency-Key": f"in-flight-{n}"} for n in range(len(pairs))]
        try:
            with write_lock_held(faulty):
                in_flight = [
                    asyncio.create_task(send(client, faulty, *pair, f"m{n}", headers=keys[n]))
                    for n, pair in enumerate(pairs)
                ]
                await until(lambda: len(app_backends(faulty, waiting_on_lock=True)) == len(pairs))
                allow_connections(faulty, False)
                assert terminate_app_backends(faulty) >= len(pairs)
                for response in await asyncio.gather(*in_flight):
                    assert_503(response)
                assert_503(
                    await client.get("/api/v1/messages/threads", headers=auth(faulty, pairs[0][0]))
                )
                assert (await client.get("/health/ready")).status_code == 503
                await assert_live_fast(client)
        finally:
            allow_connections(faulty, True)

        for n, pair in enumerate(pairs):
            retried = await send(client, faulty, *pair, f"m{n}", headers=keys[n])
            assert retried.status_code == 201, retried.text
        again = await send(
            client, faulty, *pairs[0], "before", headers={"Idempotency-Key": "before"}
        )
        assert again.json() == committed.json()
        assert await count(app) == 1 + len(pairs)
        assert await count(app, IdempotencyKey) == 1 + len(pairs)
        assert (await client.get("/health/ready")).status_code == 200


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_terminated_connections_are_replaced_without_an_error(settings: Settings) -> None:
    """After pg_terminate_backend ends every idle connection of the pool, the next requests get
    fresh connections (pre-ping) instead of a 503 or 500."""
    faulty = bounded(settings)
    async with running(faulty) as (app, client):
        employer, candidate = await make_pair(app)
        assert (await send(client, faulty, employer, candidate)).status_code == 201
        assert terminate_app_backends(faulty) >= 1
        assert (await send(client, faulty, employer, candidate)).status_code == 201
        threads = await client.get("/api/v1/messages/threads", headers=auth(faulty, employer))
        assert threads.status_code == 200
        assert await count(app) == 2


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_statement_timeout_is_503(settings: Settings) -> None:
    slow = bounded(settings, bounds={"statement_timeout_ms": BOUND_MS, "lock_timeout_ms": 0})
    async with running(slow) as (app, client):
        employer, candidate = await make_pair(app)
        with write_lock_held(slow):
            started = time.monotonic()
            assert_503(await send(client, slow, employer, candidate))
            assert time.monotonic() - started < FAST
        assert await count(app) == 0


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_connections_carry_the_configured_bounds(settings: Settings) -> None:
    configured = bounded(
        settings,
        bounds={
            "statement_timeout_ms": 4321,
            "lock_timeout_ms": 1234,
            "idle_in_transaction_timeout_ms": 5678,
        },
    )
    app = create_app(configured)
    async with app.state.sessionmaker() as session:
        values = [
            (await session.execute(select(func.current_setting(name)))).scalar_one()
            for name in (
                "statement_timeout",
                "lock_timeout",
                "idle_in_transaction_session_timeout",
                "application_name",
            )
        ]
    await app.state.engine.dispose()
    await app.state.readiness_engine.dispose()
    assert values == ["4321ms", "1234ms", "5678ms", "portal"]


async def test_concurrent_duplicates_wait_for_the_first_and_replay_it(settings: Settings) -> None:
    """The key is looked up after the sender's sends are serialised, so duplicates running at the
    same time wait for the first and get its answer: one message, and no 409."""
    async with running(settings) as (app, client):
        employer, candidate = await make_pair(app)
        key = {"Idempotency-Key": "burst"}
        responses = await asyncio.gather(
            *(send(client, settings, employer, candidate, "once", headers=key) for _ in range(6))
        )
        assert [response.status_code for response in responses] == [201] * 6
        assert all(response.json() == responses[0].json() for response in responses)
        assert await count(app) == 1


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_request_the_client_abandoned_stops_holding_its_connection(
    settings: Settings,
) -> None:
    """Served by uvicorn: when the client hangs up, the request is cancelled at once (its
    statement stops waiting) instead of running on until a bound ends it."""
    import uvicorn

    patient = bounded(
        settings,
        request_timeout_ms=30_000,
        bounds={"lock_timeout_ms": 0, "statement_timeout_ms": 0},
    )
    app = create_app(patient)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started)
        port = server.servers[0].sockets[0].getsockname()[1]
        employer, candidate = await make_pair(app)
        async with AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            with write_lock_held(patient):
                request = asyncio.create_task(send(client, patient, employer, candidate))
                await until(lambda: len(app_backends(patient, waiting_on_lock=True)) == 1)
                request.cancel()  # the client gives up and closes its connection
                with pytest.raises(asyncio.CancelledError):
                    await request
                started = time.monotonic()
                await until(lambda: app_backends(patient, waiting_on_lock=True) == [])
                assert time.monotonic() - started < FAST
            assert (await client.get("/health/live")).status_code == 200
            assert await count(app) == 0
            # Served normally otherwise: a body is read, the answer sent, nothing cancelled.
            assert (await send(client, patient, employer, candidate)).status_code == 201
            threads = await client.get("/api/v1/messages/threads", headers=auth(patient, employer))
            assert threads.status_code == 200 and threads.json()["total"] == 1
    finally:
        server.should_exit = True
        await serving
