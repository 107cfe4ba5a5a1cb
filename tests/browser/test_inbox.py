"""The reference inbox (/inbox) end to end in Chromium, on both databases: two users in two
browser contexts, talking only to /api/v1 and its event stream (issue 22).

Data the tests only need to exist (earlier messages, a moderator's decision) is written through
the services; everything a user does goes through the page.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.sync_api import expect
from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import Message, StaffUser, User
from portal.services import moderation
from portal.settings import Settings
from portal.tokens import issue_user_token
from tests.browser.accessibility import serious_violations
from tests.browser.conftest import ARTIFACTS, Browsing, LiveServer
from tests.portal.moderation_support import send, staff, user

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 375, "height": 740}


# Keeps the page's EventSources within reach of the test (a test-only wrapper, installed through
# the DevTools protocol, which the page's CSP does not govern).
RECORD_EVENT_SOURCES = """
window.__sources = [];
window.__events = 0;
window.EventSource = class extends window.EventSource {
  constructor(...args) {
    super(...args);
    window.__sources.push(this);
    this.addEventListener("unread.changed", () => { window.__events += 1; });
  }
};
"""
# A dropped stream as the page sees one it may not retry (an expired ticket): closed, then error.
DROP_STREAM = """() => {
  const source = window.__sources.at(-1);
  source.close();
  source.dispatchEvent(new Event("error"));
}"""


def inbox(
    browsing: Browsing,
    live: LiveServer,
    who: User,
    viewport: dict[str, int],
    *,
    record: bool = False,
) -> Any:
    """A browser context of its own, signed in with the user's token through the form."""
    page = browsing.new_page()
    if record:
        page.add_init_script(RECORD_EVENT_SOURCES)
    page.set_viewport_size(viewport)
    page.goto(f"{live.url}/inbox")
    page.fill("#token", issue_user_token(live.settings, who.id))
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#live-status")).to_have_text("Live")
    return page


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def assert_accessible(page: Any, what: str) -> None:
    assert serious_violations(page) == [], what


async def _pair_with_message(
    session: AsyncSession, settings: Settings, body: str, *, messages: int = 1
) -> tuple[User, User, Message]:
    employer = await user(session, "employer", f"Employer {uuid.uuid4().hex[:4]}")
    candidate = await user(session, "candidate", f"Candidate {uuid.uuid4().hex[:4]}")
    for number in range(messages):
        sent = await send(session, settings, employer, candidate, f"{body} {number + 1}")
    return employer, candidate, sent


