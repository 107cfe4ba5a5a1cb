"""The SQLAdmin panels at /admin with every role and signed out: who sees which panel, that no
GET on any route SQLAdmin serves changes the database, and that every state-changing route
refuses a request without a valid CSRF token."""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Mount, Route

from admin.panels.views import PANELS
from portal.database import read_transaction
from portal.models import AuditEvent, FlagReport, Policy
from portal.settings import Settings
from tests.admin.panel_support import PanelWorld, make_panel_world
from tests.admin.support import ROLES, csrf_token, sign_in, snapshot

EVERYONE = frozenset(ROLES)
NOT_MODERATORS = frozenset({"compliance", "admin"})
ADMINS = frozenset({"admin"})
WHO_READS = {
    "flagged-message": EVERYONE,
    "flag-report": EVERYONE,
    "blocklist": EVERYONE,
    "rate-limit-violation": EVERYONE,
    "message-thread": EVERYONE,
    "message": EVERYONE,
    "user": EVERYONE,
    "email-outbox": NOT_MODERATORS,
    "application": NOT_MODERATORS,
    "moderator-note": NOT_MODERATORS,
    "legal-hold": NOT_MODERATORS,
    "audit-event": NOT_MODERATORS,
    "staff-account": ADMINS,
    "policy": EVERYONE,
}


async def row_ids(session: AsyncSession, world: PanelWorld) -> dict[str, uuid.UUID]:
    async with read_transaction(session):
        report_id = await session.scalar(select(FlagReport.id).limit(1))
        event_id = await session.scalar(select(AuditEvent.id).limit(1))
        policy_id = await session.scalar(select(Policy.id).limit(1))
    assert report_id is not None and event_id is not None and policy_id is not None
    return {
        "flagged-message": world.base.message.id,
        "flag-report": report_id,
        "blocklist": world.block_id,
        "rate-limit-violation": world.violation_id,
        "message-thread": world.thread_id,
        "message": world.base.message.id,
        "user": world.base.sender.id,
        "email-outbox": world.outbox_id,
        "application": world.application_id,
        "moderator-note": world.note_id,
        "legal-hold": world.hold_id,
        "audit-event": event_id,
        "staff-account": world.base.moderator.id,
        "policy": policy_id,
    }


def test_the_role_table_covers_every_panel() -> None:
    assert {panel.identity for panel in PANELS} == set(WHO_READS)


async def test_every_panel_by_role_and_signed_out(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_panel_world(session, settings)
    ids = await row_ids(session, world)
    problems: list[str] = []
    async with AsyncTestClient(app=app) as client:
        for who in (None, *ROLES):
            if who is None:
                client.cookies.clear()
            else:
                await sign_in(client, world.base.account(who))
            before = await snapshot(session)
            index = await client.get("/admin/", follow_redirects=False)
            if who is not None:
                assert index.status_code == 200
                for identity, readers in WHO_READS.items():
                    shown = f"/admin/{identity}/list" in index.text
                    if shown != (who in readers):
                        problems.append(f"{who}: {identity} in the menu is {shown}")
            for identity, readers in WHO_READS.items():
                for path in (
                    f"/admin/{identity}/list",
                    f"/admin/{identity}/details/{ids[identity]}",
                ):
                    response = await client.get(path, follow_redirects=False)
                    label = f"{who or 'signed out'} GET {path}"
                    if who is None:
                        location = response.headers.get("location", "")
                        if response.status_code != 303 or location != f"/mod/login?next={path}":
                            problems.append(f"{label}: {response.status_code} {location}")
                    elif who in readers and response.status_code != 200:
                        problems.append(f"{label}: {response.status_code}, expected 200")
                    elif who not in readers and response.status_code != 403:
                        problems.append(f"{label}: {response.status_code}, expected 403")
            if await snapshot(session) != before:
                problems.append(f"{who}: a GET changed the database")
    assert problems == []


def _fill(path: str, **values: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "x"), path)


