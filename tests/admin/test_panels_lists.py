"""The list panels' own figures: the blocklist finds the users blocked by the most distinct people
in the last 30 days (by sorting and by a filter), and flagged messages roll their reports up."""

from __future__ import annotations

import json
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import write_transaction
from portal.models import MessageBlock
from portal.models.base import new_id, utcnow
from portal.settings import Settings
from tests.admin.panel_support import make_panel_world
from tests.admin.support import post_form, sign_in
from tests.portal.moderation_support import report, user


async def test_blocklist_finds_the_most_blocked_users_of_the_last_30_days(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_panel_world(session, settings)  # the recipient blocked the sender
    now = utcnow()
    quiet = await user(session, "employer", "Quinn Quiet")
    blockers = [await user(session, "candidate", f"Blocker {n}") for n in range(3)]
    async with write_transaction(session):
        session.add_all(
            [
                # two more people blocked the sender recently, one long ago (not counted)
                MessageBlock(
                    id=new_id(),
                    blocker_id=blockers[0].id,
                    blocked_id=world.base.sender.id,
                    reason="spam",
                    created_at=now - timedelta(days=2),
                ),
                MessageBlock(
                    id=new_id(),
                    blocker_id=blockers[1].id,
                    blocked_id=world.base.sender.id,
                    reason="spam",
                    created_at=now - timedelta(days=29),
                ),
                MessageBlock(
                    id=new_id(),
                    blocker_id=blockers[2].id,
                    blocked_id=world.base.sender.id,
                    reason="other",
                    created_at=now - timedelta(days=40),
                ),
                MessageBlock(
                    id=new_id(),
                    blocker_id=blockers[0].id,
                    blocked_id=quiet.id,
                    reason="other",
                ),
            ]
        )
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.base.compliance)

        async def rows(query: str) -> list[dict[str, object]]:
            response = await client.get(f"/admin/blocklist/list?{query}")
            assert response.status_code == 200
            exported = await post_form(client, "/admin/blocklist/export/json")
            # the rows as the page orders them (by their detail links), with the export's figures
            by_id = {row["id"]: row for row in json.loads(exported.text)}
            shown = [
                (response.text.find(f"/admin/blocklist/details/{row_id}"), row_id)
                for row_id in by_id
            ]
            return [by_id[row_id] for at, row_id in sorted(shown) if at >= 0]

        ranked = await rows("sortBy=blocked_by_recent&sort=desc")
        assert [row["blocked_by_recent"] for row in ranked] == [3, 3, 3, 3, 1]
        assert {row["blocked_name"] for row in ranked[:4]} == {"Erin Employer"}

        filtered = await rows("blocked_by=3")
        assert len(filtered) == 4 and {r["blocked_name"] for r in filtered} == {"Erin Employer"}
        assert len(await rows("blocked_by=5")) == 0
        assert len(await rows("reason=other")) == 2


async def test_flagged_messages_roll_reports_up(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_panel_world(session, settings)
    for reason in ("spam", "spam", "scam"):
        await report(session, world.base.message, await user(session, "employer"), reason)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.base.moderator)
        page = await client.get("/admin/flagged-message/list?search=useless")
        assert page.status_code == 200
        assert f'href="/mod/reports/{world.base.message.id}"' in page.text
        assert f'href="/admin/message-thread/details/{world.thread_id}"' in page.text
        detail = await client.get(f"/admin/flagged-message/details/{world.base.message.id}")
        assert detail.status_code == 200
        for text in (">4<", "harassment", "scam", "spam", ">open<"):
            assert text in detail.text, text
        assert "useless" not in (await client.get("/admin/flagged-message/list?search=zzz")).text
        decided = await client.get("/admin/flagged-message/list?status=decided")
        assert "You are useless" not in decided.text
