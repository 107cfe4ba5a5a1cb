"""Keyboard triage never carries a decision over to the next item (issue 15, C).

A moderator decided one report with Enter in a reason field; the next report opened with the
cursor in the same field, the next keys were typed into it and the next Enter suspended a
different sender. Here, in headless Chromium against a live server: decide with Enter in each
decision form's text field, then type a word of keys that are no shortcut and press Enter; exactly
one decision is recorded (read from the audit log, not the page), the next report's fields are
empty and focus is on the page's heading, in no field. And shortcut keys typed while a field has
focus go into the field and do nothing else.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import AuditEvent, ModeratorNote, StaffUser, User
from portal.services import moderation, moderation_queue
from portal.services.moderation_types import DECISION_ACTIONS
from tests.browser.conftest import ARTIFACTS, FRONT_END_ONLY, Browsing, LiveServer
from tests.browser.test_dashboard import Reported, _reported, _staff, _statuses, sign_in

pytestmark = FRONT_END_ONLY

# everything staff can do to a report from its page, decisions and the rest
REPORT_ACTIONS = (*DECISION_ACTIONS, "moderation.claimed", "moderation.unclaimed")
REPORT_FIELDS = (
    "#internal-note",
    "#restrict-public-note",
    "#restrict-form textarea[name=explanation]",
    "#dismiss-public-note",
    "#note-body",
)
SHORTCUTS = "jkcdexrnuwsbmiy?o19"  # every key the dashboard binds, typed as text

FOCUS = """() => {
  const a = document.activeElement;
  return {tag: a ? a.tagName : null, id: a ? a.id : null,
          editable: !!(a && a.isContentEditable), type: a && a.type ? a.type : null};
}"""


@dataclass(frozen=True)
class Event:
    action: str
    message_id: str | None


async def _events_after(session: AsyncSession, first: int) -> list[Event]:
    """The report actions recorded after the first ``first`` of them, oldest first."""
    async with read_transaction(session):
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.in_(REPORT_ACTIONS))
                .order_by(AuditEvent.occurred_at, AuditEvent.id)
                .offset(first)
            )
        ).all()
    return [
        Event(
            e.action,
            str(e.subject_id) if e.subject_type == "message" else e.details.get("message_id"),
        )
        for e in events
    ]


async def _count_events(session: AsyncSession) -> int:
    async with read_transaction(session):
        query = select(func.count()).where(AuditEvent.action.in_(REPORT_ACTIONS))
        return await session.scalar(query) or 0


async def _suspended(session: AsyncSession, user_id: uuid.UUID) -> bool:
    async with read_transaction(session):
        found = await session.get(User, user_id, populate_existing=True)
        assert found is not None
        return bool(found.is_suspended)


async def _notes_on(session: AsyncSession, message_id: uuid.UUID) -> list[str]:
    async with read_transaction(session):
        query = select(ModeratorNote.body).where(ModeratorNote.message_id == message_id)
        return list((await session.scalars(query)).all())


async def _clear_queue(session: AsyncSession, admin: StaffUser) -> None:
    """Dismisses whatever earlier tests of the module left open, so that "next" is known."""
    page = await moderation_queue.queue_page(session, viewer=admin, per_page=200)
    ids = [item.message_id for item in page.items]
    if ids:
        await moderation.bulk_decide(session, ids, "dismiss", actor=admin)


def _two_senders(live: LiveServer) -> tuple[Reported, Reported]:
    """Two reported messages from two different senders; the first comes first in the queue."""
    live.run(_clear_queue, live.run(_staff, "admin", "Clara Clearer"))
    first = live.run(
        _reported,
        live.settings,
        "Send me your bank details",
        ("harassment", "harassment", "scam"),
        sender_name="First Sender",
    )
    second = live.run(
        _reported, live.settings, "Cheap followers", ("spam",), sender_name="Second Sender"
    )
    return first, second


def _focus(page: Any) -> dict[str, Any]:
    return page.evaluate(FOCUS)


def _assert_focus_on_the_page(page: Any) -> None:
    focused = _focus(page)
    assert focused["tag"] not in ("INPUT", "TEXTAREA", "SELECT"), focused
    assert not focused["editable"], focused
    assert focused["tag"] == "H1", focused  # the new page's heading, announced to screen readers


def _settled(page: Any) -> None:
    """No request on its way (htmx requests included) for half a second."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(200)


# the restrictions of a report page: the button that decides (None: Enter in the internal note,
# which is the form's first button, remove) and the decision word
DECISION_FORMS = {
    "remove": (None, "removed"),
    "warn": ("#warn-btn", "warned"),
    "suspend": ("#suspend-btn", "suspended"),
}


