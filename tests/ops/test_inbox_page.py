"""/inbox (server/inbox.py): the page and its files carry the staff pages' headers and nothing
inline; the demo users' tokens are offered in development and test only, and only for the demo
people that exist."""

from __future__ import annotations

import re
from dataclasses import replace

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.demo import PEOPLE
from portal.services.users import create_user
from portal.settings import PROJECT_ROOT, Settings
from server.inbox import inbox_router
from server.security_headers import DASHBOARD_CSP


async def test_the_page_has_the_staff_pages_headers_and_nothing_inline(
    client: AsyncTestClient,
) -> None:
    page = await client.get("/inbox")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == DASHBOARD_CSP
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert 'data-demo-users="/inbox/demo-users"' in page.text  # the tests run as `test`
    assert re.findall(r"<script(?![^>]*\bsrc=)", page.text) == []
    assert "<style" not in page.text
    assert " style=" not in page.text
    for name in ("app.js", "api.js", "events.js", "dom.js"):
        served = await client.get(f"/static/inbox/{name}")
        assert served.status_code == 200, name
        assert "javascript" in served.headers["content-type"], name
    sources = "".join(p.read_text() for p in (PROJECT_ROOT / "static" / "inbox").glob("*.js"))
    assert "innerHTML" not in sources and "insertAdjacentHTML" not in sources
    assert "document.cookie" not in sources
    assert "localStorage" not in sources


async def test_demo_users_are_listed_with_working_tokens_once_they_exist(
    client: AsyncTestClient, session: AsyncSession
) -> None:
    assert (await client.get("/inbox/demo-users")).json() == {"users": []}
    email, name, role = PEOPLE[0]
    await create_user(session, email=email, display_name=name, role=role, actor=Actor.system())
    answer = await client.get("/inbox/demo-users")
    assert answer.headers["cache-control"] == "no-store"
    [listed] = answer.json()["users"]
    assert (listed["name"], listed["role"]) == (name, role)
    unread = await client.get(
        "/api/v1/messages/unread-count", headers={"Authorization": f"Bearer {listed['token']}"}
    )
    assert unread.status_code == 200


def test_production_has_no_demo_users_route(settings: Settings) -> None:
    def paths(router_settings: Settings) -> set[str]:
        return {route.path for route in inbox_router(router_settings).routes}

    assert paths(settings) == {"/inbox", "/inbox/demo-users"}
    assert paths(replace(settings, environment="production")) == {"/inbox"}
