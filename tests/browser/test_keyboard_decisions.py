"""Every decision by keyboard, in headless Chromium against a live server (both databases):
warn, suspend for 7 days (s, 7, then a confirming key), remove (a confirming key) and undo it
(the message restored, both actions in the audit log), escalate with a reason and, as
compliance, send it back with a note. Nothing here clicks: only keys. The keys overlay and the
undo notice are saved as screenshots."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import AuditEvent, Message, ModerationDecision, StaffUser, User
from portal.services import moderation, moderation_queue
from tests.browser.conftest import ARTIFACTS, Browsing, LiveServer
from tests.browser.test_dashboard import _reported, _staff, _statuses, sign_in


async def _clear_queue(session: AsyncSession, admin: StaffUser) -> None:
    """Dismisses whatever earlier tests of the module left open, so that "next" is known."""
    for status in ("open", "escalated"):
        page = await moderation_queue.queue_page(session, viewer=admin, status=status, per_page=200)
        ids = [item.message_id for item in page.items]
        if ids:
            await moderation.bulk_decide(session, ids, "dismiss", actor=admin)


async def _decisions(session: AsyncSession, message_id: uuid.UUID) -> list[ModerationDecision]:
    async with read_transaction(session):
        found = await session.scalars(
            select(ModerationDecision)
            .where(ModerationDecision.message_id == message_id)
            .order_by(ModerationDecision.created_at)
            .execution_options(populate_existing=True)
        )
        return list(found.all())


async def _actions(session: AsyncSession, message_id: uuid.UUID) -> list[str]:
    async with read_transaction(session):
        events = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_id == message_id)
            .order_by(AuditEvent.position)
        )
        return [e.action for e in events]


async def _fresh(session: AsyncSession, model: type, id_: uuid.UUID) -> Any:
    async with read_transaction(session):
        return await session.get(model, id_, populate_existing=True)


def _lands(page: Any, done: str, message_id: uuid.UUID | None = None) -> uuid.UUID:
    """Waits for a report page saying ``done`` (on ``message_id`` when given); its item."""
    item = str(message_id) if message_id else "[0-9a-f-]+"
    pattern = rf"/mod/reports/{item}\?done={done}(&|$)"
    page.wait_for_function("p => new RegExp(p).test(location.href)", arg=pattern)
    page.wait_for_load_state("networkidle")
    landed = re.search(r"/mod/reports/([0-9a-f-]+)", page.url)
    assert landed is not None
    page.locator(f".report-grid[data-message-id='{landed.group(1)}']").wait_for()
    return uuid.UUID(landed.group(1))


def test_warn_suspend_remove_and_undo_by_keyboard(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    live.run(_clear_queue, live.run(_staff, "admin", "Ada Clearer"))
    moderator = live.run(_staff, "moderator", "Kira Keys")
    rude = live.run(
        _reported, live.settings, "You are useless", ("harassment",), sender_name="Rudy Rude"
    )
    spam = live.run(
        _reported, live.settings, "Buy followers now", ("spam", "spam"), sender_name="Sam Spam"
    )
    scam = live.run(
        _reported, live.settings, "Pay the fee first", ("scam",), sender_name="Fee Fraudster"
    )
    items = {r.message.id: r for r in (rude, spam, scam)}
    page = browsing.new_page()
    sign_in(page, live, moderator, then=f"/mod/reports/{rude.message.id}")

    page.keyboard.press("?")
    assert page.locator("#keys-help").is_visible()
    assert "suspend the sender for 1, 3 or 7 days" in page.locator("#keys-help").inner_text()
    page.screenshot(path=str(ARTIFACTS / "report-keys-overlay.png"))
    page.keyboard.press("Escape")
    assert not page.locator("#keys-help").is_visible()

    # warn: a policy, the internal note, out of the field, w; the next item opens
    page.keyboard.press("1")
    page.keyboard.press("r")
    page.keyboard.type("insults the candidate")
    page.keyboard.press("Escape")
    page.keyboard.press("w")
    second = items[_lands(page, "warned")]
    assert second is not rude
    [warned] = live.run(_decisions, rude.message.id)
    assert (warned.kind, warned.user_id, warned.decided_by_id) == (
        "warned",
        rude.sender.id,
        moderator.id,
    )
    assert "Done: warned Rudy Rude" in page.locator("#undo-notice").inner_text()
    assert page.locator("#undo-btn").is_visible()
    page.screenshot(path=str(ARTIFACTS / "undo-notice.png"))

    # suspend for 7 days: s, then 7, then the confirming key
    page.keyboard.press("1")
    page.keyboard.press("r")
    page.keyboard.type("repeated abuse")
    page.keyboard.press("Escape")
    page.keyboard.press("s")
    prompt = page.locator("#key-prompt")
    assert prompt.inner_text().startswith("Suspend for how long?")
    page.keyboard.press("7")  # a length, not the seventh policy
    assert prompt.inner_text().startswith("Suspend the sender for 7 days?")
    page.screenshot(path=str(ARTIFACTS / "suspend-prompt.png"))
    assert live.run(_decisions, second.message.id) == []  # nothing yet: it asks first
    page.keyboard.press("y")
    third = items[_lands(page, "suspended")]
    assert third not in (rude, second)
    [suspended] = live.run(_decisions, second.message.id)
    assert (suspended.kind, suspended.days, suspended.user_id) == (
        "suspended",
        7,
        second.sender.id,
    )
    sender = live.run(_fresh, User, second.sender.id)
    assert sender.is_suspended
    assert sender.suspended_until == suspended.created_at + timedelta(days=7)
    assert (
        f"suspended {second.sender.display_name} for 7 days"
        in page.locator("#undo-notice").inner_text()
    )

    # remove (x asks, Enter confirms): the queue is empty, so this item again, with its undo
    page.keyboard.press("2")
    page.keyboard.press("r")
    page.keyboard.type("advance fee")
    page.keyboard.press("Escape")
    page.keyboard.press("x")
    assert prompt.inner_text().startswith("Remove this message?")
    page.keyboard.press("Enter")
    _lands(page, "removed", third.message.id)
    assert live.run(_fresh, Message, third.message.id).is_removed
    assert "The queue is empty" in page.locator("#undo-notice").inner_text()

    page.keyboard.press("Control+z")  # undo
    _lands(page, "undone", third.message.id)
    assert not live.run(_fresh, Message, third.message.id).is_removed
    assert _statuses(live, third.message.id) == {"open"}
    assert "Undone" in page.locator(".flash.ok").inner_text()
    actions = live.run(_actions, third.message.id)
    assert actions[-3:] == ["message.removed", "message.restored", "moderation.undone"]
    removal, reversal = live.run(_decisions, third.message.id)
    assert removal.overturned == "overturned" and reversal.kind == "restored"
    # the warning and the suspension stand
    assert _statuses(live, rude.message.id) == {"actioned"}
    assert _statuses(live, second.message.id) == {"actioned"}


def test_escalate_with_a_reason_and_send_back(live_server: LiveServer, browsing: Browsing) -> None:
    live = live_server
    live.run(_clear_queue, live.run(_staff, "admin", "Ada Clearer Two"))
    moderator = live.run(_staff, "moderator", "Eli Escalate")
    officer = live.run(_staff, "compliance", "Cora Compliance")
    item = live.run(
        _reported, live.settings, "I know where you live", ("harassment",), sender_name="Tom Threat"
    )
    page = browsing.new_page()
    sign_in(page, live, moderator, then=f"/mod/reports/{item.message.id}")
    page.keyboard.press("e")
    page.keyboard.press("Enter")  # no reason yet: the browser asks for one, nothing is sent
    assert _statuses(live, item.message.id) == {"open"}
    page.keyboard.type("a threat of violence: legal to review")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*done=escalated"))
    assert _statuses(live, item.message.id) == {"escalated"}
    page.context.close()

    page = browsing.new_page()
    sign_in(page, live, officer, then=f"/mod/reports/{item.message.id}")
    page.keyboard.press("b")
    page.keyboard.type("not criminal; moderate it as harassment")
    page.keyboard.press("Control+Enter")
    _lands(page, "sent_back", item.message.id)
    assert "Sent back to moderation" in page.locator(".flash.ok").inner_text()
    assert _statuses(live, item.message.id) == {"open"}
    actions = live.run(_actions, item.message.id)
    assert actions[-3:] == ["moderation.escalated", "moderation.note_added", "moderation.sent_back"]
    assert "Sent back to moderation: not criminal" in page.locator(".note-item").inner_text()
    page.context.close()
