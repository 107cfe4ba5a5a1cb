"""What the panels' POST actions do: each is one call into portal/services with the signed-in
staff member as the actor, so the same rules and audit events apply as on the dashboard."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dashboard.pages import field as text
from dashboard.pages import suspension_days
from portal.database import RequestSessions, request_sessions
from portal.errors import InvalidInput
from portal.models import StaffUser
from portal.services import rate_limit
from portal.services.compliance.holds import lift_hold, place_hold
from portal.services.compliance.reports import FORMATS, stream_report
from portal.services.suspensions import SUSPENSION_DAYS
from portal.settings import Settings

DAY_CHOICES = (
    *((str(days), f"{days} day{'s' if days > 1 else ''}") for days in SUSPENSION_DAYS),
    ("indefinite", "indefinitely"),
)


def sessions(request: Request) -> RequestSessions:
    """The request's one session, lent as a sessionmaker (closed by the request-session
    middleware, not here)."""
    return request_sessions


def settings(request: Request) -> Settings:
    configured: Settings = request.scope["litestar_app"].state.settings
    return configured


async def review_violation(
    request: Request, staff: StaffUser, pk: uuid.UUID, form: FormData
) -> str:
    async with sessions(request)() as db:
        await rate_limit.mark_violation_reviewed(db, pk, actor=staff)
    return "Marked reviewed."


async def suspend_violator(
    request: Request, staff: StaffUser, pk: uuid.UUID, form: FormData
) -> str:
    days = suspension_days(text(form, "days"))
    async with sessions(request)() as db:
        user = await rate_limit.suspend_violator(
            db,
            pk,
            actor=staff,
            reason=text(form, "reason"),
            days=days,
            policy=text(form, "policy") or None,
            explanation=text(form, "explanation") or None,
        )
    length = "indefinitely" if days is None else f"for {dict(DAY_CHOICES)[str(days)]}"
    return f"{user.display_name} is suspended {length}."


async def download_report(
    request: Request, staff: StaffUser, pk: uuid.UUID, form: FormData
) -> Response:
    fmt = text(form, "format")
    if fmt not in FORMATS:
        raise InvalidInput("format", f"must be one of {', '.join(FORMATS)}")
    export = await stream_report(
        sessions(request), pk, fmt, actor=staff, settings=settings(request)
    )
    return StreamingResponse(
        export.chunks,
        media_type=export.media_type,
        headers={"content-disposition": f'attachment; filename="{export.filename}"'},
    )


async def hold_thread(request: Request, staff: StaffUser, pk: uuid.UUID, form: FormData) -> str:
    async with sessions(request)() as db:
        hold = await place_hold(
            db,
            actor=staff,
            reason=text(form, "reason"),
            case_reference=text(form, "case_reference"),
            thread_id=pk,
        )
    return f"Legal hold {hold.id} placed ({hold.case_reference})."


async def lift(request: Request, staff: StaffUser, pk: uuid.UUID, form: FormData) -> str:
    async with sessions(request)() as db:
        await lift_hold(db, pk, actor=staff, reason=text(form, "reason"))
    return "Legal hold lifted."


def is_open(row: Any) -> bool:
    return getattr(row, "status", None) == "open"


def is_standing(row: Any) -> bool:
    return getattr(row, "lifted_at", None) is None
