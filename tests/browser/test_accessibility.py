"""Every staff page, checked by axe-core in Chromium: no critical or serious violation.

The pages are walked as the people who use them: signed out (sign-in), as an admin over the
dashboard (queue, a report with its notes and decisions, a user with a statement unfolded, the
overview, staff accounts, the compliance pages, the appeals queue and an appeal, the policies,
an error page, the keyboard help open, a report right after a decision),
and over SQLAdmin's /admin as an admin sees it: the panels are the ones the admin app registers
(``PANELS``), so a new panel is checked without touching this file: the index, every panel's
list, a details page, a create and an edit form, and the sign-in page a signed-out visit is sent
to."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from admin.panels.views import PANELS
from portal.database import read_transaction
from portal.models import Appeal, ModerationDecision, Policy
from portal.services import appeals, moderation
from portal.settings import Settings
from tests.admin.panel_support import PanelWorld, make_panel_world
from tests.browser.accessibility import serious_violations
from tests.browser.conftest import FRONT_END_ONLY, Browsing, LiveServer
from tests.browser.test_dashboard import sign_in
from tests.portal.moderation_support import report, send, user

pytestmark = FRONT_END_ONLY


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
    """Runs axe over the page as shown now: loaded (``goto`` waits for the load event: styles,
    scripts, frames), or, after an htmx swap (``settle``), once no request is in flight for
    half a second."""
    page.wait_for_load_state("networkidle" if settle else "load")
    violations = serious_violations(page)
    if violations:
        found[where] = violations


def _assert_none(found: dict[str, list[dict[str, Any]]]) -> None:
    summary = {where: {(v["id"], tuple(v["nodes"])) for v in vs} for where, vs in found.items()}
    assert found == {}, "\n".join(f"{w}: {sorted(s)}" for w, s in summary.items())


def test_no_staff_page_has_a_serious_accessibility_violation(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    world: PanelWorld = live.run(_world, live.settings)
    base = world.base
    found: dict[str, list[dict[str, Any]]] = {}
    page = browsing.new_page()

    page.goto(f"{live.url}/mod/login")
    _check(page, "/mod/login", found)
    sign_in(page, live, base.admin)
    appeal_id, policy_id = live.run(_first_ids)
    dashboard = [
        "/mod",
        "/mod?status=decided&order=age",
        f"/mod/reports/{base.message.id}",
        f"/mod/users/{base.sender.id}",
        "/mod/overview",
        "/mod/staff",
        "/mod/compliance",
        f"/mod/compliance/threads/{world.thread_id}",
        "/mod/compliance/holds",
        "/mod/appeals",
        f"/mod/appeals/{appeal_id}",  # with the decide form: the admin took no decision
        "/mod/policies",
        f"/mod/policies/{policy_id}",
        "/mod/reports/00000000-0000-7000-8000-000000000000",  # the error page
    ]
    for path in dashboard:
        page.goto(live.url + path)
        _check(page, path, found)

    page.goto(f"{live.url}/mod/users/{base.sender.id}")
    page.locator("#user-decisions summary").first.click()  # a statement of reasons unfolded
    _check(page, "a user with a statement open", found)

    page.goto(f"{live.url}/mod")
    page.keyboard.press("?")
    page.locator("#keys-help").wait_for()
    _check(page, "/mod with the keyboard help open", found)
    page.keyboard.press("Escape")

    page.goto(f"{live.url}/mod/reports/{base.message.id}")
    page.keyboard.press("2")  # a policy
    page.keyboard.press("r")
    page.keyboard.type("abuse")
    page.keyboard.press("Enter")  # decided: the next report, swapped in by htmx
    page.wait_for_url(re.compile(r".*done=removed"))
    _check(page, "a report after a decision", found, settle=True)

    _assert_none(found)


def test_no_admin_page_has_a_serious_accessibility_violation(
    live_server: LiveServer, browsing: Browsing
) -> None:
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

    details = create = edit = None
    for panel in PANELS:
        path = f"/admin/{panel.identity}/list"
        page.goto(live.url + path)
        _check(page, path, found)
        details = details or first_link("details")
        edit = edit or (first_link("edit") if panel.can_edit else None)
        if create is None and panel.can_create:
            create = f"/admin/{panel.identity}/create"
    assert details and create and edit, (details, create, edit)
    for path in (details, create, edit):
        page.goto(live.url + path)
        _check(page, path, found)

    _assert_none(found)