async def test_no_sqladmin_route_changes_anything_on_get(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    """Every route SQLAdmin serves, for every panel, requested with GET by an administrator
    (who may do the most): nothing changes, and the routes that change state are not GETs."""
    world = await make_panel_world(session, settings)
    ids = await row_ids(session, world)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.base.admin)
        assert (await client.get("/admin/")).status_code == 200
        sqladmin = app.state.sqladmin
        inner = next(r for r in sqladmin.routes if isinstance(r, Mount) and r.name == "admin").app
        routes: list[Route] = [r for r in inner.routes if isinstance(r, Route)]
        assert len(routes) >= 14
        state_changing = {"delete", "import", "export", "logout", "panel_action"}
        seen: set[str] = set()
        before = await snapshot(session)
        for route in routes:
            seen.add(route.name)
            if route.name in state_changing:
                assert "GET" not in (route.methods or set()), route.name
            for identity in WHO_READS if "{identity}" in route.path else ["-"]:
                path = "/admin" + _fill(
                    route.path,
                    identity=identity,
                    pk=str(ids.get(identity, uuid.uuid4())),
                    export_type="csv",
                    slug="report",
                    column_name="body",
                )
                response = await client.get(path + "?pks=" + str(ids.get(identity, "")))
                assert response.status_code < 500, (path, response.status_code)
                if route.name in state_changing:
                    assert response.status_code == 405, (path, response.status_code)
        assert await snapshot(session) == before
        assert {"create", "edit", "export", "delete", "logout", "panel_action"} <= seen
        # still signed in: no GET signed out either
        assert (await client.get("/mod", follow_redirects=False)).status_code == 200


async def _state_changing_requests(world: PanelWorld) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("POST", "/admin/staff-account/create", {"email": "x@staff.example.com", "role": "admin"}),
        ("POST", f"/admin/user/edit/{world.base.sender.id}", {"display_name": "Changed"}),
        ("POST", f"/admin/message/edit/{world.base.message.id}", {"body": "forged"}),
        ("POST", "/admin/message/create", {"body": "forged"}),
        ("DELETE", f"/admin/message/delete?pks={world.base.message.id}", {}),
        ("POST", "/admin/user/import", {}),
        ("POST", "/admin/user/export/csv", {}),
        ("POST", f"/admin/rate-limit-violation/do/review/{world.violation_id}", {}),
        (
            "POST",
            f"/admin/rate-limit-violation/do/suspend/{world.violation_id}",
            {"reason": "spam", "days": "1", "policy": "spam"},
        ),
        ("POST", f"/admin/message-thread/do/report/{world.thread_id}", {"format": "json"}),
        (
            "POST",
            f"/admin/message-thread/do/hold/{world.thread_id}",
            {"reason": "r", "case_reference": "c"},
        ),
        ("POST", f"/admin/legal-hold/do/lift/{world.hold_id}", {"reason": "done"}),
        ("POST", "/admin/policy/create", {"key": "forged", "title": "Forged"}),
        ("POST", "/admin/logout", {}),
    ]


async def test_every_state_change_needs_the_csrf_token(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_panel_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.base.admin)
        for method, path, data in await _state_changing_requests(world):
            before = await snapshot(session)
            missing = await client.request(method, path, data=data or None)
            forged = await client.request(
                method,
                path,
                data={**data, "_csrf_token": "f" * 128} if method == "POST" else None,
                headers={"x-csrftoken": "f" * 128},
            )
            assert (missing.status_code, forged.status_code) == (403, 403), path
            assert "did not come from this site" in forged.text
            assert await snapshot(session) == before, path
        assert (await client.get("/admin/", follow_redirects=False)).status_code == 200
        # with the token, the same sign-out works
        token = await csrf_token(client)
        out = await client.post("/admin/logout", data={"_csrf_token": token})
        assert out.status_code == 200 and "Staff sign-in" in out.text
