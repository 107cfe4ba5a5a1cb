"""The dashboard in headless Chromium against a live server: sign in, keyboard triage, bulk
dismiss with an item decided meanwhile, a one-day suspension the API enforces, hostile content
that stays inert, and the API docs with no network. Screenshots go to var/test-artifacts/."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import write_transaction
from portal.models import Message, StaffUser, User
from portal.services import moderation
from portal.services.compliance.verify import verify_export
from portal.settings import Settings
from portal.tokens import issue_user_token
from tests.admin.support import ROLES
from tests.browser.conftest import ARTIFACTS, Browsing, LiveServer
from tests.portal.moderation_support import PASSWORD, report, report_rows, send, staff, user


@dataclass
class Reported:
    message: Message
    sender: User
    recipient: User


async def _reported(
    session: AsyncSession,
    settings: Settings,
    body: str,
    reasons: tuple[str, ...] = ("harassment",),
    *,
    sender_name: str | None = None,
    note: str | None = None,
) -> Reported:
    sender = await user(session, "employer", sender_name)
    recipient = await user(session, "candidate")
    message = await send(session, settings, sender, recipient, body)
    await report(session, message, recipient, reasons[0], note=note)
    for reason in reasons[1:]:
        await report(session, message, await user(session, "employer"), reason)
    return Reported(message, sender, recipient)


async def _staff(session: AsyncSession, role: str, name: str) -> StaffUser:
    return await staff(session, role, name)


def sign_in(page: Any, live: LiveServer, account: StaffUser, then: str = "/mod") -> None:
    page.goto(f"{live.url}/mod/login?next={then}")
    page.fill("input[name=email]", account.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(live.url + then) + r"($|\?)"))


def _statuses(live: LiveServer, message_id: uuid.UUID) -> set[str]:
    return {row.status for row in live.run(report_rows, message_id)}


def test_sign_in_and_triage_a_report_with_the_keyboard(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    moderator = live.run(_staff, "moderator", "Kim Keys")
    first = live.run(_reported, live.settings, "Pay me first, then the job", ("scam", "scam"))
    second = live.run(_reported, live.settings, "Another scam offer", ("scam",))
    page = browsing.new_page()
    sign_in(page, live, moderator)
    page.select_option("form.filters select[name=reason]", "scam")  # htmx swaps the rows
    page.wait_for_url(re.compile(r".*reason=scam"))
    page.locator("#queue-total", has_text="2 items").wait_for()
    assert page.locator("#queue-rows tr[data-message-id]").count() == 2
    page.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)

    page.keyboard.press("?")
    assert page.locator("#keys-help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#keys-help").is_visible()

    page.keyboard.press("j")
    current = page.locator("#queue-rows tr.current")
    assert current.get_attribute("data-message-id") == str(first.message.id)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live.url}/mod/reports/{first.message.id}")
    page.locator("text=Pay me first, then the job").wait_for()
    page.keyboard.press("k")  # back to the queue
    page.wait_for_url(f"{live.url}/mod")
    page.goto(f"{live.url}/mod?reason=scam")

    page.keyboard.press("j")
    page.keyboard.press("c")  # claim from the queue opens the claimed report
    page.wait_for_url(f"{live.url}/mod/reports/{first.message.id}?done=claimed")
    assert _statuses(live, first.message.id) == {"claimed"}
    assert page.locator("#claim-btn").is_disabled()

    page.keyboard.press("d")  # dismiss, and the next item opens
    page.wait_for_url(re.compile(rf".*/mod/reports/(?!{first.message.id}).*done=dismissed"))
    assert _statuses(live, first.message.id) == {"dismissed"}
    assert page.locator(".flash.ok").inner_text().startswith("Done: dismissed")
    assert _statuses(live, second.message.id) == {"open"}


def test_bulk_dismiss_skips_and_names_what_someone_else_decided(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    moderator = live.run(_staff, "moderator", "Bea Bulk")
    other = live.run(_staff, "moderator", "Otto Other")
    items = [
        live.run(_reported, live.settings, f"Buy followers now {n}", ("spam",)) for n in range(3)
    ]
    page = browsing.new_page()
    sign_in(page, live, moderator)
    page.goto(f"{live.url}/mod?reason=spam&order=age")
    wanted = {str(item.message.id) for item in items}
    rows = page.locator("#queue-rows tr[data-message-id]").count()
    for _ in range(rows):  # j down the queue, x on each of ours
        page.keyboard.press("j")
        if page.locator("#queue-rows tr.current").get_attribute("data-message-id") in wanted:
            page.keyboard.press("x")
    assert page.locator("#selected-count").inner_text() == "3 selected:"
    for item in items:
        assert page.is_checked(f"tr[data-message-id='{item.message.id}'] input[type=checkbox]")

    async def decide_meanwhile(session: AsyncSession) -> None:
        await moderation.dismiss(session, items[1].message.id, actor=other, note="mine")

    live.run(lambda session: decide_meanwhile(session))
    page.click("#bulk-form button[value=dismiss]")
    result = page.locator("#bulk-result")
    result.wait_for()
    text = result.inner_text()
    assert "Dismiss: 2 items decided, 1 skipped" in text
    assert "already dismissed by Otto Other" in text
    for item in items:
        assert _statuses(live, item.message.id) == {"dismissed"}


def test_suspend_for_one_day_and_the_api_refuses_the_send(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    moderator = live.run(_staff, "moderator", "Sam Suspend")
    item = live.run(_reported, live.settings, "Threatening words", ("harassment",))
    token = issue_user_token(live.settings, item.sender.id)
    page = browsing.new_page()
    sign_in(page, live, moderator, then=f"/mod/users/{item.sender.id}")
    page.check("#suspend-form input[name=policy][value=harassment]")
    explanation = page.locator("#suspend-form textarea[name=explanation]")
    assert explanation.input_value().startswith("The message insulted")  # the policy's words
    page.select_option("#suspend-form select[name=days]", "1")
    page.fill("#suspend-form input[name=reason]", "threats in messages")
    page.click("#suspend-form button[type=submit]")
    page.wait_for_url(re.compile(r".*done=suspended"))
    assert "suspended until" in page.locator("#user-status").inner_text()
    page.screenshot(path=str(ARTIFACTS / "user.png"), full_page=True)

    response = httpx.post(
        f"{live.url}/api/v1/messages",
        json={"recipient_id": str(item.recipient.id), "body": "still here"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403, response.text


PAYLOAD = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def test_hostile_content_stays_inert(live_server: LiveServer, browsing: Browsing) -> None:
    live = live_server
    moderator = live.run(_staff, "moderator", "Ivy Inert")
    hostile = live.run(
        _reported,
        live.settings,
        "Hello " + PAYLOAD,
        ("harassment", "spam"),
        sender_name='Mallory <img src=x onerror="window.__pwned=3">',
        note=PAYLOAD,
    )
    neighbour = live.run(_reported, live.settings, "context", ("other",))

    async def conversation(session: AsyncSession) -> None:
        before = ("Thanks for applying.", "Can we talk about the salary?")
        for n, body in enumerate(before):
            a, b = (
                (hostile.recipient, hostile.sender)
                if n % 2
                else (hostile.sender, hostile.recipient)
            )
            await send(session, live.settings, a, b, body)
        await send(session, live.settings, hostile.recipient, hostile.sender, "Please stop.")

    live.run(lambda session: conversation(session))

    async def unsanitised_html(session: AsyncSession) -> None:
        # as if the sanitiser had let a payload through: the sandboxed frame must still hold it
        async with write_transaction(session):
            stored = await session.get(Message, neighbour.message.id)
            assert stored is not None
            stored.body_format, stored.body = "html", "<p>rich</p>" + PAYLOAD

    live.run(lambda session: unsanitised_html(session))
    errors_before = len(browsing.console_errors)
    page = browsing.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, live, moderator)
    for path in (
        "/mod?reason=harassment",
        f"/mod/reports/{hostile.message.id}",
        f"/mod/users/{hostile.sender.id}",
        f"/mod/reports/{neighbour.message.id}",
    ):
        page.goto(live.url + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__pwned") is None, path
        for frame in page.frames:
            assert frame.evaluate("() => window.__pwned === undefined"), path
    page.goto(f"{live.url}/mod/reports/{hostile.message.id}")
    body = page.locator(".msg.reported .body").inner_text()
    assert PAYLOAD in body  # shown as the text it is
    assert page.locator(".msg.reported .body img, .msg.reported .body script").count() == 0
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert dialogs == []
    # the only refusals are the sandbox's; the CSP refused nothing on the pages themselves
    assert all("sandboxed" in error for error in browsing.console_errors[errors_before:])


def test_api_docs_render_with_no_network(live_server: LiveServer, browsing: Browsing) -> None:
    errors_before = len(browsing.console_errors)
    page = browsing.new_page()
    page.goto(f"{live_server.url}/schema")
    page.locator(".swagger-ui .info .title").wait_for(timeout=15000)
    assert "Messaging portal API" in page.locator(".swagger-ui .info .title").inner_text()
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() >= 10
    page.screenshot(path=str(ARTIFACTS / "schema.png"))
    assert browsing.foreign_requests() == []
    assert browsing.console_errors[errors_before:] == []  # no CSP refusal, no failed load


def test_every_role_sees_the_queue(live_server: LiveServer, browsing: Browsing) -> None:
    live = live_server
    page = browsing.new_page()
    for role in ROLES:
        account = live.run(_staff, role, f"Any {role}")
        page.context.clear_cookies()
        sign_in(page, live, account)
        assert page.locator(".topbar .role").inner_text() == role
        assert (page.locator("a[href='/mod/staff']").count() == 1) == (role == "admin")
        compliance_link = page.locator(".topbar a[href='/mod/compliance']").count() == 1
        assert compliance_link == (role in ("compliance", "admin"))
        if role == "admin":
            page.goto(f"{live.url}/mod/overview")
            page.screenshot(path=str(ARTIFACTS / "overview.png"))
            page.goto(f"{live.url}/mod/staff")
            page.screenshot(path=str(ARTIFACTS / "staff.png"))


def test_usable_with_scripts_off(live_server: LiveServer, browsing: Browsing) -> None:
    live = live_server
    moderator = live.run(_staff, "moderator", "Nora Noscript")
    item = live.run(_reported, live.settings, "Plain forms still work", ("inappropriate_content",))
    page = browsing.new_page(scripts=False)
    sign_in(page, live, moderator, then=f"/mod/reports/{item.message.id}")
    page.check("input[name=policy][value=harassment]")
    page.fill("#internal-note", "explicit content")
    page.click("text=Remove message")
    page.wait_for_url(re.compile(r".*done=removed"))
    assert _statuses(live, item.message.id) == {"actioned"}
    page.goto(f"{live.url}/mod?status=decided&reason=inappropriate_content")
    assert page.locator(f"tr[data-message-id='{item.message.id}']").is_visible()


def test_download_a_verifiable_report_and_place_a_hold(
    live_server: LiveServer, browsing: Browsing
) -> None:
    """From a reported message's page (boosted by htmx) the JSON download is saved as a file
    that verifies; the thread's compliance page places a hold."""
    live = live_server
    officer = live.run(_staff, "compliance", "Cora Counsel")
    item = live.run(_reported, live.settings, "Keep this for the charge", ("discrimination",))
    page = browsing.new_page()
    sign_in(page, live, officer, then=f"/mod/reports/{item.message.id}")
    with page.expect_download() as downloading:
        page.click("form.download button[value=json]")
    download = downloading.value
    thread_id = item.message.thread_id
    assert download.suggested_filename == f"audit-thread-{thread_id}.json"
    assert verify_export(Path(download.path()).read_bytes()).events > 0
    assert page.url.endswith(f"/mod/reports/{item.message.id}")  # the page stayed
    page.screenshot(path=str(ARTIFACTS / "compliance-report.png"), full_page=True)

    page.click("#thread-compliance-link")
    page.wait_for_url(f"{live.url}/mod/compliance/threads/{thread_id}")
    assert "Cora Counsel" in page.locator("table.exports").inner_text()
    page.fill(".hold-form input[name=case_reference]", "EEOC-77")
    page.fill(".hold-form input[name=reason]", "charge filed")
    page.click(".hold-form button[type=submit]")
    page.wait_for_url(re.compile(r".*done=placed"))
    assert "EEOC-77" in page.locator("table.holds").inner_text()
    page.screenshot(path=str(ARTIFACTS / "compliance-thread.png"), full_page=True)
    page.goto(f"{live.url}/mod/compliance/holds")
    page.screenshot(path=str(ARTIFACTS / "compliance-holds.png"), full_page=True)
