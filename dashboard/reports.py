"""One reported message (/mod/reports/{id}); the decisions taken on it are dashboard.decisions."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import render
from dashboard.queue import decision_page_context, signed_in
from dashboard.staff_auth import requires
from portal.models import StaffUser
from portal.permissions import Capability
from portal.services import moderation_records, retaliation
from portal.services import undo as undoing

# the words of this page's own decisions (dashboard.decisions) the queue does not know
OWN_DONE = ("undone", "sent_back")

PATH = "/mod/reports/{message_id:uuid}"


async def report_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    staff: StaffUser,
    message_id: FromPath[uuid.UUID],
    *,
    error: str | None = None,
    status_code: int = 200,
    done: FromQuery[str | None] = None,
    form: dict[str, dict[str, str]] | None = None,
    undo_id: uuid.UUID | None = None,
) -> Response[Any]:
    """``form``: the values of the one form whose submission failed on this item, under its
    decision word ("removed", "suspended", ...), to show in that form only. ``undo_id``: the
    decision just taken, whose undo the page offers while it may be undone."""
    view = await moderation_records.report_view(db_session, message_id)
    held = await retaliation.held_reports(db_session, [r.id for r in view.reports])
    context = {
        "view": view,
        # Why no one may decide it yet (the service refuses too): a counter-report held for
        # compliance's retaliation review.
        "retaliation_hold": retaliation.HELD_EXPLANATION if held else None,
        **await decision_page_context(db_session, staff, error=error, done=done, form=form),
        "undo_offer": (
            await undoing.offer(db_session, undo_id, viewer=staff) if undo_id is not None else None
        ),
    }
    if done in OWN_DONE:
        context["done"] = done
    return render(request, "mod/report.html", context, status_code=status_code)


@get(PATH, name="mod.report", guards=[requires(Capability.READ_QUEUE)], include_in_schema=False)
async def report(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    message_id: FromPath[uuid.UUID],
    done: FromQuery[str | None] = None,
    undo: FromQuery[uuid.UUID | None] = None,
) -> Response[Any]:
    staff = await signed_in(request)
    return await report_page(request, db_session, staff, message_id, done=done, undo_id=undo)
