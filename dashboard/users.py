"""A user's page (/mod/users/{id}): profile, status, counts, timeline, notes; suspend and lift."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.compliance import COMPLIANCE_ROLES
from dashboard.pages import field, read_form, render, see_other, suspension_days
from dashboard.queue import DONE_WORDS, nav_counts, signed_in
from dashboard.staff_auth import MODERATION_ROLES, READ_ROLES, requires_role
from portal.errors import Conflict, InvalidInput
from portal.models import StaffUser
from portal.services import moderation
from portal.services.compliance import summaries
from portal.services.suspensions import lift_suspension, suspend_user

_path = "/mod/users/{user_id:uuid}"


async def _user_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    staff: StaffUser,
    user_id: FromPath[uuid.UUID],
    *,
    error: str | None = None,
    status_code: int = 200,
    done: FromQuery[str | None] = None,
) -> Response[Any]:
    history = await moderation.user_history(db_session, user_id)
    threads = None
    if staff.role in COMPLIANCE_ROLES:  # their threads, with audit report downloads
        threads = await summaries.threads_of_user(db_session, user_id)
    context = {
        "user": history,
        "threads": threads,
        "error": error,
        "done": done if done in DONE_WORDS else None,
        "suspension_days": moderation.SUSPENSION_DAYS,
        "counts": await nav_counts(db_session, staff),
    }
    return render(request, "mod/user.html", context, status_code=status_code)


@get(_path, guards=[requires_role(*READ_ROLES)], include_in_schema=False)
async def user_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    user_id: FromPath[uuid.UUID],
    done: FromQuery[str | None] = None,
) -> Response[Any]:
    staff = await signed_in(request)
    return await _user_page(request, db_session, staff, user_id, done=done)


async def _act(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    user_id: FromPath[uuid.UUID],
    action: str,
) -> Response[Any]:
    staff = await signed_in(request)
    form = await read_form(request)
    try:
        if action == "suspended":
            await suspend_user(
                db_session,
                user_id,
                actor=staff,
                reason=field(form, "reason"),
                days=suspension_days(field(form, "days")),
            )
        elif action == "lifted":
            await lift_suspension(db_session, user_id, actor=staff, reason=field(form, "reason"))
        else:
            await moderation.add_note(
                db_session, actor=staff, body=field(form, "body"), user_id=user_id
            )
    except (InvalidInput, Conflict) as exc:
        return await _user_page(
            request, db_session, staff, user_id, error=exc.detail, status_code=exc.status_code
        )
    return see_other(f"/mod/users/{user_id}?done={action}")


@post(_path + "/suspend", guards=[requires_role(*MODERATION_ROLES)], include_in_schema=False)
async def suspend(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    user_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _act(request, db_session, user_id, "suspended")


@post(_path + "/lift", guards=[requires_role(*MODERATION_ROLES)], include_in_schema=False)
async def lift(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    user_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _act(request, db_session, user_id, "lifted")


@post(_path + "/notes", guards=[requires_role(*READ_ROLES)], include_in_schema=False)
async def note(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    user_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _act(request, db_session, user_id, "noted")


USER_HANDLERS = [user_page, suspend, lift, note]
