"""The report page over HTTP: the undo notice after a decision and the undo itself, who sees
it, escalating with a reason, and compliance sending an item back."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import Message
from portal.settings import Settings
from tests.admin.support import make_world, post_form, sign_in
from tests.portal.moderation_support import audit_count, report, report_rows, send, staff

UNDO_FORM = re.compile(r'action="/mod/reports/([0-9a-f-]+)/undo"')
DECISION_ID = re.compile(r'name="decision_id" value="([0-9a-f-]+)"')


async def test_remove_then_undo_from_the_next_page(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    other = await send(session, settings, world.sender, world.recipient, "second one")
    await report(session, other, world.recipient, "spam")
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        removed = await post_form(
            client,
            f"/mod/reports/{world.message.id}/remove",
            {"reason": "insult", "policy": "harassment"},
        )
        assert removed.status_code == 303
        page = await client.get(removed.headers["location"])
        assert page.url.path == f"/mod/reports/{other.id}"  # the next item, offering the undo
        assert f"Done: removed {world.sender.display_name}" in page.text
        assert UNDO_FORM.findall(page.text) == [str(world.message.id)]
        [decision_id] = DECISION_ID.findall(page.text)
        assert 'data-seconds-left="' in page.text

        # another moderator is not offered it, and may not take it
        other_moderator = await staff(session, "moderator")
        async with AsyncTestClient(app=app) as them:
            await sign_in(them, other_moderator)
            theirs = await them.get(removed.headers["location"])
            assert theirs.status_code == 200 and "undo-btn" not in theirs.text
            refused = await post_form(
                them, f"/mod/reports/{world.message.id}/undo", {"decision_id": decision_id}
            )
            assert refused.status_code == 403
        assert {r.status for r in await report_rows(session, world.message.id)} == {"actioned"}

        undone = await post_form(
            client, f"/mod/reports/{world.message.id}/undo", {"decision_id": decision_id}
        )
        assert undone.status_code == 303
        assert undone.headers["location"] == f"/mod/reports/{world.message.id}?done=undone"
        back = await client.get(undone.headers["location"])
        assert "Undone: this item is back as it was" in back.text
        assert 'id="remove-btn"' in back.text  # it can be decided again
        # twice: refused, nothing changes
        events = await audit_count(session)
        again = await post_form(
            client, f"/mod/reports/{world.message.id}/undo", {"decision_id": decision_id}
        )
        assert again.status_code == 409 and "reversed already" in again.text
        assert await audit_count(session) == events
    assert {r.status for r in await report_rows(session, world.message.id)} == {"open"}
    async with read_transaction(session):
        message = await session.get(Message, world.message.id, populate_existing=True)
    assert message is not None and not message.is_removed
    assert await audit_count(session, "message.restored") == 1
    assert await audit_count(session, "moderation.undone") == 1


async def test_escalating_asks_for_a_reason_and_compliance_sends_back(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        page = await client.get(f"/mod/reports/{world.message.id}")
        assert 'id="escalate-note"' in page.text and 'id="send-back-form"' not in page.text
        blank = await post_form(client, f"/mod/reports/{world.message.id}/escalate", {"note": " "})
        assert blank.status_code == 400 and "is required" in blank.text
        assert {r.status for r in await report_rows(session, world.message.id)} == {"open"}
        escalated = await post_form(
            client, f"/mod/reports/{world.message.id}/escalate", {"note": "a threat? legal"}
        )
        assert escalated.status_code == 303
    assert {r.status for r in await report_rows(session, world.message.id)} == {"escalated"}

    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.compliance)
        page = await client.get(f"/mod/reports/{world.message.id}")
        assert 'id="send-back-form"' in page.text and 'id="escalate-note"' not in page.text
        blank = await post_form(client, f"/mod/reports/{world.message.id}/send_back", {"note": ""})
        assert blank.status_code == 400
        sent = await post_form(
            client, f"/mod/reports/{world.message.id}/send_back", {"note": "plain insult"}
        )
        assert sent.status_code == 303
        landed = await client.get(sent.headers["location"], follow_redirects=True)
        assert "Sent back to moderation" in landed.text
    assert {r.status for r in await report_rows(session, world.message.id)} == {"open"}
    assert await audit_count(session, "moderation.sent_back") == 1

    async with AsyncTestClient(app=app) as client:  # moderators see why, and decide it again
        await sign_in(client, world.moderator)
        page = await client.get(f"/mod/reports/{world.message.id}")
        assert "Sent back to moderation: plain insult" in page.text
        assert 'id="remove-btn"' in page.text


async def test_a_bulk_dismissal_offers_its_undo_on_the_queue(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    other = await send(session, settings, world.sender, world.recipient, "second one")
    await report(session, other, world.recipient, "spam")
    ids = [str(world.message.id), str(other.id)]
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        posted = await post_form(client, "/mod/bulk", {"action": "dismiss", "message_id": ids})
        assert posted.status_code == 303  # post/redirect/get: the queue offers the undo
        page = await client.get(posted.headers["location"])
        assert 'action="/mod/bulk/undo"' in page.text and "Undo all 2" in page.text
        decision_ids = DECISION_ID.findall(page.text)
        assert len(decision_ids) == 2
        undone = await post_form(client, "/mod/bulk/undo", {"decision_id": decision_ids})
        assert undone.status_code == 303 and undone.headers["location"] == "/mod"
    for message_id in (world.message.id, other.id):
        assert {r.status for r in await report_rows(session, message_id)} == {"open"}
    assert await audit_count(session, "moderation.undone") == 2
