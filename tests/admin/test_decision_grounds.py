"""A restriction's grounds on the report page, the queue and a user's page: the active policies
to pick from, the explanation to the sender, the public note to the reporter and the internal
note; a restriction without a policy is refused with nothing changed and the form kept."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import ModerationDecision, Policy
from portal.services import policies
from portal.settings import Settings
from tests.admin.support import make_world, post_form, sign_in, snapshot
from tests.portal.moderation_support import report, report_rows, send


async def decisions_of(session: AsyncSession, **where: object) -> list[ModerationDecision]:
    async with read_transaction(session):
        query = select(ModerationDecision).order_by(ModerationDecision.created_at)
        for name, value in where.items():
            query = query.where(getattr(ModerationDecision, name) == value)
        return list(await session.scalars(query))


def radios(page: str) -> list[str]:
    """The policy keys the page offers, in order, and which one is checked (marked *)."""
    found = []
    for tag in re.findall(r'<input type="radio" name="policy"[^>]*>', page):
        key = re.search(r'value="([^"]*)"', tag)
        assert key
        found.append(key.group(1) + ("*" if " checked" in tag else ""))
    return found


def textarea(page: str, name: str) -> str:
    match = re.search(rf'<textarea name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, name
    return match.group(1)


@pytest.mark.parametrize("action", ["remove", "warn", "suspend"])
async def test_a_restriction_without_a_policy_is_refused_and_changes_nothing(
    app: Litestar, session: AsyncSession, settings: Settings, action: str
) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        path = f"/mod/reports/{world.message.id}"
        before = await snapshot(session)
        for policy in ("", "no_such_policy"):
            response = await post_form(
                client,
                f"{path}/{action}",
                {
                    "reason": "insults",
                    "days": "7",
                    "policy": policy,
                    "explanation": "You insulted the candidate.",
                    "public_note": "Thanks for telling us.",
                },
            )
            assert response.status_code == 400, response.text
            assert 'role="alert"' in response.text and "policy" in response.text
            # the form comes back as it was sent, so nothing has to be typed again
            assert textarea(response.text, "explanation") == "You insulted the candidate."
            assert 'value="Thanks for telling us."' in response.text
            assert 'id="internal-note" maxlength="1000" required value="insults"' in response.text
            assert not any(key.endswith("*") for key in radios(response.text))
        assert await snapshot(session) == before
    assert {r.status for r in await report_rows(session, world.message.id)} == {"open"}


async def test_the_report_page_offers_the_active_policies_and_both_notes(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    [spam] = [p for p in await policies.list_policies(session) if p.key == "spam"]
    await policies.update_policy(
        session,
        spam.id,
        actor=world.admin,
        title=spam.title,
        ground=spam.ground,
        ground_reference=spam.ground_reference,
        category=spam.category,
        explanation=spam.explanation,
        active=False,
    )
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        page = (await client.get(f"/mod/reports/{world.message.id}")).text
        offered = radios(page)
        active = [p.key for p in await policies.list_policies(session, active_only=True)]
        assert offered == active and "spam" not in offered
        for text in (
            "Explanation to the sender",
            "Public note to the reporter (optional)",
            "Internal note (staff only)",
            "keys 1–5",
        ):
            assert text in page, text
        # each policy carries its own words for the explanation; without script it starts blank
        async with read_transaction(session):
            scam = await session.scalar(select(Policy).where(Policy.key == "scam"))
        assert scam is not None
        assert f'value="scam" required data-explanation="{scam.explanation}"' in page
        assert textarea(page, "explanation") == ""

        # an inactive policy is refused like a missing one
        before = await snapshot(session)
        refused = await post_form(
            client,
            f"/mod/reports/{world.message.id}/remove",
            {"reason": "spam", "policy": "spam"},
        )
        assert refused.status_code == 400 and "not an active policy" in refused.text
        assert await snapshot(session) == before


async def test_remove_warn_and_dismiss_record_what_each_person_is_told(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    second = await send(session, settings, world.sender, world.recipient, "Pay the fee first")
    await report(session, second, world.recipient, "scam")
    third = await send(session, settings, world.sender, world.recipient, "fine message")
    await report(session, third, world.recipient, "spam")
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        removed = await post_form(
            client,
            f"/mod/reports/{world.message.id}/remove",
            {
                "reason": "third insult this week",
                "policy": "harassment",
                "explanation": "You called the candidate useless.",
                "public_note": "We removed it.",
                "days": "7",  # the shared form posts the length too; a removal ignores it
            },
        )
        assert removed.status_code == 303, removed.text
        assert "done=removed" in removed.headers["location"]
        warned = await post_form(
            client,
            f"/mod/reports/{second.id}/warn",
            {"reason": "first scam report", "policy": "scam", "explanation": ""},
        )
        assert warned.status_code == 303, warned.text
        dismissed = await post_form(
            client,
            f"/mod/reports/{third.id}/dismiss",
            {"note": "", "public_note": "This message follows our rules."},
        )
        assert dismissed.status_code == 303, dismissed.text
    [remove] = await decisions_of(session, message_id=world.message.id)
    assert (remove.kind, remove.policy_key) == ("removed", "harassment")
    assert remove.explanation == "You called the candidate useless."
    assert remove.public_note == "We removed it."
    assert remove.internal_note == "third insult this week"
    assert remove.decided_by_id == world.moderator.id
    [warn] = await decisions_of(session, message_id=second.id)
    async with read_transaction(session):
        scam = await session.scalar(select(Policy).where(Policy.key == "scam"))
    assert scam is not None
    # no explanation written: the policy's own
    assert (warn.kind, warn.policy_key, warn.explanation) == ("warned", "scam", scam.explanation)
    assert warn.internal_note == "first scam report"
    [dismiss] = await decisions_of(session, message_id=third.id)
    assert (dismiss.kind, dismiss.policy_key) == ("dismissed", None)
    assert dismiss.public_note == "This message follows our rules."


async def test_bulk_remove_needs_a_policy_and_cites_it(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    second = await send(session, settings, world.sender, world.recipient, "again")
    await report(session, second, world.recipient, "spam")
    ids = [str(world.message.id), str(second.id)]
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        queue = (await client.get("/mod")).text
        assert 'id="bulk-policy"' in queue
        assert re.search(r'<option value="spam">\d · Spam and unsolicited', queue)  # its key
        before = await snapshot(session)
        refused = await post_form(
            client, "/mod/bulk", {"action": "remove", "reason": "spam", "message_id": ids}
        )
        assert refused.status_code == 400 and "policy" in refused.text
        assert await snapshot(session) == before
        done = await post_form(
            client,
            "/mod/bulk",
            {"action": "remove", "reason": "spam wave", "policy": "spam", "message_id": ids},
        )
        assert done.status_code == 303  # post/redirect/get: the queue shows the result
        shown = await client.get(done.headers["location"])
        assert "Remove: 2 items decided." in shown.text
    decided = await decisions_of(session, user_id=world.sender.id)
    assert [(d.kind, d.policy_key) for d in decided] == [("removed", "spam")] * 2


async def test_the_users_suspend_form_cites_a_policy(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        path = f"/mod/users/{world.sender.id}"
        page = (await client.get(path)).text
        assert "scam" in radios(page) and "Explanation to the user" in page
        before = await snapshot(session)
        refused = await post_form(
            client, f"{path}/suspend", {"reason": "flooding", "days": "3", "explanation": "Spam."}
        )
        assert refused.status_code == 400 and "policy" in refused.text
        assert textarea(refused.text, "explanation") == "Spam."
        assert 'value="flooding"' in refused.text
        assert await snapshot(session) == before
        done = await post_form(
            client,
            f"{path}/suspend",
            {"reason": "flooding", "days": "3", "policy": "spam", "explanation": "Spam."},
        )
        assert done.status_code == 303, done.text
    [suspension] = await decisions_of(session, user_id=world.sender.id)
    assert (suspension.kind, suspension.policy_key, suspension.days) == ("suspended", "spam", 3)
    assert suspension.explanation == "Spam."
