"""Every kind of request holds at most one pooled connection at a time, checked out once: the
API (a read and a send), a /mod page, a decision and a refused one, an /admin panel list and the
compliance exports. The pool is watched through SQLAlchemy's ``checkout`` and ``checkin``
events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.settings import Settings
from tests.admin.support import make_world, post_form, sign_in
from tests.api.helpers import auth, send_ok


@dataclass
class PoolWatch:
    checkouts: int = 0
    held: int = 0
    most_held: int = 0

    def checkout(self, *_: Any) -> None:
        self.checkouts += 1
        self.held += 1
        self.most_held = max(self.most_held, self.held)

    def checkin(self, *_: Any) -> None:
        self.held -= 1


@contextmanager
def watching(engine: AsyncEngine) -> Iterator[PoolWatch]:
    watch = PoolWatch()
    pool = engine.sync_engine.pool
    event.listen(pool, "checkout", watch.checkout)
    event.listen(pool, "checkin", watch.checkin)
    try:
        yield watch
    finally:
        event.remove(pool, "checkout", watch.checkout)
        event.remove(pool, "checkin", watch.checkin)


async def test_each_kind_of_request_holds_at_most_one_connection(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    session: AsyncSession,
    settings: Settings,
) -> None:
    world = await make_world(session, settings)
    thread_id = world.message.thread_id
    message_id = world.message.id
    api = auth(settings, world.recipient)

    async def api_read() -> Response:
        return await client.get("/api/v1/messages/threads", headers=api)

    async def api_write() -> Response:
        await send_ok(client, settings, world.recipient, world.sender, "a reply")
        return Response(201)

    async def mod_page() -> Response:
        return await client.get(f"/mod/reports/{message_id}")

    async def mod_decision() -> Response:
        return await post_form(client, f"/mod/reports/{message_id}/claim")

    async def mod_refusal() -> Response:  # already claimed by another: refused, re-rendered
        return await post_form(client, f"/mod/reports/{message_id}/claim")

    async def admin_list() -> Response:
        return await client.get("/admin/user/list")

    async def report_export() -> Response:
        return await post_form(
            client, f"/mod/compliance/threads/{thread_id}/report", {"format": "json"}
        )

    async def activity_export() -> Response:
        return await post_form(
            client,
            "/mod/compliance/staff-activity",
            {"from": "2026-01-01", "to": "2026-12-31", "format": "csv"},
        )

    kinds: list[tuple[str, str, Callable[[], Awaitable[Response]], int]] = [
        ("api read", "", api_read, 200),
        ("api write", "", api_write, 201),
        ("mod page", "moderator", mod_page, 200),
        ("mod decision", "moderator", mod_decision, 303),
        ("mod refusal", "admin", mod_refusal, 409),
        ("admin list", "admin", admin_list, 200),
        ("report export", "compliance", report_export, 200),
        ("activity export", "compliance", activity_export, 200),
    ]
    seen: dict[str, tuple[int, int]] = {}
    for name, role, request, status in kinds:
        if role:
            await sign_in(client, world.account(role))
        await request()  # warm: first visits may set up templates, admin views, known users
        if name == "mod decision":
            await post_form(client, f"/mod/reports/{message_id}/unclaim")
        with watching(app.state.engine) as watch:
            response = await request()
            assert response.status_code == status, (name, response.text[:500])
        assert watch.held == 0, name
        seen[name] = (watch.most_held, watch.checkouts)
    # one connection, held once: checked out on first use and back in the pool as the response
    # starts (before: the /mod page and the exports checked out three, a refused decision four)
    assert seen == dict.fromkeys(seen, (1, 1)), seen
