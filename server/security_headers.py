"""Security headers for every page a browser renders: the dashboard, the API docs, the admin panels.

Nothing on these pages loads from another origin (front-end packages come from npm at install
time and are served under /static/vendor), and no page has inline script, so the
Content-Security-Policy can say ``'self'`` throughout. Swagger UI sets inline styles, so /schema
alone allows them.

The prefix is read from the path as the client requested it (``raw_path``): a mounted app (SQLAdmin
under /admin) runs with ``/admin`` stripped from ``path``, and keying on that left /admin with no
headers at all.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from api.errors import request_id

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
_POLICIES = (
    ("/mod", DASHBOARD_CSP),
    ("/admin", DASHBOARD_CSP),
    ("/schema", DOCS_CSP),
    ("/inbox", DASHBOARD_CSP),  # the reference end-user inbox (server/inbox.py)
)


def policy_for(path: str) -> str | None:
    for prefix, policy in _POLICIES:
        if path == prefix or path.startswith(prefix + "/"):
            return policy
    return None


def requested_path(scope: Scope) -> str:
    """The path as the client sent it, before any mount stripped its prefix."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes | bytearray):
        return bytes(raw).split(b"?", 1)[0].decode("latin-1")
    return str(scope.get("root_path", "")) + scope["path"]


async def add_response_headers(message: Message, scope: Scope) -> None:
    """Before-send hook, so that it sees every response of the app: routed or not (404, 405),
    refused by a middleware (CSRF, allowed hosts) or answered by a mounted app.

    One pass for what every response carries (its request id, unless it has one, and
    ``nosniff``); the page policies only for the pages a browser renders."""
    if message["type"] != "http.response.start":
        return
    headers = [
        (name, value)
        for name, value in message.get("headers", ())
        if name.lower() != b"x-content-type-options"
    ]
    if not any(name.lower() == b"x-request-id" for name, _ in headers):
        headers.append((b"x-request-id", request_id(scope).encode("latin-1")))
    headers.append((b"x-content-type-options", b"nosniff"))
    message["headers"] = headers
    policy = policy_for(requested_path(scope))
    if policy is not None:
        page = MutableScopeHeaders.from_message(message)
        # A file served to staff says `sandbox` (dashboard/attachments.py): it keeps it.
        sandboxed = page.get("content-security-policy") == "sandbox"
        page["content-security-policy"] = policy + ("; sandbox" if sandboxed else "")
        page["referrer-policy"] = "same-origin"
        page["x-frame-options"] = "DENY"
        page["cache-control"] = "no-store"
