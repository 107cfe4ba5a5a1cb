"""Statements of reasons, reporter outcomes and appeals at the service level (both databases):
who may appeal what and when, who may decide, and what each outcome reverses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.errors import AlreadyDecided, Conflict, Forbidden, Gone, InvalidInput
from portal.models import FlagReport, Message, ModerationDecision, User
from portal.services import appeals, moderation, notices, statements, suspensions
from portal.services.moderation import Grounds
from portal.settings import Settings
from tests.portal.moderation_support import report, send, staff, user

# in the future, so that appeals filed on the real clock fall in the window
T0 = datetime(2027, 3, 2, 9, 30, tzinfo=UTC)
SCAM = Grounds(policy="scam", public_note="Thanks for telling us.")


async def _decision(session: AsyncSession, message: Message) -> ModerationDecision:
    async with read_transaction(session):
        found = await session.scalar(
            select(ModerationDecision)
            .where(ModerationDecision.message_id == message.id)
            .order_by(ModerationDecision.created_at.desc())
            .limit(1)
        )
    assert found is not None
    return found


async def _world(session: AsyncSession, settings: Settings) -> tuple[User, User, Message]:
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    message = await send(session, settings, employer, candidate, "Pay a $200 training fee first")
    await report(session, message, candidate, "scam")
    return employer, candidate, message


async def test_a_restriction_without_a_policy_is_refused_and_changes_nothing(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    employer, _, message = await _world(session, settings)
    for refused in (
        moderation.remove_message(session, message.id, actor=moderator, reason="fee"),
        moderation.warn_sender(session, message.id, actor=moderator, note="fee"),
        moderation.suspend_sender(session, message.id, actor=moderator, reason="fee", days=1),
        moderation.remove_message(
            session, message.id, actor=moderator, reason="fee", grounds=Grounds(policy="nope")
        ),
        suspensions.suspend_user(session, employer.id, actor=moderator, reason="x", days=1),
    ):
        with pytest.raises(InvalidInput) as refused_with:
            await refused
        assert refused_with.value.field == "policy"
    async with read_transaction(session):
        assert (await session.scalars(select(ModerationDecision))).all() == []
        fresh = await session.get(Message, message.id, populate_existing=True)
        assert fresh is not None and not fresh.is_removed
        assert (await session.scalar(select(FlagReport.status))) == "open"


async def test_the_statement_names_the_rule_and_the_redress_and_never_the_reporter(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    employer, candidate, message = await _world(session, settings)

    await moderation.remove_message(
        session, message.id, actor=moderator, reason="advance fee", grounds=SCAM, now=T0
    )

    decision = await _decision(session, message)
    assert decision.kind == "removed" and decision.source == "notice"
    assert decision.policy_key == "scam" and decision.policy_version == 1
    assert decision.appealable_until == datetime(2027, 9, 2, 9, 30, tzinfo=UTC)
    assert decision.internal_note == "advance fee"
    statement = decision.statement
    assert "Scams and advance-fee fraud" in statement
    assert "after another user reported it" in statement
    assert "No automated means" in statement
    assert "until 02 September 2027" in statement
    assert candidate.display_name not in statement and candidate.email not in statement
    assert "advance fee" not in statement  # the internal note stays with staff

    [about_sender] = await notices.decisions_about(session, employer, now=T0)
    assert about_sender.appealable and about_sender.policy is not None
    [reporters_view] = await notices.reports_by(session, candidate, now=T0)
    assert reporters_view.status == "action_taken"
    assert reporters_view.policy_title == "Scams and advance-fee fraud"
    assert reporters_view.public_note == "Thanks for telling us."
    assert not reporters_view.appealable  # a reporter appeals only "no violation"
    assert await notices.decisions_about(session, candidate, now=T0) == []


async def test_the_sender_appeals_the_same_moderator_is_refused_another_overturns(
    session: AsyncSession, settings: Settings
) -> None:
    first, second = await staff(session, "moderator"), await staff(session, "moderator")
    employer, candidate, message = await _world(session, settings)
    await moderation.remove_message(
        session, message.id, actor=first, reason="fee", grounds=SCAM, now=T0
    )
    decision = await _decision(session, message)

    with pytest.raises(Forbidden):
        await appeals.file_appeal(session, candidate, decision.id, "not mine to appeal")
    appeal = await appeals.file_appeal(
        session, employer, decision.id, "It was a real uniform fee", now=T0 + timedelta(days=1)
    )
    assert appeal.basis == "sanctioned_user" and appeal.status == "open"
    with pytest.raises(Conflict):
        await appeals.file_appeal(session, employer, decision.id, "again")
    with pytest.raises(Forbidden, match="another moderator"):
        await appeals.decide_appeal(
            session, appeal.id, actor=first, outcome="upheld", reasoning="I stand by it"
        )

    decided = await appeals.decide_appeal(
        session,
        appeal.id,
        actor=second,
        outcome="overturned",
        reasoning="The fee was for a uniform the employer supplies at cost.",
        now=T0 + timedelta(days=2),
    )
    assert decided.status == "overturned" and decided.outcome_decision_id is not None
    with pytest.raises(AlreadyDecided):
        await appeals.decide_appeal(
            session, appeal.id, actor=second, outcome="upheld", reasoning="again"
        )
    async with read_transaction(session):
        restored = await session.get(Message, message.id, populate_existing=True)
        original = await session.get(ModerationDecision, decision.id, populate_existing=True)
        reversal = await session.get(ModerationDecision, decided.outcome_decision_id)
    assert restored is not None and not restored.is_removed
    assert original is not None and original.overturned == "overturned"
    assert reversal is not None and reversal.kind == "restored"
    assert reversal.reverses_id == decision.id and "restored" in reversal.statement
    about = await notices.decisions_about(session, employer, now=T0 + timedelta(days=2))
    assert [d.kind for d in about] == ["restored", "removed"]
    assert about[1].overturned == "overturned" and not about[1].appealable
    assert about[1].appeal is not None and about[1].appeal.status == "overturned"


async def test_a_reporter_appeals_a_dismissal_and_the_overturn_removes_the_message(
    session: AsyncSession, settings: Settings
) -> None:
    first, second = await staff(session, "moderator"), await staff(session, "admin")
    employer, candidate, message = await _world(session, settings)
    await moderation.dismiss(session, message.id, actor=first, public_note="Looks fine", now=T0)
    dismissal = await _decision(session, message)
    [seen] = await notices.reports_by(session, candidate, now=T0)
    assert seen.status == "no_violation" and seen.appealable and seen.policy_title is None
    assert await notices.decisions_about(session, employer, now=T0) == []  # never told

    appeal = await appeals.file_appeal(session, candidate, dismissal.id, "They asked for money")
    assert appeal.basis == "reporter"
    with pytest.raises(InvalidInput) as refused:
        await appeals.decide_appeal(
            session, appeal.id, actor=second, outcome="overturned", reasoning="yes", action="remove"
        )
    assert refused.value.field == "policy"
    await appeals.decide_appeal(
        session,
        appeal.id,
        actor=second,
        outcome="overturned",
        reasoning="The message asked for a fee.",
        action="remove",
        grounds=Grounds(policy="scam"),
        now=T0 + timedelta(days=3),
    )
    async with read_transaction(session):
        removed = await session.get(Message, message.id, populate_existing=True)
    assert removed is not None and removed.is_removed
    [now_seen] = await notices.reports_by(session, candidate, now=T0 + timedelta(days=3))
    assert now_seen.status == "action_taken" and now_seen.appeal is not None
    [about] = await notices.decisions_about(session, employer, now=T0 + timedelta(days=3))
    assert about.kind == "removed" and about.appealable  # the sender may appeal this one


async def test_a_suspension_shortened_on_appeal_ends_earlier(
    session: AsyncSession, settings: Settings
) -> None:
    first, second = await staff(session, "moderator"), await staff(session, "moderator")
    employer, _, message = await _world(session, settings)
    await moderation.suspend_sender(
        session, message.id, actor=first, reason="fee", days=30, grounds=SCAM, now=T0
    )
    decision = await _decision(session, message)
    assert decision.restricted_until == T0 + timedelta(days=30)
    appeal = await appeals.file_appeal(session, employer, decision.id, "30 days is too long")
    with pytest.raises(InvalidInput):  # a longer "shortening" is refused
        await appeals.decide_appeal(
            session, appeal.id, actor=second, outcome="partially_overturned", reasoning="r"
        )
    await appeals.decide_appeal(
        session,
        appeal.id,
        actor=second,
        outcome="partially_overturned",
        reasoning="A first offence: seven days.",
        days=7,
        now=T0 + timedelta(days=1),
    )
    async with read_transaction(session):
        sender = await session.get(User, employer.id, populate_existing=True)
        original = await session.get(ModerationDecision, decision.id, populate_existing=True)
    assert sender is not None and sender.suspended_until == T0 + timedelta(days=7)
    assert suspensions.suspended_now(sender, T0 + timedelta(days=6))
    assert not suspensions.suspended_now(sender, T0 + timedelta(days=7, seconds=1))
    assert original is not None and original.overturned == "partially_overturned"


async def test_the_appeal_window_is_six_months_on_a_controlled_clock(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    employer, _, message = await _world(session, settings)
    await moderation.warn_sender(
        session, message.id, actor=moderator, note="fee", grounds=SCAM, now=T0
    )
    decision = await _decision(session, message)
    assert decision.appealable_until == statements.add_months(T0, 6)

    late = decision.appealable_until + timedelta(seconds=1)
    with pytest.raises(Gone):
        await appeals.file_appeal(session, employer, decision.id, "too late", now=late)
    [seen] = await notices.decisions_about(session, employer, now=late)
    assert not seen.appealable
    on_time = await appeals.file_appeal(
        session, employer, decision.id, "just in time", now=decision.appealable_until
    )
    assert on_time.status == "open"


def test_add_months_keeps_the_day_or_takes_the_months_last() -> None:
    assert statements.add_months(datetime(2026, 8, 31, tzinfo=UTC), 6) == datetime(
        2027, 2, 28, tzinfo=UTC
    )
    assert statements.add_months(datetime(2026, 12, 6, tzinfo=UTC), 6) == datetime(
        2027, 6, 6, tzinfo=UTC
    )
