"""One reported message (/mod/reports/{id}) and the decisions taken on it.

Every action is one call into portal.services.moderation; after a decision the next item opens
("submit and next"). A decision someone else took first, or bad input, shows the report again
with the reason and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import field, read_form, render, see_other, suspension_days
from dashboard.queue import DONE_WORDS, nav_counts, signed_in
from dashboard.staff_auth import DECISION_ROLES, MODERATION_ROLES, READ_ROLES, requires_role
from portal.errors import AlreadyDecided, Conflict, InvalidInput
from portal.models import StaffUser
from portal.services import moderation

_path = "/mod/reports/{message_id:uuid}"


async def _report_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    staff: StaffUser,
    message_id: FromPath[uuid.UUID],
    *,
    error: str | None = None,
    status_code: int = 200,
    done: FromQuery[str | None] = None,
    form: dict[str, dict[str, str]] | None = None,
) -> Response[Any]:
    """``form``: the values of the one form whose submission failed on this item, under its
    decision word ("removed", "suspended", ...), to show in that form only."""
    view = await moderation.report_view(db_session, message_id)
    context = {
        "view": view,
        "error": error,
        "done": done if done in DONE_WORDS else None,
        "suspension_days": moderation.SUSPENSION_DAYS,
        "form": form or {},
        "counts": await nav_counts(db_session, staff),
    }
    return render(request, "mod/report.html", context, status_code=status_code)


@get(_path, guards=[requires_role(*READ_ROLES)], include_in_schema=False)
async def report(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    message_id: FromPath[uuid.UUID],
    done: FromQuery[str | None] = None,
) -> Response[Any]:
    staff = await signed_in(request)
    return await _report_page(request, db_session, staff, message_id, done=done)


Decision = Callable[[AsyncSession, uuid.UUID, StaffUser, dict[str, str]], Awaitable[None]]


async def _decide(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    message_id: FromPath[uuid.UUID],
    decision: Decision,
    done: str,
    *,
    then_next: bool = True,
) -> Response[Any]:
    staff = await signed_in(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in ("reason", "note", "days", "body")}
    try:
        await decision(db_session, message_id, staff, values)
    except AlreadyDecided as exc:
        return await _report_page(
            request, db_session, staff, message_id, error=exc.detail, status_code=409
        )
    except (InvalidInput, Conflict) as exc:
        return await _report_page(
            request,
            db_session,
            staff,
            message_id,
            error=exc.detail,
            status_code=exc.status_code,
            form={done: values},
        )
    if then_next:
        return see_other(f"/mod/next?after={message_id}&done={done}")
    return see_other(f"/mod/reports/{message_id}?done={done}")


@post(_path + "/claim", guards=[requires_role(*MODERATION_ROLES)], include_in_schema=False)
async def claim(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    message_id: FromPath[uuid.UUID],
) -> Response[Any]:
    async def act(db: AsyncSession, mid: uuid.UUID, staff: StaffUser, _: dict[str, str]) -> None:
        await moderation.claim(db, mid, actor=staff)

    return await _decide(request, db_session, message_id, act, "claimed", then_next=False)


@post(_path + "/unclaim", guards=[requires_role(*MODERATION_ROLES)], include_in_schema=False)
async def unclaim(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    message_id: FromPath[uuid.UUID],
) -> Response[Any]:
    async def act(db: AsyncSession, mid: uuid.UUID, staff: StaffUser, _: dict[str, str]) -> None:
        await moderation.unclaim(db, mid, actor=staff)

    return await _decide(request, db_session, message_id, act, "unclaimed", then_next=False)


@post(_path + "/dismiss", guards=[requires_role(*DECISION_ROLES)], include_in_schema=False)
async def dismiss(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    message_id: FromPath[uuid.UUID],
) -> Response[Any]:
    async def act(db: AsyncSession, mid: uuid.UUID, staff: StaffUser, v: dict[str, str]) -> None:
        await moderation.dismiss(db, mid, actor=staff, note=v["note"] or None)

    return await _decide(request, db_session, message_id, act, "dismissed")


@post(_path + "/remove", guards=[requires_role(*DECISION_ROLES)], include_in_schema=False)
async def remove(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    message_id: FromPath[uuid.UUID],
) -> Response[Any]:
    async def act(db: AsyncSession, mid: uuid.UUID, staff: StaffUser, v: dict[str, str]) -> None:
        await moderation.remove_message(db, mid, actor=staff, reason=v["reason"])

    return await _decide(request, db_session, message_id, act, "removed")


@post(_path + "/warn", guards=[requires_role(*DECISION_ROLES)], include_in_schema=False)
async def warn(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    message_id: FromPath[uuid.UUID],
) -> Response[Any]:
    async def act(db: AsyncSession, mid: uuid.UUID, staff: StaffUser, v: dict[str, str]) -> None:
        await moderation.warn_sender(db, mid, actor=staff, note=v["note"])

    return await _decide(request, db_session, message_id, act, "warned")


@post(_path + "/suspend", guards=[requires_role(*DECISION_ROLES)], include_in_schema=False)
async def suspend(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    message_id: FromPath[uuid.UUID],
) -> Response[Any]:
    async def act(db: AsyncSession, mid: uuid.UUID, staff: StaffUser, v: dict[str, str]) -> None:
        await moderation.suspend_sender(
            db, mid, actor=staff, reason=v["reason"], days=suspension_days(v["days"])
        )

    return await _decide(request, db_session, message_id, act, "suspended")


@post(_path + "/escalate", guards=[requires_role(*MODERATION_ROLES)], include_in_schema=False)
async def escalate(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    message_id: FromPath[uuid.UUID],
) -> Response[Any]:
    async def act(db: AsyncSession, mid: uuid.UUID, staff: StaffUser, v: dict[str, str]) -> None:
        await moderation.escalate(db, mid, actor=staff, note=v["note"] or None)

    return await _decide(request, db_session, message_id, act, "escalated")


@post(_path + "/notes", guards=[requires_role(*READ_ROLES)], include_in_schema=False)
async def note(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    message_id: FromPath[uuid.UUID],
) -> Response[Any]:
    async def act(db: AsyncSession, mid: uuid.UUID, staff: StaffUser, v: dict[str, str]) -> None:
        await moderation.add_note(db, actor=staff, body=v["body"], message_id=mid)

    return await _decide(request, db_session, message_id, act, "noted", then_next=False)


REPORT_HANDLERS = [report, claim, unclaim, dismiss, remove, warn, suspend, escalate, note]
