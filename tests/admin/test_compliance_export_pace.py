"""A compliance export completes whatever the client's pace, or fails before its response
starts and is then not recorded as exported (issue 15, A6).

The slow client is played at the ASGI level: a server waits in ``send`` while the client does
not read, so a ``send`` that sleeps longer than the database's idle-in-transaction bound is a
download slower than that bound. PostgreSQL ends a connection idle in a transaction past the
bound; an export that held its snapshot open while sending broke mid-file after ``200 OK``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import StaffUser
from portal.services.compliance.verify import verify_export
from portal.settings import DatabaseBounds, Settings
from server.app import create_app
from tests.admin.support import csrf_token, sign_in
from tests.admin.test_compliance_pages import events
from tests.conftest import settings_with
from tests.portal.compliance_world import build_world

# Big enough that a loaded machine's gaps between an export's own statements stay under it
# (200 ms failed under a full parallel run); the client pauses once, mid-download, past it.
IDLE_BOUND_MS = 1000
PAUSE_SECONDS = 1.5 * IDLE_BOUND_MS / 1000


@dataclass
class Received:
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    chunks: int = 0
    complete: bool = False
    error: BaseException | None = None


async def slow_post(
    app: Litestar, client: AsyncTestClient[Litestar], path: str, form: dict[str, str]
) -> Received:
    """POST ``form`` to ``path`` as the signed-in ``client``, reading the answer slowly."""
    body = urlencode({"_csrf_token": await csrf_token(client), **form}).encode()
    cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    host = client.base_url.netloc
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", host),
            (b"cookie", cookies.encode()),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    received = Received()

    async def exchange() -> None:  # runs on the test client's own event loop, as its requests do
        answered = asyncio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": body, "more_body": False}
            await answered.wait()  # the client hangs up once it has the whole answer
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                received.status = message["status"]
                received.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                received.body += message.get("body", b"")
                received.chunks += 1
                if message.get("more_body", False):
                    if received.chunks == 1:  # the first chunk is read late: a slow client
                        await asyncio.sleep(PAUSE_SECONDS)
                else:
                    received.complete = True
                    answered.set()

        try:
            await app(scope, receive, send)  # type: ignore[arg-type]
        except Exception as exc:  # a broken stream surfaces here, after the 200 went out
            received.error = exc
        finally:
            answered.set()

    await asyncio.to_thread(client.blocking_portal.call, exchange)
    return received


def slow_bound_settings(settings: Settings) -> Settings:
    return settings_with(
        settings, database_bounds=DatabaseBounds(idle_in_transaction_timeout_ms=IDLE_BOUND_MS)
    )


async def signed_in_client(
    settings: Settings, account: StaffUser
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A client of an app with the tiny idle bound, signed in through an app without it (the
    sign-in form's password hashing outlasts so small a bound)."""
    async with AsyncTestClient(app=create_app(settings)) as signing:
        await sign_in(signing, account)
        await csrf_token(signing)
        cookies = dict(signing.cookies.items())
    async with AsyncTestClient(app=create_app(slow_bound_settings(settings))) as client:
        client.cookies.update(cookies)
        yield client


async def test_a_slow_download_gets_the_whole_verifiable_file(
    session: AsyncSession, settings: Settings
) -> None:
    world = await build_world(session, settings)
    async with asynccontextmanager(signed_in_client)(settings, world.officer) as client:
        app = client.app
        path = f"/mod/compliance/threads/{world.thread_id}/report"
        report = await slow_post(app, client, path, {"format": "json"})
        today = datetime.now(UTC).date()
        period = {"from": str(today - timedelta(days=1)), "to": str(today)}
        activity = await slow_post(
            app, client, "/mod/compliance/staff-activity", {**period, "format": "csv"}
        )
        pdf = await slow_post(app, client, path, {"format": "pdf"})

    for received in (report, activity, pdf):
        assert received.error is None, repr(received.error)
        assert (received.status, received.complete) == (200, True)
    verified = verify_export(bytes(report.body))
    document = json.loads(report.body)["report"]
    assert {m["id"] for m in document["messages"]} == {str(m.id) for m in world.messages}
    rows = list(csv.DictReader(io.StringIO(activity.body.decode())))
    assert {row["action"] for row in rows} >= {"message.removed", "hold.placed"}
    assert pdf.body.startswith(b"%PDF") and pdf.body.rstrip().endswith(b"%%EOF")
    exported = await events(session, "report.exported")
    assert [e.details["format"] for e in exported] == ["json", "pdf"]
    assert exported[0].details["head_hash"] == verified.head


async def test_an_export_that_fails_answers_an_error_and_is_not_recorded(
    session: AsyncSession, settings: Settings
) -> None:
    # A signing key that cannot be loaded makes the JSON export fail at its very end, after
    # every section was read: the last moment an export can fail.
    world = await build_world(session, settings)
    unloadable_key = settings_with(settings, audit_signing_key="not a key")
    async with asynccontextmanager(signed_in_client)(unloadable_key, world.officer) as client:
        app = client.app
        path = f"/mod/compliance/threads/{world.thread_id}/report"
        failed = await slow_post(app, client, path, {"format": "json"})
        worked = await slow_post(app, client, path, {"format": "csv"})

    assert failed.status == 500 and failed.complete
    assert b'"report"' not in failed.body  # no part of the file went out
    assert (worked.status, worked.complete, worked.error) == (200, True, None)
    exported = await events(session, "report.exported")
    assert [e.details["format"] for e in exported] == ["csv"]
