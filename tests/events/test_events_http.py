"""``/api/v1/events`` in-process: who may open a stream, the ticket for EventSource, and the
bound on streams per user (a stream that opens is read in tests/events/test_two_processes.py,
against real servers)."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from portal.events.hub import EventHub
from portal.events.stream import EventStream
from portal.events.tickets import read_ticket
from portal.settings import Settings
from tests.admin.support import sign_in
from tests.api.helpers import auth, make_user, service_auth
from tests.portal.moderation_support import staff


async def test_a_ticket_names_its_user_and_nobody_else_gets_a_stream(
    client: AsyncTestClient[Litestar], app: Litestar, settings: Settings
) -> None:
    candidate = await make_user(app, "candidate")
    answer = await client.post("/api/v1/events/ticket", headers=auth(settings, candidate))
    assert answer.status_code == 201, answer.text
    assert answer.json()["expires_in"] == settings.events_ticket_seconds
    named = read_ticket(settings, answer.json()["ticket"])
    assert named is not None and (named.id, named.role) == (candidate.id, "candidate")

    assert (await client.get("/api/v1/events")).status_code == 401
    assert (await client.get("/api/v1/events?ticket=forged")).status_code == 401
    assert (await client.post("/api/v1/events/ticket")).status_code == 401
    service = await client.get("/api/v1/events", headers=service_auth(settings))
    assert service.status_code == 403


async def test_a_user_past_the_most_streams_gets_429(
    client: AsyncTestClient[Litestar], app: Litestar, settings: Settings
) -> None:
    hub: EventHub = app.state.events
    candidate = await make_user(app, "candidate")
    held = [
        await EventStream.open(hub, candidate.id, "candidate")
        for _ in range(settings.events_max_streams_per_user)
    ]
    answer = await client.get("/api/v1/events", headers=auth(settings, candidate))
    assert answer.status_code == 429, answer.text
    assert answer.json()["code"] == "rate_limited"
    ticket = (await client.post("/api/v1/events/ticket", headers=auth(settings, candidate))).json()
    assert (await client.get(f"/api/v1/events?ticket={ticket['ticket']}")).status_code == 429
    for stream in held:
        await stream.close()
    assert not await hub.is_watching(candidate.id)


async def test_the_staff_stream_is_for_staff_and_event_stream_clients_only(
    client: AsyncTestClient[Litestar], session: AsyncSession
) -> None:
    signed_out = await client.get("/mod/events", follow_redirects=False)
    assert signed_out.status_code == 303
    moderator = await staff(session, "moderator")
    await sign_in(client, moderator)
    assert (await client.get("/mod/events")).status_code == 406  # not an EventSource
    page = await client.get("/mod")
    assert 'sse-connect="/mod/events"' in page.text
    assert (await client.get("/static/vendor/htmx-ext-sse/sse.min.js")).status_code == 200
