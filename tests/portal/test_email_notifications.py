"""Queueing email notifications for offline recipients, in the send's own transaction."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import write_transaction
from portal.email_delivery import deliver_due
from portal.models import AuditEvent, EmailOutbox, Message, MessageThread, User
from portal.models.base import utcnow
from portal.services.notifications import (
    open_tracking_token,
    queue_offline_notification,
    read_open_tracking_token,
)
from portal.settings import Settings
from tests.conftest import no_database, settings_with
from tests.people import person
from tests.smtp_server import free_port, smtp_settings

SECRET_BODY = "Our offer is 123,456 per year - please keep this between us."


@dataclass
class Notified:
    employer: User
    candidate: User
    thread: MessageThread
    message: Message
    outbox: EmailOutbox | None


async def notified_conversation(
    session: AsyncSession,
    settings: Settings,
    *,
    employer: User | None = None,
    candidate_last_active_at: datetime | None = None,
    employer_name: str = "Dana Recruiter",
    body: str = SECRET_BODY,
) -> Notified:
    """An employer's message to a new candidate, stored the way a send stores it, with the
    notification queued in the same transaction."""
    if employer is None:
        employer = await person(session, "employer", employer_name)
    candidate = await person(session, "candidate", "Casey Candidate")
    async with write_transaction(session):
        candidate.last_active_at = candidate_last_active_at
        thread = MessageThread(
            employer_id=employer.id,
            candidate_id=candidate.id,
            subject="Backend engineer",
            last_message_at=utcnow(),
            unread_count_candidate=1,
        )
        session.add(thread)
        await session.flush()
        message = Message(
            thread_id=thread.id,
            sender_id=employer.id,
            recipient_id=candidate.id,
            subject="Offer details",
            body=body,
        )
        session.add(message)
        outbox = await queue_offline_notification(
            session, message=message, sender=employer, recipient=candidate, settings=settings
        )
    return Notified(employer, candidate, thread, message, outbox)


def with_smtp(settings: Settings, port: int | None = None) -> Settings:
    return settings_with(settings, smtp=smtp_settings(port or free_port()))


async def count(session: AsyncSession, model: type, *conditions: object) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*conditions)))


async def test_offline_recipient_gets_a_pending_notification_without_the_message_body(
    session: AsyncSession, settings: Settings
) -> None:
    settings = with_smtp(settings)
    notified = await notified_conversation(session, settings)

    outbox = notified.outbox
    assert outbox is not None
    stored = await session.get(EmailOutbox, outbox.id, populate_existing=True)
    assert stored is not None
    assert stored.status == "pending"
    assert stored.attempts == 0
    assert stored.message_id == notified.message.id
    assert stored.recipient_id == notified.candidate.id
    assert stored.to_address == notified.candidate.email
    assert stored.next_attempt_at <= utcnow()
    assert stored.subject == "New message from Dana Recruiter"
    thread_link = f"{settings.base_url}/threads/{notified.thread.id}"
    for body in (stored.body_text, stored.body_html or ""):
        assert "Dana Recruiter" in body
        assert thread_link in body
        assert "123,456" not in body
        assert "Offer details" not in body
    assert "/api/v1/email/opened/" in (stored.body_html or "")


async def test_recently_active_recipient_gets_no_notification(
    session: AsyncSession, settings: Settings
) -> None:
    settings = with_smtp(settings)
    notified = await notified_conversation(
        session, settings, candidate_last_active_at=utcnow() - timedelta(seconds=30)
    )

    assert notified.outbox is None
    assert await count(session, EmailOutbox) == 0


async def test_recipient_idle_longer_than_the_threshold_counts_as_offline(
    session: AsyncSession, settings: Settings
) -> None:
    settings = with_smtp(settings_with(settings, offline_after_seconds=120))
    notified = await notified_conversation(
        session, settings, candidate_last_active_at=utcnow() - timedelta(seconds=121)
    )

    assert notified.outbox is not None
    assert await count(session, EmailOutbox, EmailOutbox.status == "pending") == 1


async def test_without_smtp_the_notification_is_logged_and_skipped(
    session: AsyncSession, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    assert not settings.smtp.configured
    with caplog.at_level(logging.INFO, logger="portal.services.notifications"):
        notified = await notified_conversation(session, settings)

    assert notified.outbox is not None
    assert await count(session, EmailOutbox, EmailOutbox.status == "skipped") == 1
    assert (
        await count(
            session,
            AuditEvent,
            AuditEvent.action == "email.skipped",
            AuditEvent.subject_id == notified.message.id,
            AuditEvent.thread_id == notified.thread.id,
        )
        == 1
    )
    logged = caplog.text
    assert "skipped" in logged
    assert f"/threads/{notified.thread.id}" in logged
    assert "123,456" not in logged

    stats = await deliver_due(session, settings)
    assert stats.handled == 0


async def test_sender_name_cannot_break_the_subject_line_or_the_html(
    session: AsyncSession, settings: Settings
) -> None:
    settings = with_smtp(settings)
    # Provisioning refuses such a name now; one stored before it did is still made harmless.
    employer = await person(session, "employer", "Mallory")
    async with write_transaction(session):
        await session.execute(
            update(User)
            .where(User.id == employer.id)
            .values(display_name="Mallory\r\nBcc: victim@example.com <script>x</script>")
        )
    await session.refresh(employer)
    notified = await notified_conversation(session, settings, employer=employer)

    assert notified.outbox is not None
    assert "\n" not in notified.outbox.subject
    assert "\r" not in notified.outbox.subject
    assert "<script>" not in (notified.outbox.body_html or "")
    assert "&lt;script&gt;" in (notified.outbox.body_html or "")


@no_database
def test_open_tracking_tokens_are_signed(settings: Settings) -> None:
    outbox_id = uuid.uuid4()
    token = open_tracking_token(settings, outbox_id)

    assert read_open_tracking_token(settings, token) == outbox_id
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert read_open_tracking_token(settings, forged) is None
    assert read_open_tracking_token(settings, outbox_id.hex) is None
    assert read_open_tracking_token(settings, "") is None
    assert read_open_tracking_token(settings, "é.é") is None
    other = settings_with(settings, session_secret="another-secret-" + "z" * 40)
    assert read_open_tracking_token(other, token) is None
