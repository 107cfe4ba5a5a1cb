"""Staff accounts (/mod/staff), for administrators: create, deactivate, change role, reset
password. Every change is a call into portal.services.staff, which audits it."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import field, optional_field, read_form, render, see_other
from dashboard.queue import nav_counts, signed_in
from dashboard.staff_auth import requires
from portal.errors import Conflict, Forbidden, InvalidInput, NotFound
from portal.models.staff import STAFF_ROLES
from portal.permissions import Capability
from portal.services import staff as staff_service

DONE = {"created", "deactivated", "reactivated", "role", "password"}


async def _page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    *,
    done: FromQuery[str | None] = None,
    error: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> Response[Any]:
    staff = await signed_in(request)
    accounts = await staff_service.list_staff(db_session)
    context = {
        "accounts": accounts,
        "roles": STAFF_ROLES,
        "done": done if done in DONE else None,
        "error": error,
        "form": form or {},
        "counts": await nav_counts(db_session, staff),
    }
    return render(request, "mod/staff.html", context, status_code=status_code)


@get("/", name="mod.staff")
async def staff_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    done: FromQuery[str | None] = None,
) -> Response[Any]:
    return await _page(request, db_session, done=done)


async def _change(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    action: str,
    staff_id: uuid.UUID | None = None,
) -> Response[Any]:
    actor = await signed_in(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in ("email", "display_name", "role")}
    try:
        if action == "created":
            await staff_service.create_staff(
                db_session,
                email=values["email"],
                role=values["role"],
                password=str(form.get("password") or ""),
                display_name=optional_field(form, "display_name"),
                actor=actor,
            )
        elif staff_id is None:  # pragma: no cover - every other route has an id
            raise NotFound("no such staff account")
        elif action == "deactivated":
            await staff_service.deactivate_staff(db_session, staff_id, actor=actor)
        elif action == "reactivated":
            await staff_service.reactivate_staff(db_session, staff_id, actor=actor)
        elif action == "role":
            await staff_service.set_staff_role(db_session, staff_id, values["role"], actor=actor)
        else:
            await staff_service.reset_staff_password(
                db_session, staff_id, str(form.get("password") or ""), actor=actor
            )
    except (InvalidInput, Conflict, Forbidden) as exc:
        keep = values if action == "created" else None
        return await _page(
            request, db_session, error=exc.detail, status_code=exc.status_code, form=keep
        )
    return see_other(f"/mod/staff?done={action}")


@post("/", name="mod.staff.create")
async def create(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    return await _change(request, db_session, "created")


@post("/{staff_id:uuid}/deactivate", name="mod.staff.deactivate")
async def deactivate(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    staff_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _change(request, db_session, "deactivated", staff_id)


@post("/{staff_id:uuid}/reactivate", name="mod.staff.reactivate")
async def reactivate(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    staff_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _change(request, db_session, "reactivated", staff_id)


@post("/{staff_id:uuid}/role", name="mod.staff.role")
async def change_role(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    staff_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _change(request, db_session, "role", staff_id)


@post("/{staff_id:uuid}/password", name="mod.staff.password")
async def reset_password(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    staff_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _change(request, db_session, "password", staff_id)


staff_router = Router(
    path="/mod/staff",
    guards=[requires(Capability.MANAGE_STAFF)],
    route_handlers=[staff_page, create, deactivate, reactivate, change_role, reset_password],
    include_in_schema=False,
)
