"""The queue's account-level triage in the dashboard: grouped by sender, act on all, saved views,
assignment, overdue items, the report page's count of the sender's other open reports, and the
grouped page's statements whatever the queue's size."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from portal.services import moderation_queue
from portal.settings import Settings
from tests.admin.seed import seed_open_reports
from tests.admin.support import make_world, post_form, sign_in
from tests.portal.moderation_support import audit_count, user
from tests.portal.queue_support import flood
from tests.statements import statements


async def test_group_by_sender_and_act_on_all(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)  # one harassment report on Erin Employer
    spammer = await user(session, "employer", "Sam Spammer")
    messages = await flood(session, settings, spammer, world.recipient, 30)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        page = await client.get("/mod?group=sender")
        assert page.status_code == 200
        rows = re.findall(r'<tr data-sender-id="([0-9a-f-]+)"', page.text)
        assert rows == [str(spammer.id), str(world.sender.id)]  # the flood first
        assert "Act on all 30" in page.text and "Cody Candidate" in page.text
        assert ">2 senders<" in page.text
        # the report page says how much else is open against the sender
        report_page = await client.get(f"/mod/reports/{messages[0].id}")
        assert "29 other open reports</a> against this sender" in report_page.text
        assert f"/mod/senders/{spammer.id}/act" in report_page.text

        refused = await post_form(
            client,
            f"/mod/senders/{spammer.id}/act",
            {"action": "remove_and_suspend", "reason": "spam run", "days": "7"},
        )
        assert refused.status_code == 400 and "policy" in refused.text
        assert await audit_count(session, "message.removed") == 0

        done = await post_form(
            client,
            f"/mod/senders/{spammer.id}/act",
            {
                "action": "remove_and_suspend",
                "reason": "spam run",
                "policy": "spam",
                "days": "7",
                "sender_name": "Sam Spammer",
            },
        )
        assert done.status_code == 303
        assert done.headers["location"].startswith("/mod?group=sender&acted=")
        after = await client.get(done.headers["location"])
        assert "Sam Spammer: 30 items removed, and suspended." in after.text
        rows = re.findall(r'<tr data-sender-id="([0-9a-f-]+)"', after.text)
        assert rows == [str(world.sender.id)]
    assert await audit_count(session, "message.removed") == 30
    assert await audit_count(session, "user.suspended") == 1


async def test_saved_views_assignment_and_overdue_on_the_queue(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        saved = await post_form(
            client, "/mod/views", {"name": "Harassment", "reason": "harassment", "status": "open"}
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/mod?status=open&reason=harassment&done=saved"
        page = await client.get("/mod")
        assert '<a href="/mod?status=open&amp;reason=harassment">Harassment</a>' in page.text
        view_id = re.search(r"/mod/views/([0-9a-f-]+)/delete", page.text)
        assert view_id is not None
        # the one harassment report is 0 minutes old against a 1 hour target: not overdue
        assert "/ 1h" in page.text and 'class="tag overdue"' not in page.text
        assert "most severe: harassment" in page.text  # the priority explained
        assigned = await post_form(
            client,
            f"/mod/items/{world.message.id}/assign",
            {"assignee_id": str(world.moderator.id)},
        )
        assert assigned.status_code == 303
        mine = await client.get("/mod?status=mine")
        assert str(world.message.id) in mine.text and "Mona Moderator" in mine.text
        deleted = await post_form(client, f"/mod/views/{view_id.group(1)}/delete")
        assert deleted.status_code == 303
        assert ">Harassment</a>" not in (await client.get("/mod")).text
    assert await audit_count(session, "moderation.assigned") == 1


# the signed-in staff member, the page of senders (3: senders, reasons, reporters), the
# navigation counts with the open appeals, the active policies the act-on-all form cites, the
# viewer's saved views; SQLite adds the explicit BEGINs of its transactions
GROUPED_PAGE = {"sqlite": 13, "postgres": 8}


async def test_grouped_queue_page_statements_do_not_grow_with_the_queue(
    app: Litestar, session: AsyncSession, settings: Settings, backend: str
) -> None:
    world = await make_world(session, settings)
    counts = []
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        for seed in (0, 10_000):
            if seed:
                await seed_open_reports(session, seed, people=50)
            with statements(app.state.engine) as log:
                response = await client.get("/mod?group=sender")
            assert response.status_code == 200
            counts.append(len(log))
        rows = response.text.count("<tr data-sender-id=")
    assert rows == 50  # one page: 50 senders seeded, and Erin Employer on the next
    assert "51 senders" in response.text
    assert counts == [GROUPED_PAGE[backend]] * 2
    assert moderation_queue.GROUP_REPORTER_NAMES == 3
