"""Mount points for the staff side, filled in by the staff and dashboard work."""

from __future__ import annotations

from litestar import Response, asgi, get
from litestar.types import Receive, Scope, Send


@get("/mod", include_in_schema=False, sync_to_thread=False)
def mod_index() -> Response[str]:
    return Response(
        "<!doctype html><title>Moderation</title><p>The moderation dashboard is not built yet.",
        media_type="text/html",
        status_code=503,
    )


@asgi("/admin", is_mount=True, copy_scope=True, include_in_schema=False)
async def admin_placeholder(scope: Scope, receive: Receive, send: Send) -> None:
    response = Response(
        {"status_code": 503, "detail": "The admin panels are not built yet."}, status_code=503
    )
    await response.to_asgi_response(app=None, request=None)(scope, receive, send)  # type: ignore[arg-type]
