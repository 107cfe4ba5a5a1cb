"""/mod/threads/{id} for every staff role: the timeline, the text shown only once its reading is
recorded (a POST, at most one event an hour per staff member and thread), links from the
report and user pages; no GET writes."""

from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from portal.services.thread_timeline import READ_ACTION
from portal.settings import Settings
from tests.admin.support import ROLES, make_world, post_form, sign_in, snapshot
from tests.portal.moderation_support import audit_count


async def test_every_role_reads_a_thread_and_the_read_is_recorded_once(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings, body="You are useless")
    path = f"/mod/threads/{world.message.thread_id}"
    async with AsyncTestClient(app=app) as client:
        signed_out = await client.get(path, follow_redirects=False)
        assert signed_out.status_code in (302, 303)
        for n, role in enumerate(ROLES, start=1):
            await sign_in(client, world.account(role))
            before = await snapshot(session)
            page = await client.get(path)
            assert page.status_code == 200, role
            assert "Erin Employer" in page.text and "Cody Candidate" in page.text
            assert "You are useless" not in page.text  # not until the reading is recorded
            assert 'id="read-messages"' in page.text
            assert "verified" in page.text  # the chain, recomputed
            assert "Cody Candidate reported a message: harassment" in page.text
            assert await snapshot(session) == before  # a GET writes nothing
            opened = await post_form(client, f"{path}/read")
            assert opened.status_code == 303 and opened.headers["location"].startswith(path)
            shown = (await client.get(path)).text
            assert "You are useless" in shown and 'id="read-messages"' not in shown
            assert "Opened by staff" in shown and world.account(role).display_name in shown
            again = await post_form(client, f"{path}/read")  # a reload of the form, say
            assert again.status_code == 303
            assert await audit_count(session, READ_ACTION) == n  # one a staff member
        missing = await client.get(f"/mod/threads/{uuid.uuid4()}")
        assert missing.status_code == 404
        no_thread = await post_form(client, f"/mod/threads/{uuid.uuid4()}/read")
        assert no_thread.status_code == 404
        unsigned = await client.post(f"{path}/read", follow_redirects=False)
        assert unsigned.status_code == 403  # no CSRF token


async def test_report_and_user_pages_link_the_thread(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    link = f'href="/mod/threads/{world.message.thread_id}"'
    async with AsyncTestClient(app=app) as client:
        for role in ROLES:
            await sign_in(client, world.account(role))
            report = (await client.get(f"/mod/reports/{world.message.id}")).text
            assert link in report, role
            user = (await client.get(f"/mod/users/{world.sender.id}")).text
            assert link in user, role
        compliance = (await client.get(f"/mod/compliance/threads/{world.message.thread_id}")).text
        thread = (await client.get(f"/mod/threads/{world.message.thread_id}")).text
    assert 'id="thread-audit-link"' in thread  # admin: the compliance page is a click away
    assert link in compliance
