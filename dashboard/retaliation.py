"""The retaliation watch's queue (/mod/compliance/retaliation), for compliance roles only.

Each item is an adverse action a watched employer took against the candidate who reported them
(Title VII §704(a)), with its timeline: the protected report, the action, the days between.
Reviewing an item closes it with the officer's note and, for an employer's report against the
candidate, releases that report to the moderators' queue. The guard and the service ask the
same capability (``REVIEW_RETALIATION``); moderators never see the page or its link.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import field, read_form, render, see_other
from dashboard.queue import nav_counts, signed_in
from dashboard.staff_auth import requires
from portal.errors import PortalError
from portal.permissions import Capability
from portal.services import retaliation

DONE: Final = {"reviewed": "item reviewed", "released": "item reviewed, report released"}
ACTIONS: Final = {
    "application_rejected": "rejected the application",
    "application_withdrawn": "withdrew the application",
    "blocked": "blocked the candidate",
    "thread_deleted": "deleted the conversation",
    "reported": "reported the candidate",
}


async def _page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    *,
    status: str = "open",
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    current: uuid.UUID | None = None,
) -> Response[Any]:
    staff = await signed_in(request)
    items = await retaliation.list_items(
        db_session, actor=staff, status=status if status in ("open", "reviewed") else "open"
    )
    context = {
        "nav": "compliance",
        "items": items,
        "status": status,
        "actions": ACTIONS,
        "done": DONE.get(done or ""),
        "error": error,
        "current": current,
        "counts": await nav_counts(db_session, staff),
    }
    return render(request, "mod/compliance_retaliation.html", context, status_code=status_code)


@get("/", name="mod.compliance.retaliation")
async def retaliation_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    status: FromQuery[str] = "open",
    done: FromQuery[str | None] = None,
) -> Response[Any]:
    return await _page(request, db_session, status=status, done=done)


@post("/{item_id:uuid}/review", name="mod.compliance.retaliation_review")
async def review(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    item_id: FromPath[uuid.UUID],
) -> Response[Any]:
    staff = await signed_in(request)
    form = await read_form(request)
    try:
        item = await retaliation.review_item(
            db_session, item_id, actor=staff, note=field(form, "note")
        )
    except PortalError as exc:
        return await _page(
            request, db_session, error=exc.detail, status_code=exc.status_code, current=item_id
        )
    done = "released" if item.released_at is not None else "reviewed"
    return see_other(f"/mod/compliance/retaliation?done={done}")


retaliation_router = Router(
    path="/mod/compliance/retaliation",
    guards=[requires(Capability.REVIEW_RETALIATION)],
    route_handlers=[retaliation_page, review],
    include_in_schema=False,
)
