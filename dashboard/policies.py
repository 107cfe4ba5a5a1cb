"""The policies decisions cite (/mod/policies), for administrators: the catalogue, a new policy,
and an edit (each edit a new version). Every change is a call into portal.services.policies,
which audits it with the policy's full content."""

from __future__ import annotations

import uuid
from typing import Any, Final

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import field, read_form, render, see_other
from dashboard.queue import nav_counts, signed_in
from dashboard.staff_auth import requires
from portal.errors import InvalidInput
from portal.models.decisions import DSA_CATEGORIES, POLICY_GROUNDS
from portal.permissions import Capability
from portal.services import policies

PATH: Final = "/mod/policies"
EDIT_PATH: Final = "/mod/policies/{policy_id:uuid}"
TEXT_FIELDS: Final = ("title", "ground", "ground_reference", "category", "explanation")
DONE: Final = {"created", "updated"}
GUARD: Final = [requires(Capability.MANAGE_POLICIES)]


def _category_label(value: str) -> str:
    return value.removeprefix("STATEMENT_CATEGORY_").replace("_", " ").lower()


async def _page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    *,
    editing: uuid.UUID | None = None,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> Response[Any]:
    staff = await signed_in(request)
    catalogue = await policies.list_policies(db_session)
    edited = await policies.get_policy(db_session, editing) if editing is not None else None
    context = {
        "catalogue": catalogue,
        "edited": edited,
        "grounds": POLICY_GROUNDS,
        "categories": [(value, _category_label(value)) for value in DSA_CATEGORIES],
        "done": done if done in DONE else None,
        "error": error,
        "form": form or {},
        "nav": "policies",
        "counts": await nav_counts(db_session, staff),
    }
    return render(request, "mod/policies.html", context, status_code=status_code)


@get(PATH, name="mod.policies", guards=GUARD, include_in_schema=False)
async def policy_list(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    done: FromQuery[str | None] = None,
) -> Response[Any]:
    return await _page(request, db_session, done=done)


@get(EDIT_PATH, name="mod.policy", guards=GUARD, include_in_schema=False)
async def policy_edit(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    policy_id: FromPath[uuid.UUID],
    done: FromQuery[str | None] = None,
) -> Response[Any]:
    return await _page(request, db_session, editing=policy_id, done=done)


@post(PATH, name="mod.policies.create", guards=GUARD, include_in_schema=False)
async def create(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    actor = await signed_in(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in ("key", *TEXT_FIELDS)}
    try:
        await policies.create_policy(db_session, actor=actor, **values)
    except InvalidInput as exc:
        return await _page(
            request, db_session, error=exc.detail, status_code=exc.status_code, form=values
        )
    return see_other(f"{request.app.route_reverse('mod.policies')}?done=created")


@post(EDIT_PATH, name="mod.policy.update", guards=GUARD, include_in_schema=False)
async def update(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    policy_id: FromPath[uuid.UUID],
) -> Response[Any]:
    actor = await signed_in(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in TEXT_FIELDS}
    active = field(form, "active") == "on"
    try:
        await policies.update_policy(db_session, policy_id, actor=actor, active=active, **values)
    except InvalidInput as exc:
        return await _page(
            request,
            db_session,
            editing=policy_id,
            error=exc.detail,
            status_code=exc.status_code,
            form={**values, "active": "on" if active else ""},
        )
    return see_other(f"{request.app.route_reverse('mod.policies')}?done=updated")


POLICY_HANDLERS: Final = [policy_list, policy_edit, create, update]
