"""Delivers the email outbox: claims due notifications, sends them over SMTP outside any database
transaction, and records each outcome with its audit event.

Several processes may run this at once (``portal serve`` workers and ``portal worker``). A row is
claimed in its own short transaction — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite — and leased for longer than a send can take, so no two workers send the
same notification. A worker that dies mid-send leaves a lease that runs out, and the row is tried
again. Each email carries a Message-ID derived from its outbox row, so in the rare case that a
mail server accepted a message whose success could not be recorded, receivers can deduplicate.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.database import read_transaction, write_transaction
from portal.models import EmailOutbox, Message
from portal.models.base import utcnow
from portal.services.notifications import NO_SMTP_REASON, log_skipped_email, record_email_event
from portal.settings import Settings

log = logging.getLogger(__name__)

MAX_SENDS_PER_PASS = 100
# A send is a connection plus a handful of SMTP commands, each bounded by the SMTP timeout; the
# whole exchange gets this many timeouts before it is abandoned.
SEND_DEADLINE_TIMEOUTS = 3
LEASE_MARGIN_SECONDS = 60
LAST_ERROR_LIMIT = 300
RECORD_SENT_RETRY_DELAYS = (0.5, 2.0, 5.0)


class Outcome(enum.Enum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"
    LOST = "lost"  # another worker took over an expired lease; it reports the outcome


@dataclass
class DeliveryStats:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    skipped: int = 0
    lost: int = 0
    outcomes: dict[uuid.UUID, Outcome] = field(default_factory=dict, repr=False)

    def add(self, outbox_id: uuid.UUID, outcome: Outcome) -> None:
        self.outcomes[outbox_id] = outcome
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    @property
    def handled(self) -> int:
        return len(self.outcomes)


@dataclass(frozen=True)
class _Claim:
    """What a send needs, copied out of the session so that sending touches no database."""

    outbox_id: uuid.UUID
    message_id: uuid.UUID | None
    thread_id: uuid.UUID | None
    to_address: str
    subject: str
    body_text: str
    body_html: str | None
    attempts: int
    claimed_until: datetime


class _SendFailed(Exception):
    def __init__(self, description: str, *, permanent: bool) -> None:
        super().__init__(description)
        self.description = description
        self.permanent = permanent


def send_deadline_seconds(settings: Settings) -> float:
    return float(settings.smtp.timeout_seconds * SEND_DEADLINE_TIMEOUTS)


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    """Capped exponential backoff: base, 2×base, 4×base … never more than the maximum."""
    exponent = min(max(attempts - 1, 0), 32)
    seconds = min(
        settings.email_backoff_base_seconds * 2**exponent, settings.email_backoff_max_seconds
    )
    return timedelta(seconds=seconds)


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(EmailOutbox.status == "pending", EmailOutbox.next_attempt_at <= now),
        # A claim whose lease ran out belongs to a worker that died mid-send.
        and_(EmailOutbox.status == "sending", EmailOutbox.claimed_until <= now),
    )


async def deliver_due(
    session_or_sessionmaker: AsyncSession | async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime | None = None,
    *,
    limit: int = MAX_SENDS_PER_PASS,
) -> DeliveryStats:
    """One pass: deliver up to ``limit`` notifications that are due at ``now`` (default: the
    clock). Safe to run concurrently with other passes, in this process or others."""
    if isinstance(session_or_sessionmaker, AsyncSession):
        return await _deliver(session_or_sessionmaker, settings, now, limit)
    async with session_or_sessionmaker() as session:
        return await _deliver(session, settings, now, limit)


async def _deliver(
    session: AsyncSession, settings: Settings, now: datetime | None, limit: int
) -> DeliveryStats:
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    stats = DeliveryStats()
    for _ in range(limit):
        claim = await _claim_next(session, settings, clock(), stats)
        if claim is None:
            break
        if isinstance(claim, Outcome):
            continue
        try:
            await _send(claim, settings)
        except _SendFailed as failure:
            outcome = await _record_failure(session, settings, claim, failure, clock())
        else:
            outcome = await _record_sent_with_retries(session, claim, clock())
        stats.add(claim.outbox_id, outcome)
    return stats


async def _claim_next(
    session: AsyncSession, settings: Settings, now: datetime, stats: DeliveryStats
) -> _Claim | Outcome | None:
    """Leases the next due row to this worker, or settles it at once when it must not be sent.

    Returns the claim, the outcome of a row settled without sending, or None when nothing is due.
    """
    # An unlocked look first, so that an idle worker never takes SQLite's write lock.
    async with read_transaction(session):
        if await session.scalar(select(EmailOutbox.id).where(_due(now)).limit(1)) is None:
            return None

    async with write_transaction(session):
        row = await session.scalar(
            select(EmailOutbox)
            .where(_due(now))
            .order_by(EmailOutbox.next_attempt_at, EmailOutbox.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        if row is None:
            return None
        message = (
            await session.get(Message, row.message_id, populate_existing=True)
            if row.message_id
            else None
        )
        thread_id = message.thread_id if message is not None else None

        settle: tuple[Outcome, str] | None = None
        if not settings.smtp.configured:
            settle = (Outcome.SKIPPED, NO_SMTP_REASON)
        # a moderation notice ("notice") is its own content: nothing about a message to check
        elif row.kind == "message" and (
            message is None or message.is_deleted or message.is_removed
        ):
            settle = (Outcome.SKIPPED, "the message is no longer there to read")
        elif row.kind == "message" and message is not None and message.is_read:
            settle = (Outcome.SKIPPED, "the recipient read the message before the email went out")
        elif row.status == "sending" and row.attempts >= settings.email_max_attempts:
            settle = (Outcome.FAILED, "the last delivery attempt was interrupted")
        if settle is not None:
            outcome, reason = settle
            await _settle_unsent(session, row, thread_id, outcome, reason)
            stats.add(row.id, outcome)
            return outcome

        row.status = "sending"
        row.attempts += 1
        row.claimed_until = now + timedelta(
            seconds=send_deadline_seconds(settings) + LEASE_MARGIN_SECONDS
        )
        return _Claim(
            outbox_id=row.id,
            message_id=row.message_id,
            thread_id=thread_id,
            to_address=row.to_address,
            subject=row.subject,
            body_text=row.body_text,
            body_html=row.body_html,
            attempts=row.attempts,
            claimed_until=row.claimed_until,
        )


async def _settle_unsent(
    session: AsyncSession,
    row: EmailOutbox,
    thread_id: uuid.UUID | None,
    outcome: Outcome,
    reason: str,
) -> None:
    row.status = "skipped" if outcome is Outcome.SKIPPED else "failed"
    row.claimed_until = None
    row.last_error = reason
    if outcome is Outcome.SKIPPED:
        log_skipped_email(row, reason)
    else:
        log.warning("email notification %s failed: %s", row.id, reason)
    await record_email_event(
        session,
        f"email.{row.status}",
        row,
        thread_id=thread_id,
        attempts=row.attempts,
        reason=reason,
    )


def _sender_domain(settings: Settings) -> str:
    address = parseaddr(settings.smtp.sender)[1]
    return address.rpartition("@")[2] or "localhost"


def notification_message_id(settings: Settings, outbox_id: uuid.UUID) -> str:
    """The same Message-ID on every attempt, so that receivers can drop a duplicate."""
    return f"<notification.{outbox_id}@{_sender_domain(settings)}>"


def _compose_email(claim: _Claim, settings: Settings, now: datetime) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.smtp.sender
    email["To"] = claim.to_address
    email["Subject"] = claim.subject
    email["Date"] = format_datetime(now)
    email["Message-ID"] = notification_message_id(settings, claim.outbox_id)
    email["Auto-Submitted"] = "auto-generated"
    email["X-Auto-Response-Suppress"] = "All"
    email.set_content(claim.body_text)
    if claim.body_html:
        email.add_alternative(claim.body_html, subtype="html")
    return email


def _describe(exc: BaseException, settings: Settings) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        text = f"no answer within {send_deadline_seconds(settings):g} s"
    elif isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
    elif isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{exc.code} {exc.message}"
    else:
        text = str(exc)
    description = f"{type(exc).__name__}: {text}".strip()
    for secret in (settings.smtp.password, settings.smtp.username):
        if secret:
            description = description.replace(secret, "***")
    return description[:LAST_ERROR_LIMIT]


def _is_permanent(exc: BaseException) -> bool:
    """Only a recipient refused with a 5xx reply is final; everything else may be passing (a
    server down, a full queue) or a configuration an operator will fix, and is retried."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(500 <= r.code < 600 for r in exc.recipients)
    return isinstance(exc, aiosmtplib.SMTPRecipientRefused) and 500 <= exc.code < 600