@pytest.mark.parametrize("form", list(DECISION_FORMS))
def test_enter_in_a_reason_field_decides_once_and_the_next_report_starts_clean(
    live_server: LiveServer, browsing: Browsing, form: str
) -> None:
    live = live_server
    button, done = DECISION_FORMS[form]
    moderator = live.run(_staff, "moderator", f"Kai Keys {form}")
    first, second = _two_senders(live)
    page = browsing.new_page()
    sign_in(page, live, moderator, then=f"/mod/reports/{first.message.id}")
    before = live.run(_count_events)

    page.keyboard.press("4")  # the fourth policy
    page.keyboard.press("r")
    assert _focus(page)["id"] == "internal-note"
    page.keyboard.type("Spam")
    if button:
        page.focus(button)
    page.keyboard.press("Enter")  # decide (a removal asks first), and the next report opens
    if not button:
        assert page.locator("#key-prompt").inner_text().startswith("Remove this message?")
        page.keyboard.press("Enter")  # the confirming key
    page.wait_for_url(
        re.compile(rf".*/mod/reports/{second.message.id}\?done={done}&undo=[0-9a-f-]+$")
    )
    page.locator(f".report-grid[data-message-id='{second.message.id}']").wait_for()
    _settled(page)
    focus_on_arrival = _focus(page)
    fields_on_arrival = {selector: page.input_value(selector) for selector in REPORT_FIELDS}
    page.screenshot(path=str(ARTIFACTS / f"after-{form}.png"), full_page=True)

    page.keyboard.type("zzz")  # no shortcut: nothing at all may happen
    page.keyboard.press("Enter")
    _settled(page)

    events = live.run(_events_after, before)
    decisions = [e for e in events if e.action in DECISION_ACTIONS]
    assert [d.message_id for d in decisions] == [str(first.message.id)], events
    assert _statuses(live, first.message.id) == {"actioned"}
    assert _statuses(live, second.message.id) == {"open"}
    assert live.run(_suspended, first.sender.id) == (form == "suspend")
    assert not live.run(_suspended, second.sender.id)
    assert re.search(rf"/mod/reports/{second.message.id}\?done={done}&undo=[0-9a-f-]+$", page.url)
    assert fields_on_arrival == dict.fromkeys(REPORT_FIELDS, "")
    assert focus_on_arrival["tag"] == "H1", focus_on_arrival
    for selector in REPORT_FIELDS:
        assert page.input_value(selector) == "", selector
    _assert_focus_on_the_page(page)


