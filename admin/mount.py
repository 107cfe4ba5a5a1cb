"""Mount point for the SQLAdmin panels, filled in by the SQLAdmin work."""

from __future__ import annotations

from litestar import Response, asgi
from litestar.types import Receive, Scope, Send


@asgi("/admin", is_mount=True, copy_scope=True, include_in_schema=False)
async def admin_placeholder(scope: Scope, receive: Receive, send: Send) -> None:
    response = Response(
        {"status_code": 503, "detail": "The admin panels are not built yet."}, status_code=503
    )
    await response.to_asgi_response(app=None, request=None)(scope, receive, send)  # type: ignore[arg-type]
