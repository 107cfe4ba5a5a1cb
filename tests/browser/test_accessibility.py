"""Every staff page, checked by axe-core in Chromium: no critical or serious violation.

The pages are walked as the people who use them: signed out (sign-in, the 404 page), as an admin
over every page of the dashboard, read from the app's routes (``dashboard_pages``: a new page is
checked without touching this file; one that needs an id gets it from the seeded world, by its
path parameter's name), the error pages, a user with a statement unfolded, the keyboard help
open, a report right after a decision; SQLAdmin's /admin is walked by test_accessibility_admin.py
(a module of its own, so that the two walks can run on both test processes at once). On both
databases, as the issue's browser tests are (the pages hold each database's data)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import Appeal, ModerationDecision, Policy
from portal.services import appeals, moderation
from portal.settings import Settings
from server.app import create_app
from tests.admin.panel_support import PanelWorld, make_panel_world
from tests.browser.accessibility import serious_violations
from tests.browser.conftest import Browsing, LiveServer
from tests.browser.test_dashboard import sign_in
from tests.portal.moderation_support import report, send, user


async def _world(session: AsyncSession, settings: Settings) -> PanelWorld:
    world = await make_panel_world(session, settings)
    base = world.base
    await moderation.add_note(
        session, actor=base.moderator, body="asked for context", message_id=base.message.id
    )
    other = await user(session, "employer", "Olga Other")
    candidate = await user(session, "candidate", "Cyd Candidate")  # the world's pair is blocked
    for n in range(2):
        message = await send(session, settings, other, candidate, f"Pay the fee {n}")
        await report(session, message, candidate, ("scam", "spam")[n], note="fee")
    decided = await send(session, settings, base.sender, candidate, "earlier insult")
    await report(session, decided, candidate, "harassment")
    await moderation.warn_sender(
        session,
        decided.id,
        actor=base.moderator,
        note="be civil",
        grounds=moderation.Grounds(policy="spam"),
    )
    async with read_transaction(session):
        warning = await session.scalar(
            select(ModerationDecision).where(ModerationDecision.message_id == decided.id)
        )
    assert warning is not None
    await appeals.file_appeal(session, base.sender, warning.id, "I was civil.")
    return world


async def _first_ids(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID]:
    """An appeal, and a policy."""
    async with read_transaction(session):
        appeal_id = await session.scalar(select(Appeal.id).limit(1))
        policy_id = await session.scalar(select(Policy.id).order_by(Policy.key).limit(1))
    assert appeal_id is not None and policy_id is not None
    return appeal_id, policy_id


def _check(
    page: Any, where: str, found: dict[str, list[dict[str, Any]]], *, settle: bool = False
) -> None:
    """``page.goto`` has waited for the load (no page fetches anything on load); after a click or
    a key that makes htmx fetch, ``settle`` waits for the network to go quiet."""
    if settle:
        page.wait_for_load_state("networkidle")
    violations = serious_violations(page)
    if violations:
        found[where] = violations


def _assert_none(found: dict[str, list[dict[str, Any]]]) -> None:
    summary = {where: {(v["id"], tuple(v["nodes"])) for v in vs} for where, vs in found.items()}
    assert found == {}, "\n".join(f"{w}: {sorted(s)}" for w, s in summary.items())


# The dashboard's GET routes that are not pages of their own: the top bar's counts (a fragment
# htmx polls into every page), the name picker's suggestions (a fragment the compliance forms
# swap in; checked open inside those forms) and the queue's event stream (for EventSource only).
# Every other GET route under /mod is visited.
NOT_PAGES = frozenset({"mod.counts", "mod.search.suggest", "mod.events"})


def dashboard_pages(app: Litestar, ids: Mapping[str, uuid.UUID]) -> list[str]:
    """Every page under /mod, read from the app's routes (a new page is checked without touching
    this file), its path parameters filled from ``ids`` (by parameter name)."""
    paths: list[str] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path_format.startswith("/mod"):
            continue
        handlers = [h for h in route.route_handlers if "GET" in h.http_methods]
        if not handlers or all(h.name in NOT_PAGES for h in handlers):
            continue
        missing = set(route.path_parameters) - set(ids)
        assert not missing, f"{route.path}: give this test an id for {sorted(missing)}"
        values = {name: ids[name] for name in route.path_parameters}
        paths.append(route.path_format.format(**values))
    return sorted(set(paths))


def test_no_staff_page_has_a_serious_accessibility_violation(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    world: PanelWorld = live.run(_world, live.settings)
    base = world.base
    found: dict[str, list[dict[str, Any]]] = {}
    page = browsing.new_page()

    for path in ("/mod/login", "/mod/nowhere"):  # signed out: the sign-in page, the 404 page
        page.goto(live.url + path)
        _check(page, f"{path} signed out", found)
    sign_in(page, live, base.admin)
    appeal_id, policy_id = live.run(_first_ids)
    ids = {
        "message_id": base.message.id,
        "user_id": base.sender.id,
        "appeal_id": appeal_id,  # with the decide form: the admin took no decision
        "policy_id": policy_id,
        "thread_id": world.thread_id,
        "hold_id": world.hold_id,
    }
    pages = dashboard_pages(create_app(live.settings), ids)
    assert {"/mod", "/mod/overview", f"/mod/reports/{base.message.id}"} <= set(pages)
    extra = [
        "/mod?status=decided&order=age",
        "/mod/reports/00000000-0000-7000-8000-000000000000",  # the error page of a route
        "/mod/nowhere/at/all",  # the 404 of no route, in the dashboard's frame
    ]
    seen: set[str] = set()
    for path in pages + extra:
        page.goto(live.url + path)
        shown = page.url.removeprefix(live.url)
        if shown in seen:  # a route that redirects to a page already checked (/mod/next)
            continue
        seen.add(shown)
        _check(page, path, found)

    page.goto(f"{live.url}/mod/users/{base.sender.id}")
    page.locator("#user-decisions summary").first.click()  # a statement of reasons unfolded
    _check(page, "a user with a statement open", found, settle=True)

    page.goto(f"{live.url}/mod")
    page.keyboard.press("?")
    page.locator("#keys-help").wait_for()
    _check(page, "/mod with the keyboard help open", found)
    page.keyboard.press("Escape")

    page.goto(f"{live.url}/mod/reports/{base.message.id}")
    page.keyboard.press("2")  # a policy
    page.keyboard.press("r")
    page.keyboard.type("abuse")
    page.keyboard.press("Enter")  # asks to confirm the removal
    page.keyboard.press("Enter")  # confirmed: the next report (with the undo), by htmx
    page.wait_for_url(re.compile(r".*done=removed"))
    _check(page, "a report after a decision", found, settle=True)

    _assert_none(found)
