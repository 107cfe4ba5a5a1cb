"""Every staff page, checked by axe-core in Chromium: no critical or serious violation.

The pages are walked as the people who use them: signed out (sign-in, the 404 page), as an admin
over every page of the dashboard, read from the app's routes (``dashboard_pages``: a new page is
checked without touching this file; one that needs an id gets it from the seeded world, by its
path parameter's name), the error pages, a user with a statement unfolded, the keyboard help
open, a report right after a decision,
and over SQLAdmin's /admin as an admin sees it: the panels are the ones the admin app registers
(``PANELS``), so a new panel is checked without touching this file: the index, every panel's
list, a details page, a create and an edit form, and the sign-in page a signed-out visit is sent
to. On both databases, as the issue's browser tests are (the pages hold each database's data)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from admin.panels.views import PANELS
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
# htmx polls into every page) and the name picker's suggestions (a fragment the compliance forms
# swap in; checked open inside those forms). Every other GET route under /mod is visited.
NOT_PAGES = frozenset({"mod.counts", "mod.search.suggest"})


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


def test_no_admin_page_has_a_serious_accessibility_violation(
    live_server: LiveServer, browsing: Browsing
) -> None:
    """The index, every panel's list and one of its records' details (the world has a row in
    every table), a create and an edit form, the 404 page, and the sign-in page a signed-out
    visit is sent to."""
    live = live_server
    world: PanelWorld = live.run(_world, live.settings)
    found: dict[str, list[dict[str, Any]]] = {}
    page = browsing.new_page()

    page.goto(f"{live.url}/admin/")
    page.wait_for_url(re.compile(r".*/mod/login\?next=/admin"))
    _check(page, "/admin/ signed out (the sign-in page)", found)

    sign_in(page, live, world.base.admin, then="/admin/")
    _check(page, "/admin/", found)
    menu = {
        href.rstrip("/").removesuffix("/list")
        for href in page.locator("#navbar-menu a[href*='/list']").evaluate_all(
            "links => links.map((a) => new URL(a.href).pathname)"
        )
    }
    assert menu == {f"/admin/{panel.identity}" for panel in PANELS}

    def first_link(kind: str) -> str | None:
        links = page.locator(f"tbody a[href*='/{kind}/']")
        href = links.first.get_attribute("href") if links.count() else None
        return None if href is None else href.removeprefix(live.url)

    create = edit = None
    without_details = []
    for panel in PANELS:
        path = f"/admin/{panel.identity}/list"
        page.goto(live.url + path)
        _check(page, path, found)
        details = first_link("details")
        edit = edit or (first_link("edit") if panel.can_edit else None)
        if create is None and panel.can_create:
            create = f"/admin/{panel.identity}/create"
        if details is None:
            without_details.append(panel.identity)
            continue
        page.goto(live.url + details)
        _check(page, details, found)
    assert not without_details, f"no record to open in {without_details}"
    assert create and edit, (create, edit)
    searchable = next(p.identity for p in PANELS if p.column_searchable_list)
    searched = f"/admin/{searchable}/list?search=a"  # with the search's reset button shown
    for path in (create, edit, searched, "/admin/nowhere/list", "/admin/no/such/page"):
        page.goto(live.url + path)
        _check(page, path, found)

    _assert_none(found)
