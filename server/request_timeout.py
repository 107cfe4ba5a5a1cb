"""A bound on how long a request may take to start its answer, and an end to requests whose
client has gone away.

Either way the request's task is cancelled, which rolls back its transaction and returns its
database connection, instead of piling up behind a stuck database. The database's own statement
and lock bounds are shorter and normally fire first; this catches everything else.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from api.errors import RequestTimedOut
from portal.log_text import loggable

log = logging.getLogger(__name__)


def _has_body(scope: Scope) -> bool:
    headers = dict(scope.get("headers") or [])
    if b"transfer-encoding" in headers:
        return True
    return headers.get(b"content-length", b"0") not in (b"0", b"")


class _DisconnectWatch:
    """Wraps ``receive`` so that, once the request body has been read, a watcher waits for the
    client to disconnect and cancels the request's task if it does before the answer is sent.

    The watcher takes over the receive channel only after the body is read (or at once when there
    is no body), so a body is never buffered here; what it reads meanwhile is handed on.
    """

    def __init__(self, receive: Receive, task: asyncio.Task[Any]) -> None:
        self._receive = receive
        self._task = task
        self._watcher: asyncio.Task[None] | None = None
        self._read: asyncio.Queue[ReceiveMessage] = asyncio.Queue()
        self.disconnected = False
        self.responded = False

    def start(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            try:
                message = await self._receive()
            except Exception:  # the server's channel broke: the request's own reads say so
                log.debug("receive failed while watching for a disconnect", exc_info=True)
                return
            self._read.put_nowait(message)
            if message["type"] == "http.disconnect":
                if not self.responded:
                    self.disconnected = True
                    self._task.cancel()
                return

    async def receive(self) -> ReceiveMessage:
        if self._watcher is not None:
            if self._watcher.done() and self._read.empty():
                return {"type": "http.disconnect"}  # as ASGI says, once the client is gone
            return await self._read.get()
        message = await self._receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            self.start()
        return message

    def stop(self) -> None:
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()


class RequestTimeoutMiddleware:
    """ASGI middleware: 503 (through RequestTimedOut) when the answer has not started within
    ``timeout_seconds``; a request whose client disconnected is cancelled."""

    def __init__(self, app: ASGIApp, timeout_seconds: float) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        watch = _DisconnectWatch(receive, task)
        bound = asyncio.timeout(self.timeout_seconds or None)

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                watch.responded = True
                # A streamed answer (an export) may take longer than the bound once it has begun.
                bound.reschedule(None)
            await send(message)

        if not _has_body(scope):
            watch.start()
        try:
            async with bound:
                await self.app(scope, watch.receive, tracking_send)
        except asyncio.CancelledError:
            # Swallowed only when the watcher alone cancelled: a server shutdown still propagates.
            if not watch.disconnected or task.uncancel() > 0:
                raise
            log.info("%s %s: the client went away; request cancelled", *_where(scope))
        except TimeoutError:
            if watch.responded or not bound.expired():
                raise
            log.warning(
                "%s %s: no answer within %gs; request cancelled",
                *_where(scope),
                self.timeout_seconds,
            )
            raise RequestTimedOut(self.timeout_seconds) from None
        finally:
            watch.stop()


def _where(scope: Scope) -> tuple[str, str]:
    return loggable(scope.get("method", "")), loggable(scope.get("path", ""))
