"""Only the configured host names are answered (``PORTAL_ALLOWED_HOSTS``; by default 127.0.0.1,
localhost and the host of ``PORTAL_BASE_URL``).

SQLAdmin builds absolute URLs and redirects from the request's Host header, so a request naming
another host got a redirect to that host. Any other Host (or none) is a 400 before a handler
runs. The health probes are exempt: an orchestrator probes a pod by its IP address.
"""

from __future__ import annotations

from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)

EXEMPT_PREFIX = "/health"


def host_name(host_header: str) -> str:
    """The host of a Host header: lower case, without the port or IPv6 brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class AllowedHostsMiddleware:
    def __init__(self, app: ASGIApp, hosts: tuple[str, ...]) -> None:
        self.app = app
        self.hosts = frozenset(host.lower() for host in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(EXEMPT_PREFIX):
            await self.app(scope, receive, send)
            return
        host = Headers.from_scope(scope).get("host")
        if host is not None and host_name(host) in self.hosts:
            await self.app(scope, receive, send)
            return
        body = b"invalid host header: this service answers only its configured host names\n"
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
        await send(start)
        answer: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": body,
            "more_body": False,
        }
        await send(answer)
