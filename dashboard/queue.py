"""The flag queue (/mod), its navigation counts, bulk decisions and "next item"."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import field, hx_target, optional_field, read_form, render, see_other
from dashboard.staff_auth import current_staff, requires
from portal.errors import InvalidInput
from portal.models import StaffUser
from portal.models.moderation import FLAG_REASONS
from portal.permissions import Capability, may_decide
from portal.services import appeals, moderation, moderation_queue, moderation_types, policies
from portal.services.suspensions import SUSPENSION_DAYS
from portal.services.undo import bulk_offer  # keys helper (issue 18)

AGE_FILTERS = (1, 7, 30)
PER_PAGE = 50
DONE_WORDS = {
    "claimed",
    "unclaimed",
    "dismissed",
    "removed",
    "warned",
    "suspended",
    "escalated",
    "noted",
    "lifted",
}


async def signed_in(request: Request[Any, Any, Any]) -> StaffUser:
    staff = await current_staff(request)
    if staff is None:  # the router's guard ran first; this only narrows the type
        raise PermissionDeniedException("sign in first")
    return staff


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInput(name, f"must be one of {', '.join(allowed)}")
    return value


def _whole(name: str, value: str | None) -> int | None:
    """A whole-number filter from the query string; empty means not set (the form's "any")."""
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(name, "must be a whole number")
    return int(value)


def queue_filters(
    reason: str | None, status: str, age: int | None, order: str, page: int
) -> dict[str, Any]:
    if reason:
        _choice("reason", reason, FLAG_REASONS)
    _choice("status", status, moderation_types.QUEUE_STATUSES)
    _choice("order", order, moderation_types.QUEUE_ORDERS)
    if age is not None and age not in AGE_FILTERS:
        raise InvalidInput("age", "must be 1, 7 or 30 (days)")
    if page < 1 or page > 100_000:
        raise InvalidInput("page", "must be between 1 and 100000")
    return {"reason": reason or None, "status": status, "age": age, "order": order, "page": page}


@dataclass(frozen=True)
class NavCounts:
    """The badges of the top bar: the queue's counts and the open appeals."""

    open: int
    mine: int
    escalated: int
    appeals: int


async def nav_counts(db_session: NamedDependency[AsyncSession], staff: StaffUser) -> NavCounts:
    queue = await moderation_queue.queue_counts(db_session, viewer=staff)
    appeals_open, _ = await appeals.open_appeals_summary(db_session)
    return NavCounts(queue.open, queue.mine, queue.escalated, appeals_open)


async def decision_page_context(
    db_session: AsyncSession,
    staff: StaffUser,
    *,
    error: str | None,
    done: str | None,
    form: dict[str, dict[str, str]] | None,
) -> dict[str, Any]:
    """What every page that takes decisions (a report's, a user's) shows besides its subject:
    the refusal or the decision just taken, the refused form's values, the suspension
    lengths, the active policies a restriction cites and the queue counts."""
    return {
        "error": error,
        "done": done if done in DONE_WORDS else None,
        "suspension_days": SUSPENSION_DAYS,
        "policies": await policies.list_policies(db_session, active_only=True),
        "form": form or {},
        "counts": await nav_counts(db_session, staff),
    }


@get("/mod", name="mod.queue", guards=[requires(Capability.READ_QUEUE)], include_in_schema=False)
async def queue(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    reason: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    age: FromQuery[str | None] = None,
    order: FromQuery[str | None] = None,
    page: FromQuery[str | None] = None,
    done: FromQuery[str | None] = None,
) -> Response[Any]:
    staff = await signed_in(request)
    if not status:  # compliance works on what was escalated to it
        status = "open" if may_decide(staff, "open") else "escalated"
    page_number = _whole("page", page)
    filters = queue_filters(
        reason,
        status,
        _whole("age", age),
        order or "priority",
        1 if page_number is None else page_number,
    )
    result = await moderation_queue.queue_page(
        db_session,
        viewer=staff,
        reason=filters["reason"],
        status=filters["status"],
        max_age_days=filters["age"],
        order=filters["order"],
        page=filters["page"],
        per_page=PER_PAGE,
    )
    context = {
        "queue": result,
        "filters": filters,
        "reasons": FLAG_REASONS,
        "statuses": moderation_types.QUEUE_STATUSES,
        "ages": AGE_FILTERS,
        "done": done if done in DONE_WORDS else None,
        "policies": await policies.list_policies(db_session, active_only=True),
    }
    if hx_target(request) == "queue-rows":  # a filter changed: the rows, and the total
        return render(request, "mod/_queue_rows.html", {**context, "partial": True})
    context["counts"] = await nav_counts(db_session, staff)
    return render(request, "mod/queue.html", context)


@get(
    "/mod/counts",
    name="mod.counts",
    guards=[requires(Capability.READ_QUEUE)],
    include_in_schema=False,
)
async def counts(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    staff = await signed_in(request)
    return render(request, "mod/_nav_counts.html", {"counts": await nav_counts(db_session, staff)})


@get(
    "/mod/next", name="mod.next", guards=[requires(Capability.READ_QUEUE)], include_in_schema=False
)
async def next_report(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    after: FromQuery[uuid.UUID | None] = None,
    done: FromQuery[str | None] = None,
) -> Response[Any]:
    """Where "submit and next" goes: the next item the viewer can act on, or the queue."""
    staff = await signed_in(request)
    following = await moderation_queue.next_item(db_session, viewer=staff, after_message_id=after)
    suffix = f"?done={done}" if done in DONE_WORDS else ""
    if following is None:
        return see_other("/mod" + suffix)
    return see_other(f"/mod/reports/{following}{suffix}")


@get("/mod/bulk", guards=[requires(Capability.READ_QUEUE)], include_in_schema=False)
async def bulk_page(request: Request[Any, Any, Any]) -> Response[Any]:
    return see_other("/mod")


@post("/mod/bulk", name="mod.bulk", guards=[requires(Capability.DECIDE)], include_in_schema=False)
async def bulk(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    """Each selected item decided and audited on its own; the result names what was skipped."""
    staff = await signed_in(request)
    form = await read_form(request)
    action = field(form, "action")
    if action not in moderation_types.BULK_ACTIONS:
        raise InvalidInput("action", f"must be one of {', '.join(moderation_types.BULK_ACTIONS)}")
    try:
        ids = [uuid.UUID(str(value)) for value in form.getall("message_id", [])]
    except ValueError:
        raise InvalidInput("message_id", "must be message ids") from None
    if not ids:
        raise InvalidInput("message_id", "select at least one item")
    if len(ids) > 200:
        raise InvalidInput("message_id", "at most 200 items at once")
    result = await moderation.bulk_decide(
        db_session,
        ids,
        action,
        actor=staff,
        reason=optional_field(form, "reason"),
        grounds=moderation.Grounds(
            policy=optional_field(form, "policy"),
            explanation=optional_field(form, "explanation"),
            public_note=optional_field(form, "public_note"),
        ),
    )
    page = await moderation_queue.queue_page(db_session, viewer=staff, per_page=PER_PAGE)
    context = {
        "queue": page,
        "filters": queue_filters(None, "open", None, "priority", 1),
        "reasons": FLAG_REASONS,
        "statuses": moderation_types.QUEUE_STATUSES,
        "ages": AGE_FILTERS,
        "policies": await policies.list_policies(db_session, active_only=True),
        "bulk": result,
        "bulk_action": action,
        # keys helper (issue 18): a bulk dismissal's undo, for 10 seconds
        "bulk_undo": (
            await bulk_offer(db_session, result.decided, viewer=staff)
            if action == "dismiss"
            else None
        ),
        "counts": await nav_counts(db_session, staff),
    }
    return render(request, "mod/queue.html", context, headers={"HX-Push-Url": "/mod"})
