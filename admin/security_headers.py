"""Security headers for every page a browser renders: the dashboard, the API docs, the admin panels.

Nothing on these pages loads from another origin (front-end packages come from npm at install
time and are served under /static/vendor), and no page has inline script, so the
Content-Security-Policy can say ``'self'`` throughout. Swagger UI sets inline styles, so /schema
alone allows them.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_POLICIES = (("/mod", DASHBOARD_CSP), ("/admin", DASHBOARD_CSP), ("/schema", DOCS_CSP))


def policy_for(path: str) -> str | None:
    for prefix, policy in _POLICIES:
        if path == prefix or path.startswith(prefix + "/"):
            return policy
    return None


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = policy_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                headers["x-content-type-options"] = "nosniff"
                if policy is not None:
                    headers["content-security-policy"] = policy
                    headers["referrer-policy"] = "same-origin"
                    headers["x-frame-options"] = "DENY"
                    if scope["path"].startswith(("/mod", "/admin")):
                        headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
