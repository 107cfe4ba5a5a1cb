"""SQLAdmin's /admin as an admin sees it, checked by axe-core in Chromium: no critical or serious
violation. The panels are the ones the admin app registers (``PANELS``), so a new panel is checked
without touching this file: the index, every panel's list, a details page, a create and an edit
form, the 404 pages, and the sign-in page a signed-out visit is sent to. On both databases; the
world and the checks are test_accessibility.py's."""

from __future__ import annotations

import re
from typing import Any

from admin.panels.views import PANELS
from tests.admin.panel_support import PanelWorld
from tests.browser.conftest import Browsing, LiveServer
from tests.browser.test_accessibility import _assert_none, _check, _world
from tests.browser.test_dashboard import sign_in


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
