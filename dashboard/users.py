"""A user's page (/mod/users/{id}): profile, status, counts, timeline, notes. Suspending, lifting
and notes are dashboard.decisions."""

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
from portal.services import decision_records, moderation_records
from portal.services.compliance import summaries

PATH = "/mod/users/{user_id:uuid}"


async def user_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    staff: StaffUser,
    user_id: FromPath[uuid.UUID],
    *,
    error: str | None = None,
    status_code: int = 200,
    done: FromQuery[str | None] = None,
    form: dict[str, dict[str, str]] | None = None,
) -> Response[Any]:
    """``form``: the values of a refused form, under its decision word (as on a report's page)."""
    history = await moderation_records.user_history(db_session, user_id)
    # their threads, each linking its timeline (and, for compliance, its audit report)
    threads = await summaries.threads_of_user(db_session, user_id)
    context = {
        "user": history,
        "decided": await decision_records.user_decisions(db_session, user_id),
        "threads": threads,
        **await decision_page_context(db_session, staff, error=error, done=done, form=form),
    }
    return render(request, "mod/user.html", context, status_code=status_code)


@get(PATH, name="mod.user", guards=[requires(Capability.READ_QUEUE)], include_in_schema=False)
async def user(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    user_id: FromPath[uuid.UUID],
    done: FromQuery[str | None] = None,
) -> Response[Any]:
    staff = await signed_in(request)
    return await user_page(request, db_session, staff, user_id, done=done)
