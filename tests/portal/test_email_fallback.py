"""Email fallback end to end: a send through the API, delivery to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.email_delivery import deliver_due
from portal.models import EmailOutbox, Message, User
from portal.models.base import utcnow
from portal.settings import Settings
from portal.tokens import issue_user_token
from server.app import create_app
from tests.people import person
from tests.portal.test_email_notifications import count, with_smtp
from tests.smtp_server import TEST_SENDER, free_port, running_smtp_server

BODY = "Could you do a call on Thursday? The salary band is 95-110k."


async def people(session: AsyncSession) -> tuple[User, User]:
    return (
        await person(session, "employer", "Dana Recruiter"),
        await person(session, "candidate", "Casey Candidate"),
    )


def bearer(settings: Settings, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_user_token(settings, user.id)}"}


async def send(
    client: AsyncTestClient[Litestar], settings: Settings, sender: User, recipient: User
) -> dict[str, dict[str, str]]:
    response = await client.post(
        "/api/v1/messages",
        json={"recipient_id": str(recipient.id), "body": BODY, "body_format": "plain"},
        headers=bearer(settings, sender),
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_offline_recipient_gets_one_email_naming_the_sender_without_the_body(
    session: AsyncSession, settings: Settings
) -> None:
    port = free_port()
    settings = with_smtp(settings, port)
    employer, candidate = await people(session)

    async with AsyncTestClient(app=create_app(settings)) as client:
        sent = await send(client, settings, employer, candidate)
    with running_smtp_server(port) as smtp:
        stats = await deliver_due(session, settings)
        again = await deliver_due(session, settings, now=utcnow() + timedelta(days=1))

    assert (stats.sent, again.handled) == (1, 0)
    [received] = smtp.messages()
    assert received.rcpt_tos == [candidate.email]
    assert received.message["To"] == candidate.email
    assert received.message["From"] == TEST_SENDER
    thread_link = f"{settings.base_url}/threads/{sent['thread']['id']}"
    for body in (received.text(), received.html()):
        assert "Dana Recruiter" in body
        assert thread_link in body
        assert "salary" not in body
        assert "Thursday" not in body
    message = await session.get(Message, uuid.UUID(sent["message"]["id"]), populate_existing=True)
    assert message is not None
    assert message.email_sent is True
    assert message.email_sent_at is not None


async def test_online_recipient_gets_no_email(session: AsyncSession, settings: Settings) -> None:
    port = free_port()
    settings = with_smtp(settings, port)
    employer, candidate = await people(session)

    async with AsyncTestClient(app=create_app(settings)) as client:
        # Any authenticated request marks the candidate as active.
        seen = await client.get(
            "/api/v1/messages/unread-count", headers=bearer(settings, candidate)
        )
        assert seen.status_code == 200
        await send(client, settings, employer, candidate)
    with running_smtp_server(port) as smtp:
        stats = await deliver_due(session, settings)

    assert stats.handled == 0
    assert smtp.messages() == []
    assert await count(session, EmailOutbox) == 0


async def test_smtp_down_the_send_still_succeeds_and_the_email_arrives_once_later(
    session: AsyncSession, settings: Settings
) -> None:
    port = free_port()  # nothing listens here until the server "comes back"
    settings = with_smtp(settings, port)
    employer, candidate = await people(session)

    async with AsyncTestClient(app=create_app(settings)) as client:
        started = time.monotonic()
        sent = await send(client, settings, employer, candidate)
        elapsed = time.monotonic() - started
    assert elapsed < 5.0  # generous for a loaded machine; nothing in a send talks to SMTP

    now = utcnow()
    down = await deliver_due(session, settings, now=now)
    outbox = await session.scalar(select(EmailOutbox).execution_options(populate_existing=True))
    assert outbox is not None
    assert down.retry == 1
    assert (outbox.status, outbox.attempts) == ("pending", 1)
    assert outbox.last_error
    assert outbox.next_attempt_at > now

    with running_smtp_server(port) as smtp:
        back = await deliver_due(session, settings, now=outbox.next_attempt_at)
        later = await deliver_due(session, settings, now=outbox.next_attempt_at + timedelta(days=1))

    assert (back.sent, later.handled) == (1, 0)
    assert [m.rcpt_tos for m in smtp.messages()] == [[candidate.email]]
    message = await session.get(Message, uuid.UUID(sent["message"]["id"]), populate_existing=True)
    assert message is not None
    assert message.email_sent is True
