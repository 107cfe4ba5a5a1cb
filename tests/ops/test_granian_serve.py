"""`portal serve --server granian` keeps what uvicorn gives the app: a request whose client hung up
is cancelled at once, a request that takes too long is a 503 within the bound, a request in
flight when the server is told to stop is answered, and X-Forwarded-For counts only from the
trusted proxies. The app runs under granian's embedded server, in this event loop."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from httpx import AsyncClient, TransportError
from litestar import Litestar

from portal.settings import Settings
from server.app import create_app
from tests.api.helpers import auth, make_pair, send
from tests.portal.test_faults import (
    BOUND_MS,
    FAST,
    app_backends,
    assert_503,
    bounded,
    count,
    until,
    write_lock_held,
)

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def granian_serving(app: Litestar) -> AsyncIterator[tuple[str, Any]]:
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    port = _free_port()
    server = Server(
        app,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        log_level=LogLevels.warning,
    )
    serving = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    try:
        async with AsyncClient(base_url=url) as probe:
            deadline = time.monotonic() + 10
            while True:
                try:
                    if (await probe.get("/health/live")).status_code == 200:
                        break
                except TransportError:  # not listening yet
                    pass
                assert time.monotonic() < deadline, "granian did not answer in 10 s"
                await asyncio.sleep(0.05)
        yield url, server
    finally:
        if not serving.done():
            server.stop()
            await asyncio.wait_for(serving, timeout=15)


def _bounded_by_the_request_timeout(
    settings: Settings, timeout_ms: int
) -> tuple[Settings, Litestar]:
    """The app with the database's own bounds off, so that only the request timeout (or the
    client) ends a send waiting on a held lock."""
    bounded_settings = bounded(
        settings,
        request_timeout_ms=timeout_ms,
        bounds={"lock_timeout_ms": 0, "statement_timeout_ms": 0},
    )
    return bounded_settings, create_app(bounded_settings)


async def test_a_request_the_client_abandoned_is_cancelled_under_granian(
    settings: Settings,
) -> None:
    patient, app = _bounded_by_the_request_timeout(settings, 30_000)
    async with granian_serving(app) as (url, _), AsyncClient(base_url=url) as client:
        employer, candidate = await make_pair(app)
        with write_lock_held(patient):
            request = asyncio.create_task(send(client, patient, employer, candidate))
            await until(lambda: len(app_backends(patient, waiting_on_lock=True)) == 1)
            request.cancel()  # the client gives up and closes its connection
            with pytest.raises(asyncio.CancelledError):
                await request
            started = time.monotonic()
            await until(lambda: app_backends(patient, waiting_on_lock=True) == [])
            assert time.monotonic() - started < FAST
        assert await count(app) == 0
        # Served normally otherwise: a body is read, the answer sent, nothing cancelled.
        assert (await send(client, patient, employer, candidate)).status_code == 201
        threads = await client.get("/api/v1/messages/threads", headers=auth(patient, employer))
        assert threads.status_code == 200 and threads.json()["total"] == 1


async def test_the_request_timeout_is_a_503_under_granian(settings: Settings) -> None:
    slow, app = _bounded_by_the_request_timeout(settings, BOUND_MS)
    async with granian_serving(app) as (url, _), AsyncClient(base_url=url) as client:
        employer, candidate = await make_pair(app)
        with write_lock_held(slow):
            started = time.monotonic()
            response = await send(client, slow, employer, candidate)
            assert_503(response)
            assert "in time" in response.json()["detail"]
            assert time.monotonic() - started < FAST
            assert app_backends(slow, waiting_on_lock=True) == []
        assert await count(app) == 0  # the cancelled send wrote nothing


async def test_a_request_in_flight_at_shutdown_is_answered_under_granian(
    settings: Settings,
) -> None:
    patient, app = _bounded_by_the_request_timeout(settings, 30_000)
    async with granian_serving(app) as (url, server), AsyncClient(base_url=url) as client:
        employer, candidate = await make_pair(app)
        with write_lock_held(patient):
            request = asyncio.create_task(send(client, patient, employer, candidate))
            await until(lambda: len(app_backends(patient, waiting_on_lock=True)) == 1)
            server.stop()  # what SIGTERM does to a granian worker
            await asyncio.sleep(0.5)
            assert not request.done()
        response = await asyncio.wait_for(request, timeout=10)
        assert response.status_code == 201, response.text
        assert await count(app) == 1
