"""The caller's real-time events: ``GET /api/v1/events`` (server-sent events) and
``POST /api/v1/events/ticket`` (a short-lived ticket for a browser's EventSource, which cannot
send a bearer token: ``GET /api/v1/events?ticket=…``)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.response import ServerSentEvent, ServerSentEventMessage

from api.auth import BEARER_CHALLENGE, CALLER, END_USERS, Connection, JWTAuthenticationMiddleware
from api.responses import error_responses
from portal.errors import RateLimited, ServiceBusy
from portal.events.hub import EventHub
from portal.events.model import Event, EventKey
from portal.events.stream import EventStream, TooManyStreams
from portal.events.tickets import issue_ticket, read_ticket
from portal.principals import EndUser
from portal.settings import Settings

# The stream's path: the API's bearer-token middleware leaves it to the one below.
EVENTS_PATH = r"^/api/v1/events$"


class TicketOrBearerAuthentication(JWTAuthenticationMiddleware):
    """A ``ticket`` query parameter (when no Authorization header is sent), else the bearer
    token as everywhere under /api/v1."""

    async def authenticate_request(self, connection: Connection) -> AuthenticationResult:
        ticket = connection.query_params.get("ticket")
        if ticket is None or "authorization" in connection.headers:
            return await super().authenticate_request(connection)
        user = read_ticket(connection.app.state.settings, ticket)
        if user is None:
            raise NotAuthorizedException(
                detail="the ticket is invalid or has expired", headers=BEARER_CHALLENGE
            )
        return AuthenticationResult(user=user, auth=None)


class Ticket(msgspec.Struct):
    ticket: str
    expires_in: int


@post(
    "/events/ticket",
    tags=["events"],
    status_code=201,
    summary="A ticket for the event stream",
    description="A short-lived ticket (`expires_in` seconds) naming the caller, for "
    "`GET /api/v1/events?ticket=…` from a browser's EventSource, which cannot send a bearer "
    "token.",
    opt={CALLER: END_USERS},
    responses=error_responses(400, 401, 403),
)
async def events_ticket(
    request: Request[EndUser, Any, Any], settings: NamedDependency[Settings]
) -> Ticket:
    return Ticket(
        ticket=issue_ticket(settings, request.user), expires_in=settings.events_ticket_seconds
    )


def _message(event: Event | None, emitted: EventKey) -> tuple[ServerSentEventMessage, EventKey]:
    if event is None:
        return ServerSentEventMessage(data=None, comment="keep-alive"), emitted
    # An event from another process may arrive after a newer one: it carries no `id:` then,
    # so that the client's Last-Event-ID never goes back (and a resume repeats nothing).
    newer = event.key > emitted
    message = ServerSentEventMessage(
        data=event.as_json(), event=event.type, id=event.id if newer else None
    )
    return message, max(emitted, event.key)


async def _sse(stream: EventStream, last_event_id: str | None) -> AsyncIterator[Any]:
    emitted: EventKey = (0, 0)
    yield ServerSentEventMessage(data=None, comment="connected")
    async for event in stream.events(last_event_id):
        message, emitted = _message(event, emitted)
        yield message


@get(
    "/events",
    opt={CALLER: END_USERS},
    middleware=[DefineMiddleware(TicketOrBearerAuthentication)],
    include_in_schema=False,  # an endless stream: docs/api.md describes it
)
async def events_stream(request: Request[EndUser, Any, Any]) -> ServerSentEvent:
    hub: EventHub = request.app.state.events
    if not hub.running:
        raise ServiceBusy("real-time events are not running in this process", 5)
    user = request.user
    try:
        stream = await EventStream.open(hub, user.id, user.role)
    except TooManyStreams as exc:
        raise RateLimited(str(exc), math.ceil(hub.settings.events_keepalive_seconds)) from None
    last_event_id = request.headers.get("last-event-id") or request.query_params.get(
        "last_event_id"
    )
    return ServerSentEvent(
        _sse(stream, last_event_id),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


EVENT_HANDLERS = [events_ticket, events_stream]
