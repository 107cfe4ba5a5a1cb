"""A thread's page (/mod/threads/{id}) for every staff role: the whole conversation as one
timeline, with its audit chain verified.

The page shows the text of the messages only to a staff member who opened it: the "Read the
messages" form (a POST, like every dashboard action that writes) records the read in the audit
log, at most once an hour per staff member and thread (``thread_timeline.record_staff_read``),
and then shows the page with the text for that hour. No GET writes anything.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import render, see_other
from dashboard.queue import nav_counts, signed_in
from dashboard.staff_auth import requires
from portal.permissions import Capability
from portal.services import thread_timeline

PATH: Final = "/mod/threads/{thread_id:uuid}"


@get(PATH, name="mod.thread", guards=[requires(Capability.READ_QUEUE)], include_in_schema=False)
async def thread_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    thread_id: FromPath[uuid.UUID],
) -> Response[Any]:
    staff = await signed_in(request)
    timeline = await thread_timeline.thread_timeline(db_session, thread_id)
    context = {
        "t": timeline,
        "text_open": await thread_timeline.has_read(db_session, thread_id, staff),
        "read_window_hours": int(thread_timeline.READ_WINDOW.total_seconds() // 3600),
        "counts": await nav_counts(db_session, staff),
    }
    return render(request, "mod/thread.html", context)


@post(
    PATH + "/read",
    name="mod.thread.read",
    guards=[requires(Capability.READ_QUEUE)],
    include_in_schema=False,
)
async def read_thread(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    thread_id: FromPath[uuid.UUID],
) -> Response[Any]:
    staff = await signed_in(request)
    await thread_timeline.record_staff_read(db_session, thread_id, actor=staff)
    return see_other(request.app.route_reverse("mod.thread", thread_id=thread_id) + "#timeline")


THREAD_HANDLERS: Final = (thread_page, read_thread)
