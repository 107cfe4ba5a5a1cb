"""Timed suspensions that lift themselves (with a clock the test controls), a user's history and
the day's overview."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import write_transaction
from portal.errors import Conflict, Forbidden, InvalidInput, NotFound
from portal.models import EmailOutbox, MessageBlock, RateLimitViolation
from portal.models.base import new_id, utcnow
from portal.services import moderation, moderation_records, suspensions
from portal.settings import Settings
from tests.api.helpers import auth, send_ok
from tests.portal.moderation_support import audit_count, report, send, staff, user

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


async def test_a_suspension_refuses_sends_until_it_ends(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    employer, candidate = await user(session, "employer"), await user(session, "candidate")

    await suspensions.suspend_user(
        session, employer.id, actor=moderator, reason="spam", days=1, now=T0, policy="spam"
    )

    with pytest.raises(Forbidden, match="suspended until 2026-03-03T09:30:00"):
        await send(session, settings, employer, candidate, now=T0 + timedelta(hours=23))
    history = await moderation_records.user_history(
        session, employer.id, now=T0 + timedelta(hours=1)
    )
    assert history.suspended and history.suspended_until == T0 + timedelta(days=1)
    # the end passes: nothing lifts it, and yet it no longer applies
    after = T0 + timedelta(days=1, seconds=1)
    message = await send(session, settings, employer, candidate, "I'm back", now=after)
    assert message.body == "I'm back"
    history = await moderation_records.user_history(session, employer.id, now=after)
    assert not history.suspended and history.suspended_until is None


async def test_the_api_refuses_a_suspended_users_send_with_403_and_lets_them_back_after(
    session: AsyncSession, settings: Settings, client: AsyncTestClient[Litestar], app: Litestar
) -> None:
    moderator = await staff(session, "moderator")
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    message = await send(session, settings, employer, candidate, "first")
    await report(session, message, candidate, "harassment")

    await moderation.suspend_sender(
        session,
        message.id,
        actor=moderator,
        reason="threats",
        days=1,
        grounds=moderation.Grounds(policy="spam"),
    )
    refused = await client.post(
        "/api/v1/messages",
        json={"recipient_id": str(candidate.id), "body": "again"},
        headers=auth(settings, employer),
    )
    assert refused.status_code == 403
    assert "suspended" in refused.json()["detail"]

    # the same suspension decided two days ago has ended by now
    other = await user(session, "employer")
    await suspensions.suspend_user(
        session,
        other.id,
        actor=moderator,
        reason="x",
        days=1,
        now=utcnow() - timedelta(days=2),
        policy="spam",
    )
    await send_ok(client, settings, other, candidate, "back again")


async def test_indefinite_suspension_and_lifting_it_early(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    await suspensions.suspend_user(
        session, employer.id, actor=moderator, reason="x", days=None, policy="spam"
    )
    with pytest.raises(Forbidden):
        await send(session, settings, employer, candidate, now=utcnow() + timedelta(days=3650))

    with pytest.raises(InvalidInput):
        await suspensions.lift_suspension(session, employer.id, actor=moderator, reason=" ")
    await suspensions.lift_suspension(session, employer.id, actor=moderator, reason="appeal won")
    await send(session, settings, employer, candidate, "allowed")
    with pytest.raises(Conflict):
        await suspensions.lift_suspension(session, employer.id, actor=moderator, reason="again")
    assert await audit_count(session, "user.suspension_lifted") == 1
    with pytest.raises(NotFound):
        await suspensions.suspend_user(
            session, uuid.uuid4(), actor=moderator, reason="x", days=1, policy="spam"
        )
    with pytest.raises(InvalidInput):
        await suspensions.suspend_user(
            session, employer.id, actor=moderator, reason="x", days=5, policy="spam"
        )


async def test_user_history_counts_timeline_and_notes(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator", "Moderator Mia")
    admin = await staff(session, "admin", "Admin Abe")
    employer = await user(session, "employer", "Erin")
    candidate = await user(session, "candidate")
    first = await send(session, settings, employer, candidate, "one")
    second = await send(session, settings, employer, candidate, "two")
    await send(session, settings, candidate, employer, "reply")
    await report(session, first, candidate, "spam")
    await report(session, second, candidate, "harassment")
    await report(session, (await send(session, settings, candidate, employer, "x")), employer)
    async with write_transaction(session):
        session.add(
            MessageBlock(
                id=new_id(), blocker_id=candidate.id, blocked_id=employer.id, reason="spam"
            )
        )
        session.add(
            RateLimitViolation(
                id=new_id(), user_id=employer.id, count_in_window=10, limit=10, window_seconds=86400
            )
        )
    await moderation.dismiss(session, first.id, actor=moderator)
    await moderation.remove_message(
        session,
        second.id,
        actor=admin,
        reason="harassing",
        grounds=moderation.Grounds(policy="spam"),
    )
    await suspensions.suspend_user(
        session, employer.id, actor=admin, reason="pattern", days=3, policy="spam"
    )
    await moderation.add_note(session, actor=moderator, body="on the user", user_id=employer.id)
    await moderation.add_note(session, actor=admin, body="on a message", message_id=second.id)

    history = await moderation_records.user_history(session, employer.id)

    assert (history.display_name, history.role, history.suspended) == ("Erin", "employer", True)
    assert history.suspended_reason == "pattern"
    counts = history.counts
    assert (counts.sent, counts.reports_against, counts.reports_made) == (2, 2, 1)
    assert (counts.blocks_against, counts.violations) == (1, 1)
    assert (counts.removals, counts.suspensions) == (1, 1)
    assert [(d.decision, d.staff_name) for d in history.timeline] == [
        ("suspended", "Admin Abe"),
        ("removed", "Admin Abe"),
        ("dismissed", "Moderator Mia"),
    ]
    assert history.timeline[1].message_id == second.id
    assert history.timeline[1].reason == "harassing"
    assert [n.body for n in history.notes] == ["on a message", "on the user"]
    with pytest.raises(NotFound):
        await moderation_records.user_history(session, uuid.uuid4())


async def test_overview_counts_todays_figures(session: AsyncSession, settings: Settings) -> None:
    moderator = await staff(session, "moderator")
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    now = utcnow()
    messages = [await send(session, settings, employer, candidate, f"m{i}") for i in range(4)]
    await report(session, messages[0], candidate, "spam", at=now - timedelta(hours=5))
    await report(session, messages[0], await user(session, "employer"), "scam")
    await report(session, messages[1], candidate, "spam")
    await report(session, messages[2], candidate, "spam")
    await report(session, messages[3], candidate, "spam")
    await moderation.escalate(session, messages[2].id, actor=moderator, note="legal")
    await moderation.dismiss(session, messages[3].id, actor=moderator)
    async with write_transaction(session):
        session.add(
            RateLimitViolation(
                id=new_id(), user_id=employer.id, count_in_window=10, limit=10, window_seconds=86400
            )
        )
        session.add(
            RateLimitViolation(
                id=new_id(),
                user_id=employer.id,
                count_in_window=10,
                limit=10,
                window_seconds=86400,
                first_attempt_at=now - timedelta(days=2),
                last_attempt_at=now - timedelta(days=2),
            )
        )
        for status, sent_at in (("sent", now), ("sent", now), ("failed", None), ("pending", None)):
            session.add(
                EmailOutbox(
                    id=new_id(),
                    to_address="a@example.com",
                    subject="s",
                    body_text="b",
                    status=status,
                    sent_at=sent_at,
                )
            )

    figures = await moderation_records.overview(session, now=now + timedelta(minutes=1))

    assert (figures.open_reports, figures.open_items, figures.escalated_items) == (3, 2, 1)
    assert figures.oldest_open_age_seconds is not None
    assert 5 * 3600 <= figures.oldest_open_age_seconds <= 5 * 3600 + 120
    assert figures.decisions_today == 2
    assert figures.violations_today == 1
    assert (figures.emails_sent_today, figures.emails_failed_today) == (2, 1)
    tomorrow = await moderation_records.overview(session, now=now + timedelta(days=1, hours=1))
    assert (tomorrow.decisions_today, tomorrow.violations_today) == (0, 0)