async def _send(claim: _Claim, settings: Settings) -> None:
    smtp = settings.smtp
    client = aiosmtplib.SMTP(
        hostname=smtp.host,
        port=smtp.port,
        username=smtp.username,
        password=smtp.password if smtp.username else None,
        use_tls=smtp.use_tls,
        start_tls=False if smtp.use_tls else smtp.starttls,
        timeout=smtp.timeout_seconds,
    )
    try:
        email = _compose_email(claim, settings, utcnow())
        async with asyncio.timeout(send_deadline_seconds(settings)):
            await client.connect()
            await client.send_message(email)
    except Exception as exc:
        client.close()
        raise _SendFailed(_describe(exc, settings), permanent=_is_permanent(exc)) from exc
    except BaseException:
        client.close()
        raise
    # The server has taken the message: a slow or failed goodbye must not make it look unsent.
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


async def _owned_row(session: AsyncSession, claim: _Claim) -> EmailOutbox | None:
    return await session.get(
        EmailOutbox, claim.outbox_id, with_for_update=True, populate_existing=True
    )


async def _record_sent_with_retries(session: AsyncSession, claim: _Claim, now: datetime) -> Outcome:
    # The email is out; losing that fact would send it again once the lease runs out.
    for delay in RECORD_SENT_RETRY_DELAYS:
        try:
            return await _record_sent(session, claim, now)
        except Exception as exc:
            log.warning(
                "recording email notification %s as sent failed (%s); retrying",
                claim.outbox_id,
                type(exc).__name__,
            )
            await asyncio.sleep(delay)
    try:
        return await _record_sent(session, claim, now)
    except Exception:
        log.exception(
            "email notification %s was sent but could not be recorded; it may be sent again "
            "when its lease ends",
            claim.outbox_id,
        )
        raise


