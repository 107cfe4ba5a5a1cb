"""In headless Chromium against a live server (both databases): a moderator decides a report by
keyboard citing a policy (its number key fills the explanation to the sender, r and Enter
remove), the sender appeals, the same moderator is shown that another must decide, a second
moderator overturns it from the appeal queue, and the user page shows the decision overturned
with its statement and the appeal; an administrator edits the policy; a reporter's appeal of a
dismissal is overturned with a warning citing a policy picked by its number key. Screenshots of
the appeal queue, the appeals and the user page go to var/test-artifacts/."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import Appeal, Message, ModerationDecision, Policy, User
from portal.services import appeals, moderation
from tests.browser.conftest import ARTIFACTS, Browsing, LiveServer
from tests.browser.test_dashboard import _reported, _staff, sign_in


async def _decisions(session: AsyncSession, message_id: uuid.UUID) -> list[ModerationDecision]:
    async with read_transaction(session):
        query = (
            select(ModerationDecision)
            .where(ModerationDecision.message_id == message_id)
            .order_by(ModerationDecision.created_at)
        )
        return list(await session.scalars(query))


async def _policy_keys(session: AsyncSession) -> dict[str, Policy]:
    async with read_transaction(session):
        found = await session.scalars(
            select(Policy).where(Policy.active.is_(True)).order_by(Policy.key)
        )
        return {p.key: p for p in found}


async def _appeal(session: AsyncSession, sender_id: uuid.UUID, decision_id: uuid.UUID) -> Any:
    async with read_transaction(session):
        sender = await session.get(User, sender_id)
    assert sender is not None
    return await appeals.file_appeal(
        session, sender, decision_id, "I asked for a deposit for the uniform, not a fee."
    )


async def _state(
    session: AsyncSession, appeal_id: uuid.UUID, message_id: uuid.UUID
) -> tuple[str, bool]:
    async with read_transaction(session):
        appeal = await session.get(Appeal, appeal_id, populate_existing=True)
        message = await session.get(Message, message_id, populate_existing=True)
    assert appeal is not None and message is not None
    return appeal.status, message.is_removed


def test_decide_a_report_by_keyboard_then_an_appeal_by_another_moderator(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    first = live.run(_staff, "moderator", "Kira Keys")
    second = live.run(_staff, "moderator", "Ben Appeals")
    item = live.run(
        _reported,
        live.settings,
        "Send a $150 training fee to start on Monday",
        ("scam",),
        sender_name="Erin Employer",
        note="asked me to pay",
    )
    catalogue = live.run(_policy_keys)
    scam_key = str(list(catalogue).index("scam") + 1)  # the picker lists policies by key

    page = browsing.new_page()
    sign_in(page, live, first, then=f"/mod/reports/{item.message.id}")
    explanation = page.locator("#restrict-form textarea[name=explanation]")
    assert explanation.input_value() == ""
    page.keyboard.press(scam_key)
    assert page.is_checked("#restrict-form input[name=policy][value=scam]")
    assert explanation.input_value() == catalogue["scam"].explanation
    page.keyboard.press("r")
    page.keyboard.type("advance fee, second report this month")
    page.screenshot(path=str(ARTIFACTS / "report-policy.png"), full_page=True)
    page.keyboard.press("Enter")  # asks to confirm the removal
    page.keyboard.press("y")  # removes; no next item: this one again, with its undo
    page.wait_for_url(re.compile(rf".*/mod/reports/{item.message.id}\?done=removed&undo=.+$"))
    [removed] = live.run(_decisions, item.message.id)
    assert (removed.kind, removed.policy_key) == ("removed", "scam")
    assert removed.decided_by_id == first.id
    assert removed.explanation == catalogue["scam"].explanation
    assert removed.internal_note == "advance fee, second report this month"

    appeal = live.run(_appeal, item.sender.id, removed.id)
    page.goto(f"{live.url}/mod/appeals")
    assert page.locator("#nav-counts [data-count=appeals]").inner_text() == "1"
    page.click(f"tr[data-appeal-id='{appeal.id}'] a.open")
    page.wait_for_url(f"{live.url}/mod/appeals/{appeal.id}")
    assert "another moderator or an admin must decide" in page.locator("#not-yours").inner_text()
    assert page.locator("#appeal-form").count() == 0

    page = browsing.new_page()
    sign_in(page, live, second, then="/mod/appeals")
    row = page.locator(f"tr[data-appeal-id='{appeal.id}']")
    assert "Kira Keys" in row.inner_text() and "Scams and advance-fee fraud" in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "appeals-queue.png"), full_page=True)
    row.locator("a.open").click()
    page.wait_for_url(f"{live.url}/mod/appeals/{appeal.id}")
    assert "Send a $150 training fee" in page.locator("#evidence").inner_text()
    page.screenshot(path=str(ARTIFACTS / "appeal.png"), full_page=True)
    page.check("#appeal-form input[name=outcome][value=overturned]")
    page.fill("#appeal-reasoning", "A uniform deposit is not a fee for the job; restored.")
    page.click("#decide-appeal-btn")
    page.wait_for_url(re.compile(r".*/mod/appeals\?done=decided$"))
    assert "No appeal is open." in page.locator("main").inner_text()
    assert page.locator("#nav-counts [data-count=appeals]").inner_text() == "0"
    assert live.run(_state, appeal.id, item.message.id) == ("overturned", False)

    page.goto(f"{live.url}/mod/users/{item.sender.id}")
    decisions = page.locator("#user-decisions")
    overturned = decisions.locator(f"#decision-{removed.id}")
    assert "overturned" in overturned.locator(".overturned-tag").inner_text()
    assert "appeal: overturned" in overturned.inner_text()
    overturned.locator("summary").click()
    assert "Scams and advance-fee fraud" in overturned.locator(".statement").inner_text()
    assert "restored" in decisions.inner_text()
    page.screenshot(path=str(ARTIFACTS / "user-decisions.png"), full_page=True)

    # an administrator edits the policy from /mod/policies: version 2, offered from now on
    admin = live.run(_staff, "admin", "Ada Policies")
    page = browsing.new_page()
    sign_in(page, live, admin, then="/mod/policies")
    page.click("a[aria-label='Edit scam']")
    page.wait_for_url(re.compile(r".*/mod/policies/[0-9a-f-]+"))
    page.fill("#edit-policy input[name=title]", "Scams, advance fees and deposits")
    page.screenshot(path=str(ARTIFACTS / "policies.png"), full_page=True)
    page.click("#edit-policy button[type=submit]")
    page.wait_for_url(re.compile(r".*/mod/policies\?done=updated$"))
    row = page.locator("tr", has=page.locator("td.mono", has_text="scam"))
    assert "Scams, advance fees and deposits" in row.inner_text()
    assert live.run(_policy_keys)["scam"].version == 2


async def _dismissed_and_appealed(
    session: AsyncSession, message_id: uuid.UUID, reporter_id: uuid.UUID, moderator: Any
) -> tuple[Any, uuid.UUID]:
    await moderation.dismiss(session, message_id, actor=moderator, public_note="No rule broken.")
    [dismissal] = await _decisions(session, message_id)
    async with read_transaction(session):
        reporter = await session.get(User, reporter_id)
    assert reporter is not None
    appeal = await appeals.file_appeal(
        session, reporter, dismissal.id, "He called me names in the second line."
    )
    return appeal, dismissal.id


def test_a_reporters_appeal_of_a_dismissal_warns_the_sender_citing_a_policy(
    live_server: LiveServer, browsing: Browsing
) -> None:
    live = live_server
    first = live.run(_staff, "moderator", "Dana Dismiss")
    second = live.run(_staff, "moderator", "Remy Review")
    item = live.run(_reported, live.settings, "You people are all lazy", ("harassment",))
    appeal, dismissal_id = live.run(
        _dismissed_and_appealed, item.message.id, item.recipient.id, first
    )
    catalogue = live.run(_policy_keys)
    harassment_key = str(list(catalogue).index("harassment") + 1)

    page = browsing.new_page()
    sign_in(page, live, second, then=f"/mod/appeals/{appeal.id}")
    assert "a reporter appeals a dismissal" in page.locator("h1").inner_text()
    page.keyboard.press(harassment_key)  # the policy's number key works here too
    explanation = page.locator("#appeal-form textarea[name=explanation]")
    assert explanation.input_value() == catalogue["harassment"].explanation
    page.check("#appeal-form input[name=outcome][value=overturned]")
    page.check("#appeal-form input[name=action][value=warn]")
    page.fill("#appeal-reasoning", "Calling a candidate lazy is an insult.\nWe warned the sender.")
    page.screenshot(path=str(ARTIFACTS / "appeal-reporter.png"), full_page=True)
    page.click("#decide-appeal-btn")
    page.wait_for_url(re.compile(r".*/mod/appeals\?done=decided$"))
    decisions = live.run(_decisions, item.message.id)
    assert [(d.kind, d.policy_key) for d in decisions] == [
        ("dismissed", None),
        ("warned", "harassment"),
    ]
    assert decisions[1].reverses_id == dismissal_id and decisions[1].decided_by_id == second.id
    assert live.run(_state, appeal.id, item.message.id) == ("overturned", False)
