"""Every staff response carries the same security headers: every route of /mod and /schema from
the app's route table and every route SQLAdmin serves under /admin, for every panel, signed in
and signed out, and the answers nobody routes (404, a refused CSRF check)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

from httpx import Response
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Mount, Route

from admin.panels.views import PANELS
from portal.database import read_transaction
from portal.models import AuditEvent, FlagReport
from portal.settings import Settings
from server.security_headers import DASHBOARD_CSP, DOCS_CSP
from tests.admin.panel_support import make_panel_world
from tests.admin.support import csrf_token, sign_in

STAFF_PREFIXES = ("/mod", "/admin", "/schema")
SIGN_OUT_PATHS = frozenset({"/mod/logout", "/admin/logout"})


def problems_with(response: Response) -> list[str]:
    path = response.request.url.path
    policy = DOCS_CSP if path.startswith("/schema") else DASHBOARD_CSP
    expected = {
        "content-security-policy": policy,
        "x-frame-options": "DENY",
        "referrer-policy": "same-origin",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
    }
    label = f"{response.request.method} {response.request.url.raw_path.decode()} "
    label += f"({response.status_code})"
    return [
        f"{label}: {name} is {response.headers.get(name)!r}"
        for name, value in expected.items()
        if response.headers.get(name) != value
    ]


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "x"), template)


def litestar_routes(app: Litestar, values: dict[str, str]) -> Iterator[tuple[str, str]]:
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(STAFF_PREFIXES):
            continue
        for method in sorted(route.methods):
            yield method, _fill(route.path, values)


def sqladmin_routes(app: Litestar, ids: dict[str, str]) -> Iterator[tuple[str, str]]:
    sqladmin = app.state.sqladmin
    inner = next(r for r in sqladmin.routes if isinstance(r, Mount) and r.name == "admin").app
    for route in inner.routes:
        if not isinstance(route, Route):
            continue
        identities = [panel.identity for panel in PANELS] if "{identity}" in route.path else [""]
        for identity in identities:
            values = {
                "identity": identity,
                "pk": ids.get(identity, str(uuid.uuid4())),
                "export_type": "csv",
                "slug": "report",
                "column_name": "body",
            }
            for method in sorted(route.methods or {"GET"}):
                yield method, "/admin" + _fill(route.path, values)


async def test_every_staff_route_carries_the_security_headers(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_panel_world(session, settings)
    async with read_transaction(session):
        report_id = await session.scalar(select(FlagReport.id).limit(1))
        event_id = await session.scalar(select(AuditEvent.id).limit(1))
    ids = {
        "flagged-message": str(world.base.message.id),
        "flag-report": str(report_id),
        "blocklist": str(world.block_id),
        "rate-limit-violation": str(world.violation_id),
        "message-thread": str(world.thread_id),
        "message": str(world.base.message.id),
        "user": str(world.base.sender.id),
        "email-outbox": str(world.outbox_id),
        "application": str(world.application_id),
        "moderator-note": str(world.note_id),
        "legal-hold": str(world.hold_id),
        "audit-event": str(event_id),
        "staff-account": str(world.base.moderator.id),
    }
    values = {
        "message_id": str(world.base.message.id),
        "user_id": str(world.base.sender.id),
        "staff_id": str(world.base.moderator.id),
        "thread_id": str(world.thread_id),
        "hold_id": str(world.hold_id),
        "path": "openapi.yaml",
    }
    problems: list[str] = []
    walked: set[str] = set()
    async with AsyncTestClient(app=app) as client:
        # signed out: the sign-in page, and every route's answer to nobody
        signed_out = await client.get("/mod/login")
        assert signed_out.status_code == 200
        problems += problems_with(signed_out)
        problems += problems_with(await client.get("/admin/", follow_redirects=False))

        await sign_in(client, world.base.admin)
        assert (await client.get("/admin/")).status_code == 200  # SQLAdmin is built on first use
        requests = [*litestar_routes(app, values), *sqladmin_routes(app, ids)]
        requests.sort(key=lambda request: request[1] in SIGN_OUT_PATHS)  # signing out last
        for method, path in requests:
            walked.add(path.split("/")[1])
            token = await csrf_token(client)
            response = await client.request(
                method,
                path,
                headers={"x-csrftoken": token} if method not in ("GET", "HEAD") else None,
                follow_redirects=False,
            )
            problems += problems_with(response)
        # answers no route gives: not found, no such method, a refused CSRF check
        await sign_in(client, world.base.admin)
        for response in (
            await client.get("/mod/no-such-page"),
            await client.get("/admin/no-such-panel/list"),
            await client.get("/schema/no-such-thing"),
            await client.post("/mod/logout", follow_redirects=False),
            await client.post("/admin/logout", follow_redirects=False),
        ):
            problems += problems_with(response)
    assert walked == {"mod", "admin", "schema"}
    assert len(requests) > 100
    assert problems == []
