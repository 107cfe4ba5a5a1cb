"""Staff open a message's files from the report and thread pages: a POST with the CSRF token,
saved as an attachment in a sandbox, recorded on the thread's chain. A message a moderator
removed keeps its files from its participants."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import AuditEvent
from portal.services import moderation
from portal.settings import Settings
from tests.admin.support import post_form, sign_in
from tests.api.helpers import auth, make_pair, send_ok
from tests.attachments.files import PDF, uploaded_id
from tests.portal.moderation_support import staff

pytestmark = pytest.mark.parametrize("store_kind", ["local"], indirect=True)


async def test_staff_download_a_reported_messages_file_and_each_download_is_recorded(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings, session: AsyncSession
) -> None:
    employer, candidate = await make_pair(app)
    file_id = await uploaded_id(client, settings, employer, "offer.pdf", PDF)
    sent = await send_ok(client, settings, employer, candidate, "offer", attachment_ids=[file_id])
    message_id, thread_id = sent["message"]["id"], sent["thread"]["id"]
    flagged = await client.post(
        f"/api/v1/messages/{message_id}/flag?reason=spam", headers=auth(settings, candidate)
    )
    assert flagged.status_code == 200, flagged.text
    moderator = await staff(session, "moderator")

    async with AsyncTestClient(app=app) as browser:
        await sign_in(browser, moderator)
        action = f"/mod/attachments/{file_id}"
        report = await browser.get(f"/mod/reports/{message_id}")
        assert report.status_code == 200
        assert f'action="{action}"' in report.text and "offer.pdf" in report.text
        await post_form(browser, f"/mod/threads/{thread_id}/read")
        thread = await browser.get(f"/mod/threads/{thread_id}")
        assert f'action="{action}"' in thread.text

        assert (await browser.get(action)).status_code in (404, 405)  # no GET
        assert (await browser.post(action)).status_code == 403  # no CSRF token
        downloaded = await post_form(browser, action)
        assert downloaded.status_code == 200, downloaded.text
        assert downloaded.content == PDF
        assert downloaded.headers["content-disposition"].startswith('attachment; filename="offer')
        assert downloaded.headers["x-content-type-options"] == "nosniff"
        assert downloaded.headers["content-security-policy"].endswith("; sandbox")
        missing = await post_form(browser, f"/mod/attachments/{uuid.uuid4()}")
        assert missing.status_code == 404

    recorded = list(
        await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "attachment.downloaded_by_staff")
        )
    )
    assert [(e.actor_id, str(e.thread_id), e.details["sha256"]) for e in recorded] == [
        (moderator.id, thread_id, hashlib.sha256(PDF).hexdigest())
    ]
    assert (
        await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("attach%"))
        )
        == 1
    )


async def test_a_removed_messages_files_are_withheld_from_its_participants(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings, session: AsyncSession
) -> None:
    employer, candidate = await make_pair(app)
    file_id = await uploaded_id(client, settings, employer, "offer.pdf", PDF)
    sent = await send_ok(client, settings, employer, candidate, "offer", attachment_ids=[file_id])
    message_id = uuid.UUID(sent["message"]["id"])
    await client.post(
        f"/api/v1/messages/{message_id}/flag?reason=spam", headers=auth(settings, candidate)
    )
    moderator = await staff(session, "moderator")
    await moderation.remove_message(
        session, message_id, actor=moderator, reason="scam", grounds=moderation.Grounds("spam")
    )
    for reader in (employer, candidate):
        path = f"/api/v1/attachments/{file_id}"
        response = await client.get(path, headers=auth(settings, reader))
        assert (response.status_code, response.json()["code"]) == (410, "gone")
    thread = await client.get(
        f"/api/v1/messages/threads/{sent['thread']['id']}", headers=auth(settings, candidate)
    )
    assert thread.json()["messages"][0]["attachments"] == []
