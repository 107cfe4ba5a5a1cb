"""Search and a thread's timeline in Chromium, on both databases: a moderator finds a person and
a message as they type, opens the thread, reads its messages (which the audit log records, once)
and sees the read on the thread's own timeline; axe-core finds nothing critical or serious on
either page. Screenshots: var/test-artifacts/search-results.png, thread-timeline.png."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import Message, StaffUser, User
from portal.services import moderation
from portal.services.thread_timeline import READ_ACTION
from portal.settings import Settings
from tests.browser.accessibility import serious_violations
from tests.browser.conftest import ARTIFACTS, Browsing, LiveServer
from tests.browser.test_dashboard import sign_in
from tests.portal.moderation_support import audit_count, report, send, staff, user


@dataclass
class Conversation:
    moderator: StaffUser
    sender: User
    reported: Message


async def _conversation(session: AsyncSession, settings: Settings) -> Conversation:
    sender = await user(session, "employer", "Erin Quartermain")
    candidate = await user(session, "candidate", "Cody Candidate")
    await send(session, settings, sender, candidate, "Thanks for applying to the warehouse role.")
    await send(session, settings, candidate, sender, "Happy to come in on Tuesday.")
    reported = await send(
        session, settings, sender, candidate, "Quartermain payroll needs your bank password now"
    )
    removed = await send(session, settings, sender, candidate, "Last warning, pay the fee")
    await report(session, reported, candidate, "scam", note="asks for my password")
    await report(session, removed, candidate, "scam")
    moderator = await staff(session, "moderator", "Mona Moderator")
    await moderation.remove_message(
        session, removed.id, actor=moderator, reason="fee scam", grounds=moderation.Grounds("scam")
    )
    return Conversation(await staff(session, "moderator", "Sam Searcher"), sender, reported)


def _no_serious_violations(page: Any, where: str) -> None:
    violations = serious_violations(page)
    assert violations == [], f"{where}: {violations}"


def test_find_a_person_and_a_message_then_read_the_thread(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    world: Conversation = live.run(_conversation, live.settings)
    page = browsing.new_page()
    sign_in(page, live, world.moderator, then="/mod/search")
    box = page.locator("#search-q")
    box.fill("quartermain")  # htmx asks as one types
    page.locator(f'#search-users a[href="/mod/users/{world.sender.id}"]').wait_for()
    message_row = page.locator("#search-messages td.excerpt", has_text="bank password")
    message_row.wait_for()
    page.locator("#search-threads a").first.wait_for()
    assert "q=quartermain" in page.url  # the address says what was searched
    page.screenshot(path=str(ARTIFACTS / "search-results.png"), full_page=True)
    _no_serious_violations(page, "/mod/search")

    # the message's row opens its place in the thread
    page.locator("#search-messages a", has_text="thread").first.click()
    page.wait_for_url(re.compile(rf".*/mod/threads/{world.reported.thread_id}.*"))
    page.locator("#chain-status .tag.verified").wait_for()
    assert page.locator(".thread-timeline", has_text="bank password").count() == 0
    page.click("#read-messages")
    page.locator(".thread-timeline .body.plain", has_text="bank password").wait_for()
    reads = page.locator(".entry-staff_read", has_text="Sam Searcher")
    reads.wait_for()
    timeline = page.locator(".thread-timeline")
    assert timeline.locator(".tag", has_text="removed").count() >= 1
    assert timeline.locator(".entry-report").count() == 2
    assert timeline.locator(".entry-decision").count() == 1
    page.reload()  # reading again within the hour records nothing more
    page.locator(".thread-timeline .body.plain", has_text="bank password").wait_for()
    assert reads.count() == 1
    assert live.run(audit_count, READ_ACTION) == 1
    page.screenshot(path=str(ARTIFACTS / "thread-timeline.png"), full_page=True)
    _no_serious_violations(page, "/mod/threads/…")
    assert browsing.foreign_requests() == []


def test_a_hold_takes_a_person_by_name_from_the_picker(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    world: Conversation = live.run(_conversation, live.settings)
    officer = live.run(staff, "compliance", "Cleo Compliance")
    page = browsing.new_page()
    sign_in(page, live, officer, then="/mod/compliance/holds")
    page.locator("input[type=text][name=user_id]").fill("quarterm")  # htmx asks as one types
    choice = page.locator(f'#user_id-choices input[type=radio][value="{world.sender.id}"]')
    choice.wait_for()
    choice.check()
    page.fill("input[name=case_reference]", "EEOC-77")
    page.fill("input[name=reason]", "Charge filed")
    page.screenshot(path=str(ARTIFACTS / "hold-picker.png"), full_page=True)
    _no_serious_violations(page, "/mod/compliance/holds with the picker open")
    page.click("#hold-form button[type=submit]")
    page.wait_for_url(re.compile(r".*done=placed.*"))
    row = page.locator("table.holds tr", has_text="EEOC-77")
    row.wait_for()
    assert "every thread of Erin Quartermain" in row.inner_text()
    # the audit event panel names who placed it, and its last column is not clipped
    page.goto(f"{live.url}/admin/audit-event/list")
    placed = page.locator("table tbody tr", has_text="hold.placed").first
    placed.wait_for()
    assert "Cleo Compliance" in placed.inner_text() and officer.email in placed.inner_text()
    last = page.locator("table thead th").last.bounding_box()
    card = page.locator("table").locator("xpath=ancestor::div[contains(@class, 'card')][1]")
    frame = card.bounding_box()
    assert last is not None and frame is not None
    assert last["x"] + last["width"] <= frame["x"] + frame["width"]
    page.screenshot(path=str(ARTIFACTS / "audit-events-panel.png"), full_page=True)
