"""One database session per request, for the API, the dashboard and the admin panels alike.

The middleware runs each HTTP request inside :func:`portal.database.request_session_scope`: the
first code that needs the database (the API's auth middleware, the staff sign-in check, a
handler's ``db_session``, an admin panel through ``request_sessions``) opens the request's
session on one pooled connection, and everyone after shares it. The session is closed, and its
connection returned to the pool, as the response starts: a download sent from a finished file
(an export) holds no connection, whatever the client's pace. Services open and end their own
transactions on it (``write_transaction``); nothing else commits or rolls back.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from portal.database import close_request_session, request_session_scope

log = logging.getLogger(__name__)


class RequestSessionMiddleware:
    """Reads the engine and sessionmaker from the app's state on each request (the tests swap
    a database's state into one app)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope  # type: ignore[assignment]

        async def send_after_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                try:
                    await close_request_session(state)
                except Exception:  # a broken connection: the pool has discarded it
                    log.warning("closing the request's database session failed", exc_info=True)
            await send(message)

        database = scope["litestar_app"].state
        async with request_session_scope(state, database.engine, database.sessionmaker):
            await self.app(scope, receive, send_after_closing)
