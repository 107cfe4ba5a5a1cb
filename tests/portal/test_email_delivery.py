"""Delivering the email outbox to a real SMTP server (aiosmtpd), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.database import create_engine, create_sessionmaker, write_transaction
from portal.email_delivery import (
    deliver_due,
    notification_message_id,
    retry_delay,
)
from portal.models import AuditEvent, EmailOutbox, Message
from portal.models.base import utcnow
from portal.settings import Settings
from server.app import create_app
from server.workers import run_delivery_loop
from tests.conftest import no_database, settings_with
from tests.portal.test_email_notifications import count, notified_conversation, with_smtp
from tests.smtp_server import TEST_SENDER, RecordingHandler, free_port, running_smtp_server


async def outbox_row(session: AsyncSession, outbox_id: object) -> EmailOutbox:
    row = await session.get(EmailOutbox, outbox_id, populate_existing=True)
    assert row is not None
    return row


async def message_row(session: AsyncSession, message_id: object) -> Message:
    row = await session.get(Message, message_id, populate_existing=True)
    assert row is not None
    return row


async def wait_for(condition: Callable[[], bool], *, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_offline_recipient_gets_exactly_one_email(
    session: AsyncSession, settings: Settings
) -> None:
    port = free_port()
    settings = with_smtp(settings, port)
    notified = await notified_conversation(session, settings)
    assert notified.outbox is not None

    with running_smtp_server(port) as smtp:
        stats = await deliver_due(session, settings)
        again = await deliver_due(session, settings, now=utcnow() + timedelta(days=1))

    assert (stats.sent, again.handled) == (1, 0)
    [received] = smtp.messages()
    assert received.rcpt_tos == [notified.candidate.email]
    assert received.message["To"] == notified.candidate.email
    assert received.message["From"] == TEST_SENDER
    assert received.message["Subject"] == "New message from Dana Recruiter"
    assert received.message["Message-ID"] == notification_message_id(settings, notified.outbox.id)
    thread_link = f"{settings.base_url}/threads/{notified.thread.id}"
    for body in (received.text(), received.html()):
        assert "Dana Recruiter" in body
        assert thread_link in body
        assert "123,456" not in body
    assert "/api/v1/email/opened/" in received.html()

    outbox = await outbox_row(session, notified.outbox.id)
    assert (outbox.status, outbox.attempts, outbox.claimed_until) == ("sent", 1, None)
    assert outbox.sent_at is not None
    message = await message_row(session, notified.message.id)
    assert message.email_sent is True
    assert message.email_sent_at == outbox.sent_at
    assert (
        await count(
            session,
            AuditEvent,
            AuditEvent.action == "email.sent",
            AuditEvent.actor_type == "system",
            AuditEvent.subject_id == notified.message.id,
            AuditEvent.thread_id == notified.thread.id,
        )
        == 1
    )


async def test_smtp_down_then_back_delivers_exactly_once(
    session: AsyncSession, settings: Settings
) -> None:
    port = free_port()  # nothing listens here yet
    settings = with_smtp(settings, port)
    notified = await notified_conversation(session, settings)
    assert notified.outbox is not None
    now = utcnow()

    first = await deliver_due(session, settings, now=now)
    outbox = await outbox_row(session, notified.outbox.id)
    assert first.retry == 1
    assert (outbox.status, outbox.attempts) == ("pending", 1)
    assert outbox.last_error and "Connect" in outbox.last_error
    assert outbox.next_attempt_at == now + timedelta(seconds=settings.email_backoff_base_seconds)

    not_yet = await deliver_due(session, settings, now=now + timedelta(seconds=1))
    assert not_yet.handled == 0

    later = outbox.next_attempt_at
    second = await deliver_due(session, settings, now=later)
    outbox = await outbox_row(session, notified.outbox.id)
    assert second.retry == 1
    assert outbox.attempts == 2
    assert outbox.next_attempt_at == later + 2 * timedelta(
        seconds=settings.email_backoff_base_seconds
    )

    with running_smtp_server(port) as smtp:
        recovered = await deliver_due(session, settings, now=outbox.next_attempt_at)
        repeat = await deliver_due(
            session, settings, now=outbox.next_attempt_at + timedelta(days=1)
        )

    assert (recovered.sent, repeat.handled) == (1, 0)
    assert len(smtp.messages()) == 1
    outbox = await outbox_row(session, notified.outbox.id)
    assert (outbox.status, outbox.attempts, outbox.last_error) == ("sent", 3, None)
    assert (await message_row(session, notified.message.id)).email_sent is True


@no_database
def test_backoff_doubles_and_is_capped(settings: Settings) -> None:
    settings = settings_with(settings, email_backoff_base_seconds=30, email_backoff_max_seconds=300)

    delays = [retry_delay(settings, attempts).total_seconds() for attempts in range(1, 8)]

    assert delays == [30, 60, 120, 240, 300, 300, 300]
    assert retry_delay(settings, 10_000).total_seconds() == 300


async def test_gives_up_after_max_attempts_and_keeps_the_failure_visible(
    session: AsyncSession, settings: Settings
) -> None:
    settings = with_smtp(settings_with(settings, email_max_attempts=3))
    notified = await notified_conversation(session, settings)
    assert notified.outbox is not None

    now = utcnow()
    outcomes = []
    for _ in range(5):
        stats = await deliver_due(session, settings, now=now)
        outcomes.append((stats.retry, stats.failed))
        now += timedelta(hours=2)

    assert outcomes == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    outbox = await outbox_row(session, notified.outbox.id)
    assert (outbox.status, outbox.attempts, outbox.claimed_until) == ("failed", 3, None)
    assert outbox.last_error and "Connect" in outbox.last_error
    assert (await message_row(session, notified.message.id)).email_sent is False
    failed = await session.scalar(select(AuditEvent).where(AuditEvent.action == "email.failed"))
    assert failed is not None
    assert failed.subject_id == notified.message.id
    assert failed.details["attempts"] == 3


async def test_recipient_refused_for_good_fails_at_once(
    session: AsyncSession, settings: Settings
) -> None:
    port = free_port()
    settings = with_smtp(settings, port)
    notified = await notified_conversation(session, settings)
    assert notified.outbox is not None

    refusing = RecordingHandler(refuse_recipients="550 5.1.1 No such mailbox")
    with running_smtp_server(port, refusing):
        stats = await deliver_due(session, settings)

    assert stats.failed == 1
    outbox = await outbox_row(session, notified.outbox.id)
    assert (outbox.status, outbox.attempts) == ("failed", 1)
    assert outbox.last_error and "550" in outbox.last_error
    assert refusing.messages() == []


async def test_a_silent_server_is_abandoned_within_the_timeout(
    session: AsyncSession, settings: Settings
) -> None:
    # A listening socket that never accepts: TCP connects, the SMTP greeting never comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        settings = with_smtp(settings, port)
        settings = settings_with(settings, smtp=settings_with(settings.smtp, timeout_seconds=1))
        notified = await notified_conversation(session, settings)
        assert notified.outbox is not None

        started = time.monotonic()
        stats = await deliver_due(session, settings)
        elapsed = time.monotonic() - started

    assert stats.retry == 1
    assert elapsed < 3.5
    outbox = await outbox_row(session, notified.outbox.id)
    assert outbox.status == "pending"
    assert outbox.last_error and "Timeout" in outbox.last_error


async def test_concurrent_passes_send_each_email_once(
    engine: AsyncEngine, session: AsyncSession, settings: Settings
) -> None:
    port = free_port()
    settings = with_smtp(settings, port)
    first = await notified_conversation(session, settings)
    others = [
        await notified_conversation(session, settings, employer=first.employer) for _ in range(7)
    ]
    recipients = sorted(n.candidate.email for n in [first, *others])
    sessionmaker = create_sessionmaker(engine)

    with running_smtp_server(port) as smtp:
        async with sessionmaker() as one, sessionmaker() as two, sessionmaker() as three:
            passes = await asyncio.gather(
                deliver_due(one, settings),
                deliver_due(two, settings),
                deliver_due(three, settings),
            )

    assert sum(p.sent for p in passes) == 8
    assert sorted(r for m in smtp.messages() for r in m.rcpt_tos) == recipients
    assert await count(session, EmailOutbox, EmailOutbox.status == "sent") == 8
    assert await count(session, AuditEvent, AuditEvent.action == "email.sent") == 8


async def test_a_dead_workers_claim_is_retried_after_its_lease_but_a_live_one_is_not(
    session: AsyncSession, settings: Settings
) -> None:
    port = free_port()
    settings = with_smtp(settings, port)
    crashed = await notified_conversation(session, settings)
    in_flight = await notified_conversation(session, settings, employer=crashed.employer)
    assert crashed.outbox is not None and in_flight.outbox is not None
    now = utcnow()
    async with write_transaction(session):
        for outbox_id, lease_end in (
            (crashed.outbox.id, now - timedelta(seconds=1)),
            (in_flight.outbox.id, now + timedelta(minutes=5)),
        ):
            await session.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == outbox_id)
                .values(status="sending", attempts=1, claimed_until=lease_end)
            )

    with running_smtp_server(port) as smtp:
        stats = await deliver_due(session, settings, now=now)

    assert stats.sent == 1
    assert [m.rcpt_tos for m in smtp.messages()] == [[crashed.candidate.email]]
    assert (await outbox_row(session, crashed.outbox.id)).attempts == 2
    assert (await outbox_row(session, in_flight.outbox.id)).status == "sending"


async def test_an_interrupted_last_attempt_is_given_up(
    session: AsyncSession, settings: Settings
) -> None:
    settings = with_smtp(settings_with(settings, email_max_attempts=2))
    notified = await notified_conversation(session, settings)
    assert notified.outbox is not None
    now = utcnow()
    async with write_transaction(session):
        await session.execute(
            update(EmailOutbox)
            .where(EmailOutbox.id == notified.outbox.id)
            .values(status="sending", attempts=2, claimed_until=now - timedelta(seconds=1))
        )

    stats = await deliver_due(session, settings, now=now)

    assert stats.failed == 1
    assert (await outbox_row(session, notified.outbox.id)).status == "failed"


@pytest.mark.parametrize("change", ["is_read", "is_removed", "is_deleted"])
async def test_a_message_read_or_gone_before_delivery_is_not_emailed(
    session: AsyncSession, settings: Settings, change: str
) -> None:
    port = free_port()
    settings = with_smtp(settings, port)
    notified = await notified_conversation(session, settings)
    assert notified.outbox is not None
    async with write_transaction(session):
        await session.execute(
            update(Message)
            .where(Message.id == notified.message.id)
            .values({change: True})
            .execution_options(synchronize_session=False)
        )

    with running_smtp_server(port) as smtp:
        stats = await deliver_due(session, settings)

    assert stats.skipped == 1
    assert smtp.messages() == []
    outbox = await outbox_row(session, notified.outbox.id)
    assert outbox.status == "skipped"
    assert await count(session, AuditEvent, AuditEvent.action == "email.skipped") == 1


async def test_rows_queued_before_smtp_was_unconfigured_are_skipped(
    session: AsyncSession, settings: Settings
) -> None:
    notified = await notified_conversation(session, with_smtp(settings))
    assert notified.outbox is not None

    stats = await deliver_due(session, settings)

    assert stats.skipped == 1
    assert (await outbox_row(session, notified.outbox.id)).status == "skipped"


async def test_delivery_loop_sends_and_stops(
    engine: AsyncEngine, session: AsyncSession, settings: Settings
) -> None:
    port = free_port()
    settings = settings_with(with_smtp(settings, port), email_poll_seconds=0.05)
    notified = await notified_conversation(session, settings)
    stop = asyncio.Event()

    with running_smtp_server(port) as smtp:
        loop = asyncio.create_task(run_delivery_loop(settings, create_sessionmaker(engine), stop))
        await wait_for(lambda: len(smtp.messages()) == 1)
        stop.set()
        await asyncio.wait_for(loop, timeout=2)

    assert smtp.messages()[0].rcpt_tos == [notified.candidate.email]


async def test_delivery_loop_survives_a_database_outage(settings: Settings) -> None:
    broken = settings_with(
        with_smtp(settings),
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1",
        email_poll_seconds=0.05,
    )
    engine = create_engine(broken.database_url)
    stop = asyncio.Event()
    loop = asyncio.create_task(run_delivery_loop(broken, create_sessionmaker(engine), stop))
    try:
        await asyncio.sleep(0.3)
        assert not loop.done()
        stop.set()
        await asyncio.wait_for(loop, timeout=2)
    finally:
        await engine.dispose()


async def test_serve_runs_the_delivery_loop_in_process_when_configured(
    session: AsyncSession, settings: Settings
) -> None:
    port = free_port()
    settings = settings_with(
        with_smtp(settings, port), email_worker_in_serve=True, email_poll_seconds=0.05
    )
    notified = await notified_conversation(session, settings)
    assert notified.outbox is not None

    with running_smtp_server(port) as smtp:
        async with AsyncTestClient(app=create_app(settings)):
            await wait_for(lambda: len(smtp.messages()) == 1)
        tasks = {task.get_name() for task in asyncio.all_tasks()}

    assert "portal-email-delivery" not in tasks
    assert (await outbox_row(session, notified.outbox.id)).status == "sent"


@no_database
async def test_serve_leaves_delivery_to_the_worker_when_told_to(
    session: AsyncSession, settings: Settings
) -> None:
    settings = settings_with(with_smtp(settings), email_poll_seconds=0.05)
    assert settings.email_worker_in_serve is False

    async with AsyncTestClient(app=create_app(settings)):
        tasks = {task.get_name() for task in asyncio.all_tasks()}

    assert "portal-email-delivery" not in tasks