def test_enter_in_the_bulk_reason_decides_once_and_leaves_the_field(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    moderator = live.run(_staff, "moderator", "Bo Bulkkeys")
    first, second = _two_senders(live)
    page = browsing.new_page()
    sign_in(page, live, moderator)
    before = live.run(_count_events)
    spam = page.eval_on_selector(
        "#bulk-policy", "s => [...s.options].findIndex((o) => o.value === 'spam')"
    )
    page.keyboard.press(str(spam))  # the policy's number key picks it for the bulk removal
    assert page.input_value("#bulk-policy") == "spam"
    page.keyboard.press("j")
    assert page.locator("#queue-rows tr.current").get_attribute("data-message-id") == str(
        first.message.id
    )
    page.keyboard.press("x")
    page.keyboard.press("r")  # focuses the bulk reason
    assert _focus(page)["id"] == "bulk-reason"
    page.keyboard.type("Spam")
    page.keyboard.press("Enter")  # the form's first button: remove the selected item
    page.locator("#bulk-result").wait_for()
    _settled(page)
    focus_on_arrival = _focus(page)
    assert "Remove: 1 item decided" in page.locator("#bulk-result").inner_text()
    assert page.input_value("#bulk-reason") == ""
    assert page.locator("#queue-rows input[name=message_id]:checked").count() == 0
    assert page.locator("#queue-rows tr.current").count() == 0

    page.keyboard.type("zzz")
    page.keyboard.press("Enter")  # no current row: opens nothing, decides nothing
    _settled(page)
    decisions = [e for e in live.run(_events_after, before) if e.action in DECISION_ACTIONS]
    assert decisions == [Event("message.removed", str(first.message.id))]
    assert _statuses(live, second.message.id) == {"open"}
    assert focus_on_arrival["tag"] == "H1", focus_on_arrival
    assert page.locator("#decision-error, .flash.error").count() == 0
    assert page.input_value("#bulk-reason") == ""
    _assert_focus_on_the_page(page)


def test_a_note_stays_on_its_report_and_leaves_no_text_behind(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    moderator = live.run(_staff, "moderator", "Nia Notes")
    first, second = _two_senders(live)
    page = browsing.new_page()
    sign_in(page, live, moderator, then=f"/mod/reports/{first.message.id}")
    before = live.run(_count_events)
    page.keyboard.press("n")
    assert _focus(page)["id"] == "note-body"
    page.keyboard.type("asked the recipient for the earlier messages")
    page.keyboard.press("Tab")  # to "Add note"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*/mod/reports/{first.message.id}\?done=noted$"))
    _settled(page)
    _assert_focus_on_the_page(page)
    assert page.input_value("#note-body") == ""
    assert "asked the recipient" in page.locator(".note-item").inner_text()

    page.keyboard.type("zzz")
    page.keyboard.press("Enter")
    _settled(page)
    assert live.run(_notes_on, first.message.id) == ["asked the recipient for the earlier messages"]
    assert live.run(_notes_on, second.message.id) == []
    assert live.run(_events_after, before) == []  # a note decides nothing
    page.keyboard.press("j")  # the next item shows no note of the first
    page.wait_for_url(re.compile(rf".*/mod/reports/{second.message.id}$"))
    assert page.locator(".note-item").count() == 0
    assert page.input_value("#note-body") == ""


def test_shortcut_keys_in_a_field_are_only_text(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    moderator = live.run(_staff, "moderator", "Tess Typist")
    first, _ = _two_senders(live)
    page = browsing.new_page()
    sign_in(page, live, moderator, then=f"/mod/reports/{first.message.id}")
    before = live.run(_count_events)
    url = page.url

    for selector in REPORT_FIELDS:
        page.click(selector)
        page.keyboard.type(SHORTCUTS)
        page.keyboard.press("Escape")  # leaves the field, keeps its text
        assert page.input_value(selector) == SHORTCUTS, selector
    page.focus("#suspend-days")
    for key in "jkcdexrnu1":
        page.keyboard.press(key)
    page.evaluate(
        """() => {
          const box = document.createElement("div");
          box.id = "editable"; box.contentEditable = "true"; box.style.minHeight = "2em";
          document.querySelector(".context").appendChild(box);
        }"""
    )
    page.focus("#editable")
    page.keyboard.type(SHORTCUTS)
    assert page.locator("#editable").inner_text() == SHORTCUTS
    _settled(page)

    assert page.url == url
    assert not page.locator("#keys-help").is_visible()
    assert live.run(_events_after, before) == []
    assert _statuses(live, first.message.id) == {"open"}

    page.goto(f"{live.url}/mod")
    page.click("#bulk-reason")
    page.keyboard.type(SHORTCUTS)
    _settled(page)
    assert page.input_value("#bulk-reason") == SHORTCUTS
    assert page.url == f"{live.url}/mod"
    assert page.locator("#queue-rows tr.current, #queue-rows tr.selected").count() == 0
    assert live.run(_events_after, before) == []


def test_text_typed_on_one_report_is_gone_when_the_browser_shows_it_again(
    live_server: LiveServer, browsing: Browsing
) -> None:
    """Back, forward and reload: the browser would restore half-typed reasons into the fields."""
    live = live_server
    moderator = live.run(_staff, "moderator", "Rey Restore")
    first, second = _two_senders(live)
    page = browsing.new_page()
    sign_in(page, live, moderator, then=f"/mod/reports/{first.message.id}")
    for selector in REPORT_FIELDS:
        page.fill(selector, "half typed")
    page.goto(f"{live.url}/mod/reports/{second.message.id}")
    page.go_back()
    page.locator(f".report-grid[data-message-id='{first.message.id}']").wait_for()
    page.wait_for_load_state("load")
    for selector in REPORT_FIELDS:
        assert page.input_value(selector) == "", selector
    page.fill("#internal-note", "half typed")
    page.reload()
    page.wait_for_load_state("load")
    assert page.input_value("#internal-note") == ""


def test_keys_wait_while_a_decision_is_on_its_way(
    live_server: LiveServer, browsing: Browsing
) -> None:
    """Enter pressed twice, or a shortcut pressed before the next item has opened, would act on
    the page that is being replaced: while the decision is on its way, keys do nothing."""
    live = live_server
    moderator = live.run(_staff, "moderator", "Pat Patient")
    first, second = _two_senders(live)
    page = browsing.new_page()
    sign_in(page, live, moderator, then=f"/mod/reports/{first.message.id}")
    before = live.run(_count_events)
    held: list[Any] = []
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.route("**/mod/reports/*/remove", lambda route: held.append(route))  # held until released

    page.keyboard.press("1")
    page.keyboard.press("r")
    page.keyboard.type("Spam")
    page.keyboard.press("Enter")  # asks to confirm the removal
    page.keyboard.press("Enter")  # confirms
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    page.keyboard.press("Enter")  # again, impatiently
    page.keyboard.press("Escape")  # out of the field,
    page.keyboard.press("d")  # and shortcuts meant for the next item
    page.keyboard.press("e")
    page.wait_for_timeout(300)
    held[0].continue_()
    page.wait_for_url(
        re.compile(rf".*/mod/reports/{second.message.id}\?done=removed&undo=[0-9a-f-]+$"),
        timeout=10_000,
    )
    _settled(page)

    assert [url for url in posts if "/mod/reports/" in url] == [
        f"{live.url}/mod/reports/{first.message.id}/remove"
    ]
    decisions = [e for e in live.run(_events_after, before) if e.action in DECISION_ACTIONS]
    assert decisions == [Event("message.removed", str(first.message.id))]
    assert _statuses(live, second.message.id) == {"open"}
    assert page.locator("#decision-error").count() == 0
    _assert_focus_on_the_page(page)