async def _record_sent(session: AsyncSession, claim: _Claim, now: datetime) -> Outcome:
    async with write_transaction(session):
        row = await _owned_row(session, claim)
        if row is None or row.status == "sent":
            return Outcome.LOST
        if row.claimed_until != claim.claimed_until:
            log.warning("email notification %s was sent after its lease ran out", claim.outbox_id)
        row.status = "sent"
        row.sent_at = now
        row.claimed_until = None
        row.last_error = None
        if claim.message_id is not None:
            await session.execute(
                update(Message)
                .where(Message.id == claim.message_id)
                .values(email_sent=True, email_sent_at=now)
                .execution_options(synchronize_session=False)
            )
        await record_email_event(
            session, "email.sent", row, thread_id=claim.thread_id, attempts=row.attempts
        )
    log.info("email notification %s sent on attempt %d", claim.outbox_id, claim.attempts)
    return Outcome.SENT


async def _record_failure(
    session: AsyncSession,
    settings: Settings,
    claim: _Claim,
    failure: _SendFailed,
    now: datetime,
) -> Outcome:
    async with write_transaction(session):
        row = await _owned_row(session, claim)
        if row is None or row.status != "sending" or row.claimed_until != claim.claimed_until:
            return Outcome.LOST
        row.last_error = failure.description
        row.claimed_until = None
        if failure.permanent or row.attempts >= settings.email_max_attempts:
            row.status = "failed"
            log.warning(
                "email notification %s failed after %d attempts: %s",
                row.id,
                row.attempts,
                failure.description,
            )
            await record_email_event(
                session,
                "email.failed",
                row,
                thread_id=claim.thread_id,
                attempts=row.attempts,
                reason=failure.description,
            )
            return Outcome.FAILED
        row.status = "pending"
        row.next_attempt_at = now + retry_delay(settings, row.attempts)
        log.info(
            "email notification %s attempt %d failed (%s); next try at %s",
            row.id,
            row.attempts,
            failure.description,
            row.next_attempt_at.isoformat(),
        )
        return Outcome.RETRY
