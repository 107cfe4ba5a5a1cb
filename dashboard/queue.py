"""The flag queue (/mod), its navigation counts, bulk decisions and "next item"."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard import bulk_notice
from dashboard.pages import (
    field,
    hx_target,
    optional_field,
    read_form,
    render,
    see_other,
    suspension_days,
)
from dashboard.staff_auth import current_staff, requires
from portal.errors import InvalidInput
from portal.models import StaffUser
from portal.models.moderation import FLAG_REASONS
from portal.permissions import Capability, may_decide
from portal.services import (
    appeals,
    moderation,
    moderation_queue,
    moderation_types,
    policies,
    queue_work,
    sender_actions,
)
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
    "assigned",
    "saved",
    "deleted",
}
MAX_SKIPPED_SHOWN = 20


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
    reason: str | None, status: str, age: int | None, order: str, page: int, group: str = ""
) -> dict[str, Any]:
    _choice("group", group, queue_work.QUEUE_GROUPS)
    if reason:
        _choice("reason", reason, FLAG_REASONS)
    _choice("status", status, moderation_types.QUEUE_STATUSES)
    _choice("order", order, moderation_types.QUEUE_ORDERS)
    if age is not None and age not in AGE_FILTERS:
        raise InvalidInput("age", "must be 1, 7 or 30 (days)")
    if page < 1 or page > 100_000:
        raise InvalidInput("page", "must be between 1 and 100000")
    return {
        "reason": reason or None,
        "status": status,
        "age": age,
        "order": order,
        "page": page,
        "group": group,
    }


def filters_query(filters: dict[str, Any], **changes: Any) -> str:
    """The query string of a filter set (for links: pages, saved views), without the "?"."""
    merged = {**filters, **changes}
    kept = {k: v for k, v in merged.items() if v not in (None, "") and (k, v) != ("page", 1)}
    return urlencode(kept)


def response_targets(request: Request[Any, Any, Any]) -> moderation_types.ResponseTargets:
    settings = request.app.state.settings
    return moderation_types.ResponseTargets(
        hours=settings.queue_target_hours, urgent_hours=settings.queue_urgent_target_hours
    )


def _acted(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    """The outcome of an "act on all" the redirect carried to the queue, for its notice."""
    params = request.query_params
    if "acted" not in params:
        return None
    try:
        skipped = [uuid.UUID(v) for v in params.getall("skipped", [])][:MAX_SKIPPED_SHOWN]
        return {
            "sender_id": uuid.UUID(params["acted"]),
            "action": _choice("action", params.get("action", ""), sender_actions.SENDER_ACTIONS),
            "decided": int(params.get("decided", "0")),
            "skipped": skipped,
            "skipped_count": int(params.get("skipped_count", str(len(skipped)))),
            "suspended": params.get("suspended") == "1",
            "name": params.get("name", "")[:200],
        }
    except ValueError:
        return None


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
    group: FromQuery[str | None] = None,
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
        group or "",
    )
    arguments: dict[str, Any] = {
        "viewer": staff,
        "reason": filters["reason"],
        "status": filters["status"],
        "max_age_days": filters["age"],
        "order": filters["order"],
        "page": filters["page"],
        "per_page": PER_PAGE,
    }
    grouped = filters["group"] == "sender"
    context: dict[str, Any] = {
        "filters": filters,
        "filters_query": filters_query,
        "reasons": FLAG_REASONS,
        "statuses": moderation_types.QUEUE_STATUSES,
        "ages": AGE_FILTERS,
        "done": done if done in DONE_WORDS else None,
        "acted": _acted(request),
        "policies": await policies.list_policies(db_session, active_only=True),
        "suspension_days": SUSPENSION_DAYS,
        "now": datetime.now(UTC),
    }
    if grouped:
        context["groups"] = await moderation_queue.sender_groups(db_session, **arguments)
        context["queue"] = context["groups"]
    else:
        context["queue"] = await moderation_queue.queue_page(
            db_session, **arguments, targets=response_targets(request)
        )
        context["assignees"] = (
            await queue_work.assignees(db_session) if may_decide(staff, "open") else []
        )
    if hx_target(request) == "queue-rows":  # a filter changed: the rows, and the total
        return render(request, "mod/_queue_rows.html", {**context, "partial": True})
    context["views"] = await queue_work.list_views(db_session, viewer=staff)
    context["counts"] = await nav_counts(db_session, staff)
    notice = bulk_notice.recall(request)  # a bulk decision's result, after its redirect
    context.update(notice)
    if notice.get("bulk_action") == "dismiss":  # its undo, for the rest of its 10 seconds
        context["bulk_undo"] = await bulk_offer(db_session, None, viewer=staff)
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
    bulk_notice.remember(request, action, result)  # shown once by the queue it redirects to
    return see_other("/mod")


@post(
    "/mod/senders/{sender_id:uuid}/act",
    name="mod.sender.act",
    guards=[requires(Capability.DECIDE)],
    include_in_schema=False,
)
async def act_on_sender(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    sender_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """Act on all of a sender's open items: each decided and audited on its own, then one
    suspension; back to the grouped queue with what was done and what was skipped."""
    staff = await signed_in(request)
    form = await read_form(request)
    action = field(form, "action")
    days = suspension_days(field(form, "days")) if action == "remove_and_suspend" else None
    result = await sender_actions.act_on_all(
        db_session,
        sender_id,
        action,
        actor=staff,
        reason=optional_field(form, "reason"),
        grounds=moderation.Grounds(
            policy=optional_field(form, "policy"),
            public_note=optional_field(form, "public_note"),
        ),
        days=days,
    )
    query: list[tuple[str, str]] = [
        ("group", "sender"),
        ("acted", str(sender_id)),
        ("action", action),
        ("decided", str(len(result.decided))),
        ("skipped_count", str(len(result.skipped))),
        ("suspended", "1" if result.suspended else "0"),
        ("name", field(form, "sender_name")[:200]),
    ]
    query += [("skipped", str(s.message_id)) for s in result.skipped[:MAX_SKIPPED_SHOWN]]
    return see_other("/mod?" + urlencode(query))


@post(
    "/mod/items/{message_id:uuid}/assign",
    name="mod.assign",
    guards=[requires(Capability.CLAIM)],
    include_in_schema=False,
)
async def assign_item(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    message_id: FromPath[uuid.UUID],
) -> Response[Any]:
    staff = await signed_in(request)
    form = await read_form(request)
    try:
        assignee_id = uuid.UUID(field(form, "assignee_id"))
    except ValueError:
        raise InvalidInput("assignee_id", "choose a moderator") from None
    await queue_work.assign(db_session, message_id, assignee_id=assignee_id, actor=staff)
    return see_other("/mod?done=assigned")


@post(
    "/mod/views",
    name="mod.views.save",
    guards=[requires(Capability.READ_QUEUE)],
    include_in_schema=False,
)
async def save_view(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    """Saves the queue's current filters (the form's hidden fields) under a name."""
    staff = await signed_in(request)
    form = await read_form(request)
    filters = {name: field(form, name) for name in queue_work.VIEW_FILTERS}
    view = await queue_work.save_view(
        db_session, actor=staff, name=field(form, "name"), filters=filters
    )
    return see_other(f"/mod?{view.query}&done=saved" if view.query else "/mod?done=saved")


@post(
    "/mod/views/{view_id:uuid}/delete",
    name="mod.views.delete",
    guards=[requires(Capability.READ_QUEUE)],
    include_in_schema=False,
)
async def delete_view(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    view_id: FromPath[uuid.UUID],
) -> Response[Any]:
    staff = await signed_in(request)
    await queue_work.delete_view(db_session, view_id, actor=staff)
    return see_other("/mod?done=deleted")


QUEUE_WORK_HANDLERS = [act_on_sender, assign_item, save_view, delete_view]
