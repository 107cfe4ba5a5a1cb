"""Navigation in the browser: a moderator goes from the dashboard to the records (/admin) and
back by links, an unknown /mod URL shows the dashboard's 404 in its frame (a sign-in link when
signed out), /admin's 404 keeps its menu, and reloading a bulk result decides nothing again."""

from __future__ import annotations

from tests.admin.support import World, make_world
from tests.browser.conftest import ARTIFACTS, FRONT_END_ONLY, Browsing, LiveServer
from tests.browser.test_dashboard import sign_in
from tests.portal.moderation_support import audit_count

pytestmark = FRONT_END_ONLY


def test_the_dashboard_the_records_and_their_404s(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    world: World = live.run(make_world, live.settings)
    page = browsing.new_page()

    response = page.goto(f"{live.url}/mod/no-such-page")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    page.screenshot(path=str(ARTIFACTS / "nav-404-signed-out.png"))
    page.click("#error-sign-in")
    page.wait_for_url(f"{live.url}/mod/login")

    sign_in(page, live, world.moderator)
    response = page.goto(f"{live.url}/mod/no-such-page")
    assert response is not None and response.status == 404
    assert page.locator("header.topbar").is_visible()  # the dashboard's frame
    assert "There is no page at /mod/no-such-page." in page.locator(".error-page").inner_text()
    page.screenshot(path=str(ARTIFACTS / "nav-404.png"))

    page.click("#nav-records")  # the dashboard's way to the records
    page.wait_for_url(f"{live.url}/admin/")
    page.click("#navbar-menu a[href$='/flagged-message/list']")
    page.wait_for_url(f"{live.url}/admin/flagged-message/list")
    assert page.locator("#back-to-dashboard").is_visible()
    # a page of its own, not the dashboard's with the records swapped in by htmx
    sheets = page.evaluate("() => [...document.styleSheets].map((s) => s.href || '')")
    assert any(href.endswith("/static/admin.css") for href in sheets), sheets
    assert not any(href.endswith("/static/mod.css") for href in sheets), sheets
    page.screenshot(path=str(ARTIFACTS / "nav-admin-list.png"))

    response = page.goto(f"{live.url}/admin/no-such-panel/list")
    assert response is not None and response.status == 404
    assert page.locator("#navbar-menu").is_visible()
    page.screenshot(path=str(ARTIFACTS / "nav-admin-404.png"))
    page.click("#back-to-dashboard")
    page.wait_for_url(f"{live.url}/mod")

    # a bulk dismissal, then a reload: the queue, and no second decision
    page.check(f"input[name=message_id][value='{world.message.id}']")
    page.click("#bulk-form button[value=dismiss]")
    page.wait_for_selector("#bulk-result")
    assert "1 item decided" in page.locator("#bulk-result").inner_text()
    assert page.url == f"{live.url}/mod"
    events = live.run(audit_count)
    page.reload()
    assert page.locator("#bulk-result").count() == 0
    assert live.run(audit_count) == events