def test_a_message_arrives_live_and_its_sender_sees_it_read(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    employer, candidate, _ = live.run(_pair_with_message, live.settings, "Thanks for applying.")
    sign_in_page = browsing.new_page()
    sign_in_page.goto(f"{live.url}/inbox")
    expect(sign_in_page.locator("#token")).to_be_visible()
    assert_accessible(sign_in_page, "the sign-in page")
    assert sign_in_page.evaluate("document.cookie") == ""

    sender = inbox(browsing, live, employer, DESKTOP)
    reader = inbox(browsing, live, candidate, DESKTOP)
    expect(reader.locator("#unread-badge")).to_have_text("1 unread message")
    reader.click(f"text={employer.display_name}")  # reading the first message clears the badge
    expect(reader.locator("#unread-badge")).to_be_hidden()
    reader.goto(f"{live.url}/inbox#/")

    sender.click(f"text={candidate.display_name}")
    sender.fill("#body", "Could you do a call on Thursday at 10:00?")
    sender.click("#send")
    mine = sender.locator(".message.mine").last
    expect(mine.locator(".receipt")).to_have_text("Sent, not read yet")

    # Live, with no reload: the badge, then the thread's own badge and preview.
    expect(reader.locator("#unread-badge")).to_have_text("1 unread message")
    expect(reader.locator("#announcer")).to_have_text(
        f"New message from {employer.display_name}: Could you do a call on Thursday at 10:00?"
    )
    row = reader.locator(".thread-link", has_text=employer.display_name)
    expect(row.locator(".badge")).to_have_text("1 unread")
    expect(row).to_contain_text("Could you do a call on Thursday")
    reader.screenshot(path=str(ARTIFACTS / "inbox-list-1440.png"))
    assert_accessible(reader, "the thread list")
    row.click()
    expect(reader.locator(".message.theirs").last).to_contain_text("Thursday at 10:00")
    expect(sender.locator(".message.mine").last.locator(".receipt")).to_contain_text("Read")
    expect(reader.locator("#unread-badge")).to_be_hidden()
    reader.screenshot(path=str(ARTIFACTS / "inbox-thread-1440.png"))
    assert_accessible(reader, "a thread with its composer")
    reader.fill("#body", "Thursday works. My CV is attached.")
    reader.set_input_files(
        "#files", files=[{"name": "cv.txt", "mimeType": "text/plain", "buffer": b"Alan, CV\n"}]
    )
    # Uploaded (and scanned), not just listed: a send before that is refused with "Wait until
    # the files have uploaded."
    expect(reader.get_by_role("button", name="Remove cv.txt")).to_be_visible()
    reader.locator("#composer").screenshot(path=str(ARTIFACTS / "inbox-composer-1440.png"))
    reader.click("#send")
    expect(sender.locator(".message.theirs").last).to_contain_text("Download cv.txt")

    # Phones: one pane at a time, and nothing wider than the screen.
    reader.set_viewport_size(PHONE)
    reader.goto(f"{live.url}/inbox#/")
    expect(row).to_be_visible()
    reader.screenshot(path=str(ARTIFACTS / "inbox-list-375.png"))
    assert no_horizontal_scroll(reader), "the list at 375 px"
    row.click()
    expect(reader.locator("#composer")).to_be_visible()
    reader.screenshot(path=str(ARTIFACTS / "inbox-thread-375.png"))
    assert no_horizontal_scroll(reader), "a thread at 375 px"
    reader.fill("#body", "See you then.")
    reader.locator("#composer").scroll_into_view_if_needed()
    reader.screenshot(path=str(ARTIFACTS / "inbox-composer-375.png"))
    reader.goto(f"{live.url}/inbox#/new")
    expect(reader.locator("#recipient")).to_be_visible()
    assert no_horizontal_scroll(reader), "a new message at 375 px"
    assert browsing.foreign_requests() == []


def test_block_refuses_the_blocked_send_and_the_eleventh_message_says_when_to_retry(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    employer, candidate, _ = live.run(_pair_with_message, live.settings, "Pay the fee.")
    blocker = inbox(browsing, live, candidate, PHONE)
    blocker.click(f"text={employer.display_name}")
    blocker.click(".thread-actions >> text=Block")
    dialog = blocker.locator("#block-dialog")
    expect(dialog).to_be_visible()
    assert_accessible(blocker, "the block dialog")
    blocker.select_option("#block-reason", "harassment")
    blocker.fill("#block-note", "Keeps asking for money.")
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden()
    expect(blocker.locator("#thread-status")).to_contain_text("You blocked")
    expect(blocker.locator(".thread-actions")).to_contain_text("Unblock")

    blocked = inbox(browsing, live, employer, DESKTOP)
    blocked.click(f"text={candidate.display_name}")
    blocked.fill("#body", "Did you get my last message?")
    blocked.click("#send")
    expect(blocked.locator("#composer-error")).to_have_text(
        "You cannot message this person: one of you has blocked the other."
    )

    # The daily limit is 10: ten sent already (through the service), the 11th is refused.
    flooder, recipient, _ = live.run(_pair_with_message, live.settings, "Hello", messages=10)
    page = inbox(browsing, live, flooder, DESKTOP)
    page.click(f"text={recipient.display_name}")
    page.fill("#body", "One more thing…")
    page.click("#send")
    error = page.locator("#composer-error")
    expect(error).to_contain_text("You have reached the limit of messages you can send in 24")
    expect(error).to_contain_text("You can try again in about 24 hours")
    expect(page.locator(".message.mine")).to_have_count(10)


async def _warn(session: AsyncSession, message_id: uuid.UUID) -> None:
    moderator: StaffUser = await staff(session, "moderator")
    await moderation.warn_sender(
        session,
        message_id,
        actor=moderator,
        note="Asking for a fee is not allowed.",
        grounds=moderation.Grounds(policy="scam", public_note="We have warned the sender."),
    )


def test_a_report_its_outcome_and_the_senders_appeal(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    employer, candidate, message = live.run(
        _pair_with_message, live.settings, "Send $99 for the starter kit."
    )
    reporter = inbox(browsing, live, candidate, DESKTOP, record=True)

    # A dropped stream resumes from the last event seen: what was sent meanwhile arrives. (Every
    # stream starts with the caller's totals: an event with an id to resume from.)
    reporter.wait_for_function("() => window.__events > 0")
    reporter.evaluate(DROP_STREAM)
    expect(reporter.locator("#live-status")).to_have_text("Reconnecting…")
    with httpx.Client(base_url=live.url) as client:
        sent = client.post(
            "/api/v1/messages",
            json={"recipient_id": str(candidate.id), "body": "The fee is due today."},
            headers={"Authorization": f"Bearer {issue_user_token(live.settings, employer.id)}"},
        )
        assert sent.status_code == 201, sent.text
    expect(reporter.locator("#live-status")).to_have_text("Live")
    assert "last_event_id=" in reporter.evaluate("window.__sources.at(-1).url")
    expect(reporter.locator(".thread-link")).to_contain_text("The fee is due today.")

    reporter.click(f"text={employer.display_name}")
    reporter.locator(".message.theirs").first.get_by_role("button", name="Report").click()
    dialog = reporter.locator("#report-dialog")
    reporter.select_option("#report-reason", "scam")
    reporter.fill("#report-note", "Asks for money up front.")
    dialog.locator("button[type=submit]").click()
    expect(reporter.locator(".message.theirs").first).to_contain_text("You reported this message")

    live.run(_warn, message.id)
    reporter.click("#sections >> text=My reports")
    card = reporter.locator(".card")
    expect(card).to_contain_text("Action taken")
    expect(card).to_contain_text("We have warned the sender.")
    assert_accessible(reporter, "my reports")
    reporter.screenshot(path=str(ARTIFACTS / "inbox-reports-1440.png"))

    sanctioned = inbox(browsing, live, employer, PHONE)
    sanctioned.get_by_role("link", name="Decisions about me").click()
    decision = sanctioned.locator(".card")
    expect(decision).to_contain_text("You received a warning")
    assert no_horizontal_scroll(sanctioned), "decisions at 375 px"
    sanctioned.screenshot(path=str(ARTIFACTS / "inbox-decisions-375.png"))
    assert_accessible(sanctioned, "decisions about me")
    decision.locator("textarea").fill("It was a real fee for the uniform, not a scam.")
    decision.locator("button[type=submit]").click()
    expect(sanctioned.locator(".card .appeal")).to_contain_text("Your appeal is waiting")
