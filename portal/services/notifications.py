"""Email notifications to offline recipients, through the email outbox, and their open receipts.

A send only writes an outbox row in its own transaction; :mod:`portal.email_delivery` talks to
SMTP later, so a slow or absent mail server can never fail or slow a send.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from itsdangerous import BadSignature, Signer
from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, record_event
from portal.database import on_commit, read_transaction, write_transaction
from portal.email_content import (
    NotificationEmail,
    new_message_email,
    notice_email,
    open_tracking_url,
    thread_url,
)
from portal.events.hub import hub_of
from portal.log_text import loggable
from portal.models import EmailOutbox, Message
from portal.models.base import new_id, utcnow
from portal.models.rows import UserRow
from portal.settings import Settings

log = logging.getLogger(__name__)

_OPEN_TOKEN_SALT = "portal.email-opened"
NO_SMTP_REASON = "no SMTP server is configured"


def is_offline(recipient: UserRow, settings: Settings, now: datetime) -> bool:
    if recipient.last_active_at is None:
        return True
    return now - recipient.last_active_at >= timedelta(seconds=settings.offline_after_seconds)


async def is_away(
    session: AsyncSession, recipient: UserRow, settings: Settings, now: datetime
) -> bool:
    """Offline, and with no event stream open in any process (someone watching the app sees
    what happens there, so no email is needed)."""
    if not is_offline(recipient, settings, now):
        return False
    hub = hub_of(session)
    return hub is None or not await hub.is_watching(recipient.id)


def _open_token_signer(settings: Settings) -> Signer:
    return Signer(settings.session_secret, salt=_OPEN_TOKEN_SALT, digest_method=hashlib.sha256)


def open_tracking_token(settings: Settings, outbox_id: uuid.UUID) -> str:
    """A tamper-proof name for one notification, for the tracking image URL."""
    return _open_token_signer(settings).sign(outbox_id.hex).decode("ascii")


def read_open_tracking_token(settings: Settings, token: str) -> uuid.UUID | None:
    """The outbox id a token was signed for, or None for anything forged or malformed."""
    try:
        value = _open_token_signer(settings).unsign(token.encode("ascii"))
        return uuid.UUID(hex=value.decode("ascii"))
    except (BadSignature, UnicodeError, ValueError):
        return None


async def queue_offline_notification(
    session: AsyncSession,
    *,
    message: Message,
    sender: UserRow,
    recipient: UserRow,
    settings: Settings,
) -> EmailOutbox | None:
    """Called inside the send's transaction; stores the intent to email an offline recipient.

    Returns the outbox row, or None when the recipient is online. With no SMTP server configured
    the row is still stored, already ``skipped``, and the email is written to the log instead,
    once the send commits.
    """
    now = utcnow()
    if not await is_away(session, recipient, settings, now):
        return None
    if message.id is None or message.thread_id is None:
        await session.flush()

    outbox_id = new_id()
    content = new_message_email(
        sender_name=sender.display_name,
        recipient_name=recipient.display_name,
        thread_link=thread_url(settings, message.thread_id),
        tracking_link=open_tracking_url(settings, open_tracking_token(settings, outbox_id)),
    )
    return await _store(
        session,
        recipient,
        content,
        settings,
        now=now,
        outbox_id=outbox_id,
        message_id=message.id,
        thread_id=message.thread_id,
    )


async def queue_notice(
    session: AsyncSession,
    *,
    recipient: UserRow,
    subject: str,
    paragraphs: list[str],
    settings: Settings,
    thread_id: uuid.UUID | None = None,
    only_if_offline: bool = False,
) -> EmailOutbox | None:
    """Inside the caller's transaction, stores a moderation notice's email for the outbox (as
    :func:`queue_offline_notification` does for a message). ``only_if_offline``: not for a
    recipient who is using the app now (they see it there)."""
    now = utcnow()
    if only_if_offline and not await is_away(session, recipient, settings, now):
        return None
    content = notice_email(
        subject=subject, recipient_name=recipient.display_name, paragraphs=paragraphs
    )
    return await _store(
        session, recipient, content, settings, now=now, kind="notice", thread_id=thread_id
    )


async def _store(
    session: AsyncSession,
    recipient: UserRow,
    content: NotificationEmail,
    settings: Settings,
    *,
    now: datetime,
    thread_id: uuid.UUID | None,
    outbox_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    kind: str = "message",
) -> EmailOutbox:
    """The outbox row of one email, in the caller's transaction. With no SMTP server configured
    it is stored already ``skipped`` and the email goes to the log once the change commits (the
    log is the mail transport then, never for a change that is rolled back)."""
    outbox = EmailOutbox(
        id=outbox_id or new_id(),
        message_id=message_id,
        kind=kind,
        recipient_id=recipient.id,
        to_address=recipient.email,
        subject=content.subject,
        body_text=content.body_text,
        body_html=content.body_html,
        status="pending" if settings.smtp.configured else "skipped",
        attempts=0,
        next_attempt_at=now,
    )
    session.add(outbox)
    if not settings.smtp.configured:
        on_commit(session, lambda: log_skipped_email(outbox, NO_SMTP_REASON))
        await record_email_event(
            session, "email.skipped", outbox, thread_id=thread_id, reason=NO_SMTP_REASON
        )
    return outbox


def log_skipped_email(outbox: EmailOutbox, reason: str) -> None:
    """The embedded mode's mail transport: the email goes to the log (it holds no message body)."""
    log.info(
        "email notification %s skipped (%s)\nTo: %s\nSubject: %s\n\n%s",
        outbox.id,
        reason,
        loggable(outbox.to_address),
        loggable(outbox.subject),
        outbox.body_text,
    )


async def record_email_opened(session: AsyncSession, settings: Settings, token: str) -> bool:
    """Marks the notified message's email as opened on the first load of its tracking image.

    Returns True only for the load that changed something; forged tokens and repeat loads
    change nothing.
    """
    outbox_id = read_open_tracking_token(settings, token)
    if outbox_id is None:
        return False
    async with read_transaction(session):
        target = (
            await session.execute(
                select(Message.id, Message.thread_id, Message.email_opened)
                .join(EmailOutbox, EmailOutbox.message_id == Message.id)
                .where(EmailOutbox.id == outbox_id)
            )
        ).one_or_none()
    # Repeat loads are the common case; they must not take SQLite's write lock.
    if target is None or target.email_opened:
        return False

    now = utcnow()
    async with write_transaction(session):
        result = cast(
            "CursorResult[Any]",
            await session.execute(
                update(Message)
                .where(Message.id == target.id, Message.email_opened.is_(False))
                .values(email_opened=True, email_opened_at=now)
                .execution_options(synchronize_session=False)
            ),
        )
        if result.rowcount != 1:
            return False
        await record_event(
            session,
            actor=Actor.system(),
            action="email.opened",
            subject_type="message",
            subject_id=target.id,
            thread_id=target.thread_id,
            details={"outbox_id": str(outbox_id)},
        )
    return True


async def record_email_event(
    session: AsyncSession,
    action: str,
    outbox: EmailOutbox,
    *,
    thread_id: uuid.UUID | None,
    **details: object,
) -> None:
    """The audit event of one step in a notification's life (skipped, sent, failed)."""
    await record_event(
        session,
        actor=Actor.system(),
        action=action,
        subject_type="message",
        subject_id=outbox.message_id,
        thread_id=thread_id,
        details={
            "outbox_id": str(outbox.id),
            "recipient_id": str(outbox.recipient_id) if outbox.recipient_id else None,
            **details,
        },
    )
