"""The appeals pages over HTTP (both databases): the queue (oldest first, in the nav and the
overview), an appeal's page with the decision, its statement, the evidence and the history; the
moderator who took the decision is refused and shown why, another decides; a reporter's appeal
of a dismissal takes an action citing a policy; a suspension is shortened; every refusal shows
the page again with the form kept and changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import Appeal, Message, ModerationDecision
from portal.models.base import utcnow
from portal.services import appeals, moderation
from portal.settings import Settings
from tests.admin.support import World, make_world, post_form, sign_in, snapshot
from tests.portal.moderation_support import report, send, staff

HARASSMENT = moderation.Grounds(policy="harassment", public_note="We acted on it.")


async def _decision(session: AsyncSession, message: Message) -> ModerationDecision:
    async with read_transaction(session):
        found = await session.scalar(
            select(ModerationDecision)
            .where(ModerationDecision.message_id == message.id)
            .order_by(ModerationDecision.created_at.desc())
            .limit(1)
        )
    assert found is not None
    return found


async def _appeal(session: AsyncSession, appeal_id: object) -> Appeal:
    async with read_transaction(session):
        found = await session.get(Appeal, appeal_id, populate_existing=True)
    assert found is not None
    return found


async def _removed_and_appealed(session: AsyncSession, world: World) -> Appeal:
    """Removed three hours ago, appealed two hours ago."""
    now = utcnow()
    await moderation.remove_message(
        session,
        world.message.id,
        actor=world.moderator,
        reason="insult",
        grounds=HARASSMENT,
        now=now - timedelta(hours=3),
    )
    decision = await _decision(session, world.message)
    return await appeals.file_appeal(
        session,
        world.sender,
        decision.id,
        "I was quoting them, <b>not</b> insulting.",
        now=now - timedelta(hours=2),
    )


async def test_the_queue_the_nav_and_the_overview_show_open_appeals(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    appeal = await _removed_and_appealed(session, world)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.compliance)
        page = (await client.get("/mod/appeals")).text
        assert 'data-count="appeals">1<' in page
        row = re.search(rf'<tr data-appeal-id="{appeal.id}">(.*?)</tr>', page, re.S)
        assert row, page
        cells = row.group(1)
        assert "Erin Employer" in cells and "sanctioned user" in cells
        assert "<b>removed</b>" in cells and "Harassment and threats" in cells
        assert "Mona Moderator" in cells and ">2h<" in cells
        assert "I was quoting them, &lt;b&gt;not&lt;/b&gt; insulting." in cells  # escaped
        assert "yours" not in cells
        overview = (await client.get("/mod/overview")).text
        assert re.search(r'id="fig-open-appeals"><a href="/mod/appeals">1</a>', overview)
        assert 'id="fig-oldest-appeal">2h<' in overview
        decided = (await client.get("/mod/appeals?status=overturned")).text
        assert "No appeal is overturned." in decided
        bad = await client.get("/mod/appeals?status=sideways")
        assert bad.status_code == 400

        await sign_in(client, world.moderator)  # who took the decision sees it is theirs
        page = (await client.get("/mod/appeals")).text
        assert 'class="tag yours"' in page


async def test_the_decider_is_refused_and_another_moderator_overturns(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    appeal = await _removed_and_appealed(session, world)
    second = await staff(session, "moderator", "Max Second")
    path = f"/mod/appeals/{appeal.id}"
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        page = (await client.get(path)).text
        assert "another moderator or an admin must decide this appeal" in page
        assert 'id="appeal-form"' not in page
        # the page shows the decision, its statement, the evidence and the history
        assert "I was quoting them, &lt;b&gt;not&lt;/b&gt; insulting." in page
        assert "You are useless" in page  # the message appealed about
        assert "Harassment and threats" in page and "Statement of reasons" in page
        assert "Internal note (staff only):</span> insult" in page
        before = await snapshot(session)
        refused = await post_form(
            client, f"{path}/decide", {"outcome": "overturned", "reasoning": "my mistake"}
        )
        assert refused.status_code == 403 and "you took the decision appealed" in refused.text
        assert await snapshot(session) == before

        await sign_in(client, world.compliance)  # reads, does not decide
        before = await snapshot(session)
        page = (await client.get(path)).text
        assert "Moderators and admins decide appeals." in page
        assert (await post_form(client, f"{path}/decide", {"outcome": "upheld"})).status_code == 403
        assert await snapshot(session) == before

        await sign_in(client, second)
        before = await snapshot(session)
        page = (await client.get(path)).text
        assert 'id="appeal-form"' in page and "the message is restored" in page
        assert 'value="partially_overturned"' not in page  # only a suspension is shortened
        missing = await post_form(client, f"{path}/decide", {"reasoning": "quoted"})
        assert missing.status_code == 400 and 'role="alert"' in missing.text
        assert ">quoted</textarea>" in missing.text  # the form is kept
        assert await snapshot(session) == before
        decided = await post_form(
            client,
            f"{path}/decide",
            {"outcome": "overturned", "reasoning": "It was a quotation\nof their message."},
        )
        assert decided.status_code == 303, decided.text
        assert decided.headers["location"] == "/mod/appeals?done=decided"
        queue = (await client.get(decided.headers["location"])).text
        assert "appeal decided" in queue and "No appeal is open." in queue
        again = await post_form(
            client, f"{path}/decide", {"outcome": "upheld", "reasoning": "twice"}
        )
        assert again.status_code == 409 and "already" in again.text

        shown = (await client.get(path)).text
        assert "It was a quotation\nof their message." in shown  # as written, paragraphs kept
        assert "restored" in shown and 'id="appeal-form"' not in shown
        user_page = (await client.get(f"/mod/users/{world.sender.id}")).text
        assert 'class="tag overturned-tag"' in user_page
        assert f'href="/mod/appeals/{appeal.id}" class="tag appeal-tag status-overturned"' in (
            user_page
        )
    decided_appeal = await _appeal(session, appeal.id)
    assert (decided_appeal.status, decided_appeal.decided_by_id) == ("overturned", second.id)
    async with read_transaction(session):
        message = await session.get(Message, world.message.id, populate_existing=True)
    assert message is not None and not message.is_removed


async def test_a_reporters_appeal_of_a_dismissal_takes_an_action_citing_a_policy(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    await moderation.dismiss(session, world.message.id, actor=world.moderator, note="banter")
    dismissal = await _decision(session, world.message)
    appeal = await appeals.file_appeal(session, world.recipient, dismissal.id, "It was not banter.")
    path = f"/mod/appeals/{appeal.id}"
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.admin)
        page = (await client.get(path)).text
        assert "a reporter appeals a dismissal" in page
        assert "If overturned: the action taken now" in page and 'name="policy"' in page
        # the policy is not required by the browser: an upheld dismissal cites none
        assert 'value="scam" data-explanation' in page
        before = await snapshot(session)
        unfounded = await post_form(
            client,
            f"{path}/decide",
            {"outcome": "overturned", "action": "warn", "reasoning": "It was an insult."},
        )
        assert unfounded.status_code == 400 and "policy" in unfounded.text
        assert 'value="warn" checked' in unfounded.text
        assert await snapshot(session) == before
        decided = await post_form(
            client,
            f"{path}/decide",
            {
                "outcome": "overturned",
                "action": "warn",
                "policy": "harassment",
                "explanation": "",
                "public_note": "We have now acted.",
                "reasoning": "It was an insult.",
            },
        )
        assert decided.status_code == 303, decided.text
    warning = await _decision(session, world.message)
    assert (warning.kind, warning.policy_key, warning.reverses_id) == (
        "warned",
        "harassment",
        dismissal.id,
    )
    assert warning.decided_by_id == world.admin.id
    assert (await _appeal(session, appeal.id)).status == "overturned"


async def test_a_suspension_is_shortened_on_appeal(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    await moderation.suspend_sender(
        session,
        world.message.id,
        actor=world.moderator,
        reason="threats",
        days=30,
        grounds=HARASSMENT,
    )
    suspension = await _decision(session, world.message)
    appeal = await appeals.file_appeal(session, world.sender, suspension.id, "Too long.")
    path = f"/mod/appeals/{appeal.id}"
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.admin)
        page = (await client.get(path)).text
        assert "Partially overturned: shortened to" in page
        before = await snapshot(session)
        too_long = await post_form(
            client,
            f"{path}/decide",
            {"outcome": "partially_overturned", "new_days": "30", "reasoning": "same"},
        )
        assert too_long.status_code == 400 and "must end before" in too_long.text
        assert await snapshot(session) == before
        decided = await post_form(
            client,
            f"{path}/decide",
            {"outcome": "partially_overturned", "new_days": "7", "reasoning": "A first offence."},
        )
        assert decided.status_code == 303, decided.text
        user_page = (await client.get(f"/mod/users/{world.sender.id}")).text
        assert "suspension shortened" in user_page
        assert "partially overturned" in user_page
    async with read_transaction(session):
        shortened = await session.scalar(
            select(ModerationDecision).where(ModerationDecision.kind == "suspension_shortened")
        )
    assert shortened is not None and shortened.days == 7
    assert shortened.restricted_until == suspension.created_at + timedelta(days=7)
    assert (await _appeal(session, appeal.id)).status == "partially_overturned"


async def test_appeal_pages_answer_404_for_an_unknown_appeal(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    other = await send(session, settings, world.sender, world.recipient, "another")
    await report(session, other, world.recipient, "spam")
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        missing = "/mod/appeals/00000000-0000-7000-8000-000000000000"
        assert (await client.get(missing)).status_code == 404
        before = await snapshot(session)
        posted = await post_form(
            client, f"{missing}/decide", {"outcome": "upheld", "reasoning": "x"}
        )
        assert posted.status_code == 404
        assert await snapshot(session) == before
