"""Account-level triage in a real browser, on both databases: a moderator groups the queue by
sender and acts on all 30 open reports of a spammer: every message removed (each its own audited
decision) and the sender suspended once, read back from the database, not the page."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import AuditEvent, Message, StaffUser, User
from portal.models.base import utcnow
from portal.settings import Settings
from tests.browser.accessibility import serious_violations
from tests.browser.conftest import ARTIFACTS, Browsing, LiveServer
from tests.browser.test_dashboard import sign_in
from tests.portal.moderation_support import report, send, staff, user
from tests.portal.queue_support import flood


@dataclass(frozen=True)
class Flooded:
    moderator: StaffUser
    spammer: User
    first_spam: uuid.UUID


async def _flooded_queue(session: AsyncSession, settings: Settings) -> Flooded:
    moderator = await staff(session, "moderator", "Mona Moderator")
    spammer = await user(session, "employer", "Sam Spammer")
    target = await user(session, "candidate", "Cody Candidate")
    spam = await flood(session, settings, spammer, target, 30, at=utcnow() - timedelta(hours=30))
    # a few other senders, for a queue that looks like a working day
    for name, reason, body in (
        ("Bea Bully", "harassment", "I know where you live"),
        ("Dan Biased", "discrimination", "We do not hire people your age"),
        ("Fee Fraudster", "scam", "Pay the 50 euro training fee first"),
    ):
        sender = await user(session, "employer", name)
        message = await send(session, settings, sender, target, body)
        await report(session, message, target, reason, at=utcnow() - timedelta(hours=2))
        witness = await user(session, "candidate", f"Witness of {name.split()[0]}")
        await report(session, message, witness, reason, at=utcnow() - timedelta(hours=1))
    return Flooded(moderator, spammer, spam[0].id)


async def _outcome(session: AsyncSession, sender_id: uuid.UUID) -> tuple[int, int, int, bool]:
    """Removed messages of the sender, removal events on them, suspensions, suspended now."""
    async with read_transaction(session):
        ids = select(Message.id).where(Message.sender_id == sender_id)
        removed = await session.scalar(
            select(func.count()).where(Message.sender_id == sender_id, Message.is_removed)
        )
        removal_events = await session.scalar(
            select(func.count()).where(
                AuditEvent.action == "message.removed", AuditEvent.subject_id.in_(ids)
            )
        )
        suspensions = await session.scalar(
            select(func.count()).where(
                AuditEvent.action == "user.suspended", AuditEvent.subject_id == sender_id
            )
        )
        sender = await session.get(User, sender_id, populate_existing=True)
    assert sender is not None
    return removed or 0, removal_events or 0, suspensions or 0, sender.is_suspended


def test_group_by_sender_and_act_on_all_30_reports(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    world = live.run(_flooded_queue, live.settings)
    page = browsing.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live, world.moderator)
    # a spam message's report page says how much else is open against its sender
    page.goto(f"{live.url}/mod/reports/{world.first_spam}")
    other = page.locator("#other-open-reports")
    assert other.inner_text() == "29 other open reports against this sender"
    other.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "report-sender-open-reports.png"))
    page.goto(f"{live.url}/mod")
    page.click("#group-sender")
    page.wait_for_url(re.compile(r".*group=sender"))
    page.locator("#queue-total", has_text="4 senders").wait_for()
    row = page.locator(f'tr[data-sender-id="{world.spammer.id}"]')
    assert page.locator("tr[data-sender-id]").first.get_attribute("data-sender-id") == str(
        world.spammer.id
    )  # the flood heads the grouped queue
    assert "30" in row.locator("td.num").first.inner_text()

    row.locator("summary").click()
    form = row.locator("form.act-all-form")
    form.locator("select[name=policy]").select_option("spam")
    form.locator("input[name=reason]").fill("Spam run: 30 copies of the same offer")
    form.locator("select[name=days]").select_option("7")
    page.screenshot(path=str(ARTIFACTS / "queue-grouped.png"), full_page=True)
    assert serious_violations(page) == []
    form.locator("button[value=remove_and_suspend]").click()
    notice = page.locator("#act-result")
    notice.wait_for()
    assert "Sam Spammer: 30 items removed, and suspended." in notice.inner_text()
    assert page.locator(f'tr[data-sender-id="{world.spammer.id}"]').count() == 0
    page.locator("#queue-total", has_text="3 senders").wait_for()
    page.screenshot(path=str(ARTIFACTS / "queue-grouped-acted.png"), full_page=True)
    assert live.run(_outcome, world.spammer.id) == (30, 30, 1, True)
    # back to one row per message: the threat first, its priority explained, its age on target
    page.click("#group-items")
    page.wait_for_url(re.compile(r".*/mod\?status=open"))
    first = page.locator("#queue-rows tr[data-message-id]").first
    assert "harassment" in first.locator("td.reasons").inner_text()
    assert "most severe: harassment" in (first.locator("td.pri").get_attribute("title") or "")
    assert "/ 1h" in first.locator("td.age").inner_text()
    first.locator("details.assign summary").click()
    page.screenshot(path=str(ARTIFACTS / "queue-items-priority.png"), full_page=True)
    assert serious_violations(page) == []
    assert browsing.foreign_requests() == []
