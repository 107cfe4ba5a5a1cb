"""The top bar's queue counts and the queue's rows in Chromium follow the queue as it changes,
through htmx's SSE extension and ``/mod/events``, long before the counts' 30 s poll: a report
filed through the API shows in the open count and as a row of a moderator's open queue; while
the moderator has a row selected, a notice offers the new rows instead of moving them."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from portal.tokens import issue_user_token
from tests.browser.conftest import ARTIFACTS, FRONT_END_ONLY, Browsing, LiveServer
from tests.browser.test_dashboard import _reported, sign_in
from tests.portal.moderation_support import staff, user

pytestmark = FRONT_END_ONLY

OPEN = '#nav-counts [data-count="open"]'


def test_a_new_report_shows_in_the_open_count_at_once(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    moderator = live.run(staff, "moderator")
    employer, candidate = live.run(user, "employer"), live.run(user, "candidate")
    page = browsing.new_page()
    sign_in(page, live, moderator)
    before = int(page.locator(OPEN).inner_text())
    page.wait_for_function(  # the extension has connected: the stream said so
        "performance.getEntriesByType('resource').some(e => e.name.endsWith('/mod/events'))"
        " || document.querySelector('[sse-connect]') !== null"
    )

    def bearer(who: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_user_token(live.settings, who.id)}"}  # type: ignore[attr-defined]

    def report(body: str) -> str:
        with httpx.Client(base_url=live.url) as client:
            sent = client.post(
                "/api/v1/messages",
                json={"recipient_id": str(candidate.id), "body": body},
                headers=bearer(employer),
            )
            message_id: str = sent.json()["message"]["id"]
            flagged = client.post(
                f"/api/v1/messages/{message_id}/flag?reason=spam", headers=bearer(candidate)
            )
            assert flagged.status_code == 200, flagged.text
        return message_id

    first = report("pay the fee first")
    expect(page.locator(OPEN)).to_have_text(str(before + 1), timeout=5000)
    row = page.locator(f'#queue-rows tr[data-message-id="{first}"]')
    expect(row).to_be_visible(timeout=5000)  # the rows too, with nothing in hand

    row.locator("input[name=message_id]").check()  # a row selected: the rows stay as they are
    second = report("pay the fee again")
    expect(page.locator(OPEN)).to_have_text(str(before + 2), timeout=5000)
    notice = page.locator("#queue-changed")
    expect(notice).to_be_visible(timeout=5000)
    new_row = page.locator(f'#queue-rows tr[data-message-id="{second}"]')
    expect(new_row).to_have_count(0)
    assert row.locator("input[name=message_id]").is_checked()
    page.screenshot(path=str(ARTIFACTS / "queue-changed-notice.png"))
    notice.get_by_role("button").click()
    expect(new_row).to_be_visible(timeout=5000)
    expect(notice).to_be_hidden()


def test_keys_do_not_wait_for_the_badges_refresh(
    live_server: LiveServer, browsing: Browsing
) -> None:
    """A change on the queue's event stream refreshes the top bar's counts; keys pressed while that
    refresh is on its way act at once (they wait only for a page or its rows: a keyboard
    decision was dropped when a report came in meanwhile)."""
    live = live_server
    moderator = live.run(staff, "moderator")
    page = browsing.new_page()
    sign_in(page, live, moderator)
    held: list[Any] = []
    page.route("**/mod/counts*", lambda route: held.append(route))  # held until released
    page.evaluate(  # what htmx's SSE extension does on a queue.changed event
        "() => htmx.trigger(document.querySelector('[hx-trigger=\"sse:queue.changed\"]'),"
        " 'sse:queue.changed')"
    )
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(20)
    assert len(held) == 1
    page.keyboard.press("?")  # a key, while the counts are on their way
    assert page.locator("#keys-help").is_visible()
    held[0].continue_()


def test_rows_the_stream_fetched_do_not_replace_a_row_picked_meanwhile(
    live_server: LiveServer, browsing: Browsing
) -> None:
    """The rows a change on the stream made the page fetch (with nothing in hand when it asked)
    hold no key back while they are on their way, and when they arrive after the moderator
    picked a row, the notice offers them instead of swapping them in: a moderator's trial lost
    keys pressed meanwhile, and a selection made meanwhile went with the old rows."""
    live = live_server
    moderator = live.run(staff, "moderator")
    live.run(_reported, live.settings, "Send your bank details", ("scam",))
    page = browsing.new_page()
    sign_in(page, live, moderator)
    held: list[Any] = []

    def hold_the_streams_refresh(route: Any) -> None:
        if route.request.headers.get("x-queue-refresh"):
            held.append(route)
        else:
            route.continue_()

    page.route(lambda url: url.split("?")[0].endswith("/mod"), hold_the_streams_refresh)
    page.evaluate("() => htmx.trigger(document.body, 'sse:queue.changed')")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(20)
    assert len(held) == 1
    page.keyboard.press("j")  # while the rows are on their way
    picked = page.locator("#queue-rows tr.current")
    expect(picked).to_have_count(1)
    held[0].continue_()
    expect(page.locator("#queue-changed")).to_be_visible()
    expect(picked).to_have_count(1)  # still the rows, and the row, the moderator had
