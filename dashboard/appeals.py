"""Appeals (/mod/appeals): the queue of open appeals, oldest first, and one appeal's page with
the decision appealed, its statement, the evidence, the subject's history and the decide form.

An appeal is decided by a moderator or admin who did not take the decision appealed; the page of
whoever took it says so instead of offering the form (and ``appeals.decide_appeal`` refuses them
anyway). A refusal shows the page again with the reason and the form as it was sent.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import field, read_form, render, see_other, suspension_days
from dashboard.queue import nav_counts, signed_in
from dashboard.staff_auth import requires
from portal.errors import AlreadyDecided, Conflict, Forbidden, InvalidInput
from portal.models import StaffUser
from portal.models.decisions import APPEAL_STATUSES
from portal.permissions import Capability
from portal.services import appeals, policies, statements
from portal.services.suspensions import SUSPENSION_DAYS

QUEUE_PATH: Final = "/mod/appeals"
PATH: Final = "/mod/appeals/{appeal_id:uuid}"
# the decide form's fields, kept when it is refused
FIELDS: Final = (
    "outcome",
    "reasoning",
    "new_days",  # a suspension shortened: its new length
    "action",  # a dismissal overturned: the restriction now taken ...
    "days",  # ... and, a suspension, its length
    "policy",
    "explanation",
    "public_note",
)


@get(
    QUEUE_PATH,
    name="mod.appeals",
    guards=[requires(Capability.READ_QUEUE)],
    include_in_schema=False,
)
async def appeal_queue(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    status: FromQuery[str | None] = None,
    done: FromQuery[str | None] = None,
) -> Response[Any]:
    staff = await signed_in(request)
    status = status or "open"
    items = await appeals.appeal_queue(db_session, viewer=staff, status=status)
    context = {
        "items": items,
        "status": status,
        "statuses": APPEAL_STATUSES,
        "done": done == "decided",
        "nav": "appeals",
        "counts": await nav_counts(db_session, staff),
    }
    return render(request, "mod/appeals.html", context)


async def appeal_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    staff: StaffUser,
    appeal_id: uuid.UUID,
    *,
    error: str | None = None,
    status_code: int = 200,
    kept: dict[str, str] | None = None,
) -> Response[Any]:
    detail = await appeals.appeal_detail(db_session, appeal_id, viewer=staff)
    context = {
        "detail": detail,
        "error": error,
        "kept": kept or {},
        "suspension_days": SUSPENSION_DAYS,
        "policies": await policies.list_policies(db_session, active_only=True),
        "remedies": appeals.DISMISSAL_REMEDIES,
        "nav": "appeals",
        "counts": await nav_counts(db_session, staff),
    }
    return render(request, "mod/appeal.html", context, status_code=status_code)


@get(PATH, name="mod.appeal", guards=[requires(Capability.READ_QUEUE)], include_in_schema=False)
async def appeal(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    appeal_id: FromPath[uuid.UUID],
) -> Response[Any]:
    staff = await signed_in(request)
    return await appeal_page(request, db_session, staff, appeal_id)


def _length(outcome: str, values: dict[str, str]) -> int | None:
    """The days the outcome gives: a suspension's new length (partly overturned), or the
    length of the suspension a dismissal overturned now takes (None: indefinite)."""
    if outcome == "partially_overturned":
        return suspension_days(values["new_days"]) if values["new_days"] else None
    if outcome == "overturned" and values["action"] == "suspend":
        return suspension_days(values["days"] or "indefinite")
    return None


@post(
    f"{PATH}/decide",
    name="mod.appeal.decide",
    guards=[requires(Capability.DECIDE_APPEAL)],
    include_in_schema=False,
)
async def decide(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    appeal_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """Upheld, overturned or partially overturned, with the reasoning told to the complainant;
    then the queue of the appeals still open."""
    staff = await signed_in(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in FIELDS}
    try:
        outcome = values["outcome"]
        await appeals.decide_appeal(
            db_session,
            appeal_id,
            actor=staff,
            outcome=outcome,
            reasoning=values["reasoning"],
            days=_length(outcome, values),
            action=(values["action"] or None) if outcome == "overturned" else None,
            grounds=statements.Grounds(
                policy=values["policy"] or None,
                explanation=values["explanation"] or None,
                public_note=values["public_note"] or None,
            ),
        )
    except AlreadyDecided as exc:
        return await appeal_page(
            request, db_session, staff, appeal_id, error=exc.detail, status_code=409
        )
    except (InvalidInput, Conflict, Forbidden) as exc:
        return await appeal_page(
            request,
            db_session,
            staff,
            appeal_id,
            error=exc.detail,
            status_code=exc.status_code,
            kept=values,
        )
    return see_other(f"{request.app.route_reverse('mod.appeals')}?done=decided")


APPEAL_HANDLERS: Final = [appeal_queue, appeal, decide]
