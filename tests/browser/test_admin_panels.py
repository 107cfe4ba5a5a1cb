"""The SQLAdmin panels in headless Chromium: one sign-in opens /mod and /admin, a thread's audit
report downloads from the Threads panel and `portal audit verify` accepts it, signing out of
/admin signs out of /mod too. Screenshots of the Flagged messages, Blocklist and Rate-limit
violations panels go to var/test-artifacts/."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import write_transaction
from portal.models import MessageBlock, RateLimitViolation
from portal.models.base import new_id, utcnow
from portal.settings import Settings
from tests.admin.panel_support import PanelWorld, make_panel_world
from tests.browser.conftest import ARTIFACTS, Browsing, LiveServer
from tests.browser.test_dashboard import sign_in
from tests.portal.moderation_support import report, send, user

PORTAL = Path(sys.executable).with_name("portal")


async def _busy_world(session: AsyncSession, settings: Settings) -> PanelWorld:
    """The panel world and a little more, so that the lists look like a working day."""
    world = await make_panel_world(session, settings)
    sender = world.base.sender
    others = [await user(session, "candidate", name) for name in ("Ana Ames", "Bo Berg", "Cy Cole")]
    for n, other in enumerate(others):
        message = await send(session, settings, sender, other, f"Last chance to pay the fee {n}")
        await report(session, message, other, ("scam", "spam", "harassment")[n], note="fee")
    now = utcnow()
    async with write_transaction(session):
        session.add_all(
            MessageBlock(
                id=new_id(),
                blocker_id=other.id,
                blocked_id=sender.id,
                reason=("spam", "harassment", "other")[n],
                note="keeps asking for money" if n == 0 else None,
                created_at=now - timedelta(days=n * 3),
            )
            for n, other in enumerate(others)
        )
        session.add(
            RateLimitViolation(
                id=new_id(),
                user_id=others[0].id,
                first_attempt_at=now - timedelta(hours=3),
                last_attempt_at=now - timedelta(hours=2),
                attempts=14,
                count_in_window=10,
                limit=10,
                window_seconds=86400,
            )
        )
    return world


def test_one_sign_in_report_download_and_sign_out(
    live_server: LiveServer, browsing: Browsing, tmp_path: Path
) -> None:
    live = live_server
    world: PanelWorld = live.run(_busy_world, live.settings)
    errors_before = len(browsing.console_errors)
    page = browsing.new_page()
    sign_in(page, live, world.base.admin)  # once, at /mod/login
    page.locator(".topbar .brand").wait_for()

    page.goto(f"{live.url}/admin/")
    assert page.locator(".portal-product").inner_text() == "Moderation"
    assert page.locator("a.portal-back").get_attribute("href") == "/mod"

    page.goto(f"{live.url}/admin/flagged-message/list")
    page.locator("td", has_text="You are useless").wait_for()
    assert page.locator("tbody tr").count() == 4
    page.screenshot(path=str(ARTIFACTS / "admin-flagged-messages.png"), full_page=True)

    page.goto(f"{live.url}/admin/blocklist/list")
    page.click("th a:has-text('Blocked by')")  # ascending, then descending
    page.click("th a:has-text('Blocked by')")
    page.wait_for_url("**sort=desc**")
    first = page.locator("tbody tr").first
    assert "Erin Employer" in first.inner_text()
    assert first.locator("td").nth(4).inner_text().strip() == "4"
    page.screenshot(path=str(ARTIFACTS / "admin-blocklist.png"), full_page=True)

    page.goto(f"{live.url}/admin/rate-limit-violation/list")
    page.locator("td", has_text="Ana Ames").wait_for()
    page.screenshot(path=str(ARTIFACTS / "admin-rate-limit-violations.png"), full_page=True)
    page.locator("tbody tr", has_text="Ana Ames").locator("a[href*='/details/']").first.click()
    page.click("#action-review button[type=submit]")  # a POST form with the CSRF token
    page.locator(".alert-success", has_text="Mark reviewed: done.").wait_for()
    assert page.locator("#action-review").count() == 0
    page.screenshot(path=str(ARTIFACTS / "admin-violation.png"))

    page.goto(f"{live.url}/admin/message-thread/list")
    page.locator("tbody tr", has_text="Cody Candidate").first.wait_for()
    page.locator(f"a[href='/admin/message-thread/details/{world.thread_id}#audit-report']").click()
    page.wait_for_url(f"**/admin/message-thread/details/{world.thread_id}*")
    page.screenshot(path=str(ARTIFACTS / "admin-thread.png"))
    with page.expect_download() as download_info:
        page.click("#audit-report button[value=json]")
    saved = tmp_path / "report.json"
    download_info.value.save_as(saved)
    verified = subprocess.run(
        # Unsigned (the test server has no signing key): integrity only.
        [str(PORTAL), "audit", "verify", "--allow-unsigned", str(saved)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("verified ")

    page.click("button.portal-signout")
    page.wait_for_url(f"{live.url}/mod/login")
    page.goto(f"{live.url}/mod")
    page.wait_for_url(f"{live.url}/mod/login*")
    page.goto(f"{live.url}/admin/")
    page.wait_for_url(f"{live.url}/mod/login?next=/admin/")
    assert browsing.foreign_requests() == []
    assert browsing.console_errors[errors_before:] == []  # nothing the CSP refused
