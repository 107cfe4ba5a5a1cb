"""``/mod/events``: the moderation queue's changes as server-sent events (new reports, claims,
decisions), for htmx's SSE extension, which refreshes the top bar's counts when one comes. The
pages work without it: the counts also refresh every 30 s, and on every page load."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, get
from litestar.exceptions import HTTPException
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_406_NOT_ACCEPTABLE, HTTP_503_SERVICE_UNAVAILABLE

from dashboard.staff_auth import requires
from portal.events.hub import EventHub
from portal.events.model import QUEUE_CHANGED
from portal.events.stream import open_staff_events
from portal.permissions import Capability

EVENT_STREAM = "text/event-stream"


async def _messages(
    changes: AsyncIterator[str | None],
) -> AsyncIterator[ServerSentEventMessage]:
    yield ServerSentEventMessage(data=None, comment="connected")
    async for change in changes:
        if change is None:
            yield ServerSentEventMessage(data=None, comment="keep-alive")
        else:
            yield ServerSentEventMessage(data=change, event=QUEUE_CHANGED)


@get(
    "/mod/events",
    name="mod.events",
    guards=[requires(Capability.READ_QUEUE)],
    include_in_schema=False,
)
async def queue_events(request: Request[Any, Any, Any]) -> ServerSentEvent:
    # Only for an event-stream client (EventSource asks for one): anything else would wait on
    # an answer that never ends.
    if EVENT_STREAM not in request.headers.get("accept", ""):
        raise HTTPException(
            status_code=HTTP_406_NOT_ACCEPTABLE, detail=f"this is an {EVENT_STREAM}"
        )
    hub: EventHub = request.app.state.events
    if not hub.running:
        raise HTTPException(
            status_code=HTTP_503_SERVICE_UNAVAILABLE, detail="real-time events are not running"
        )
    changes = await open_staff_events(hub)
    return ServerSentEvent(_messages(changes), headers={"Cache-Control": "no-store"})
