"""Undoing a decision (portal.services.undo), sending an escalated item back, and escalating
with a reason: what each puts back exactly, what it records, and what it refuses."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.audit import Actor
from portal.database import create_sessionmaker, read_transaction
from portal.errors import AlreadyDecided, Conflict, Forbidden, InvalidInput
from portal.models import (
    AuditEvent,
    FlagReport,
    Message,
    ModerationDecision,
    ModeratorNote,
    User,
)
from portal.models.base import utcnow
from portal.services import moderation, suspensions, undo
from portal.services.compliance.reports import stream_report
from portal.services.compliance.verify import verify_export
from portal.settings import Settings
from tests.independent_verifier.audit_verifier import verify as independent
from tests.portal.moderation_support import report, report_rows, send, staff, user

SPAM = moderation.Grounds(policy="spam")


async def _reported(session: AsyncSession, settings: Settings) -> tuple[Message, User]:
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    message = await send(session, settings, employer, candidate, "buy my course")
    await report(session, message, candidate, "spam")
    await report(session, message, await user(session, "employer"), "harassment")
    return message, employer


def _state(reports: list[FlagReport]) -> list[tuple[Any, ...]]:
    return [
        (
            r.id,
            r.status,
            r.assigned_to_id,
            r.decision,
            r.decided_by_id,
            r.decided_at,
            r.decision_id,
        )
        for r in reports
    ]


async def _fresh(session: AsyncSession, model: Any, id_: uuid.UUID) -> Any:
    async with read_transaction(session):
        return await session.get(model, id_, populate_existing=True)


async def _actions(session: AsyncSession, *subjects: uuid.UUID) -> list[str]:
    async with read_transaction(session):
        events = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_id.in_(subjects))
            .order_by(AuditEvent.chain_key, AuditEvent.position)
        )
        return [e.action for e in events]


async def _undone_event(session: AsyncSession, message_id: uuid.UUID) -> AuditEvent:
    async with read_transaction(session):
        event = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "moderation.undone", AuditEvent.subject_id == message_id
            )
        )
    assert event is not None
    return event


async def test_undoing_a_removal_restores_the_message_and_the_claimed_reports(
    session: AsyncSession, settings: Settings
) -> None:
    me = await staff(session, "moderator", "Mo")
    message, sender = await _reported(session, settings)
    await moderation.claim(session, message.id, actor=me)
    before = _state(await report_rows(session, message.id))
    at = utcnow()

    decision = await moderation.remove_message(
        session, message.id, actor=me, reason="scam", grounds=SPAM, now=at
    )
    assert decision is not None
    offered = await undo.offer(session, decision.id, viewer=me, now=at + timedelta(seconds=3))
    assert offered is not None and offered.kind == "removed"
    assert 6 < offered.seconds_left <= 7

    done = await undo.undo(session, decision.id, actor=me, now=at + timedelta(seconds=4))

    assert _state(await report_rows(session, message.id)) == before  # claimed by me, undecided
    restored = await _fresh(session, Message, message.id)
    assert (restored.is_removed, restored.removed_at, restored.removed_reason) == (
        False,
        None,
        None,
    )
    undone = await _fresh(session, ModerationDecision, decision.id)
    assert undone.overturned == "overturned"
    reversal = await _fresh(session, ModerationDecision, done.reversal_id)
    assert (reversal.kind, reversal.reverses_id, reversal.user_id) == (
        "restored",
        decision.id,
        sender.id,
    )
    assert "reversed" not in reversal.statement or "restored" in reversal.statement
    assert (await _actions(session, message.id))[-3:] == [
        "message.removed",
        "message.restored",
        "moderation.undone",
    ]
    event = await _undone_event(session, message.id)
    assert event.details["undone"] == "removed" and event.details["reversal"] == "restored"
    assert event.details["report_status"] == ["claimed"]
    # it is gone from the offers, and a second undo is refused
    assert await undo.offer(session, decision.id, viewer=me, now=at) is None
    with pytest.raises(Conflict):
        await undo.undo(session, decision.id, actor=me, now=at + timedelta(seconds=5))


async def test_undoing_a_dismissal_reopens_the_reports_without_a_reversal(
    session: AsyncSession, settings: Settings
) -> None:
    me = await staff(session, "moderator")
    message, _ = await _reported(session, settings)
    before = _state(await report_rows(session, message.id))
    decision = await moderation.dismiss(session, message.id, actor=me, note="banter")
    assert decision is not None

    done = await undo.undo(session, decision.id, actor=me)

    assert done.reversal_id is None
    assert _state(await report_rows(session, message.id)) == before
    assert {r.status for r in await report_rows(session, message.id)} == {"open"}
    assert (await _fresh(session, ModerationDecision, decision.id)).overturned == "overturned"
    # it can be decided again
    await moderation.dismiss(session, message.id, actor=me)


async def test_undoing_a_warning_withdraws_it(session: AsyncSession, settings: Settings) -> None:
    me = await staff(session, "moderator")
    message, sender = await _reported(session, settings)
    decision = await moderation.warn_sender(session, message.id, actor=me, note="n", grounds=SPAM)
    assert decision is not None

    done = await undo.undo(session, decision.id, actor=me)

    reversal = await _fresh(session, ModerationDecision, done.reversal_id)
    assert (reversal.kind, reversal.user_id) == ("warning_withdrawn", sender.id)
    assert {r.status for r in await report_rows(session, message.id)} == {"open"}
    assert "user.warned" in await _actions(session, sender.id)
    assert (await _actions(session, message.id))[-1] == "moderation.undone"


async def test_undoing_a_suspension_lifts_it(session: AsyncSession, settings: Settings) -> None:
    me = await staff(session, "moderator")
    message, sender = await _reported(session, settings)
    decision = await moderation.suspend_sender(
        session, message.id, actor=me, reason="spam run", days=7, grounds=SPAM
    )
    assert decision is not None
    assert (await _fresh(session, User, sender.id)).is_suspended

    done = await undo.undo(session, decision.id, actor=me)

    back = await _fresh(session, User, sender.id)
    assert (back.is_suspended, back.suspended_at, back.suspended_until, back.suspended_reason) == (
        False,
        None,
        None,
        None,
    )
    reversal = await _fresh(session, ModerationDecision, done.reversal_id)
    assert reversal.kind == "suspension_lifted" and reversal.reverses_id == decision.id


async def test_undoing_a_suspension_puts_back_the_one_it_replaced(
    session: AsyncSession, settings: Settings
) -> None:
    me = await staff(session, "moderator")
    message, sender = await _reported(session, settings)
    earlier_at = utcnow() - timedelta(days=1)
    await suspensions.suspend_user(
        session, sender.id, actor=me, reason="earlier", days=30, policy="spam", now=earlier_at
    )
    earlier = await _fresh(session, User, sender.id)
    prior = (earlier.suspended_at, earlier.suspended_until, earlier.suspended_reason)
    decision = await moderation.suspend_sender(
        session, message.id, actor=me, reason="now", days=1, grounds=SPAM
    )
    assert decision is not None
    assert (await _fresh(session, User, sender.id)).suspended_reason == "now"

    done = await undo.undo(session, decision.id, actor=me)

    back = await _fresh(session, User, sender.id)
    assert back.is_suspended
    assert (back.suspended_at, back.suspended_until, back.suspended_reason) == prior
    reversal = await _fresh(session, ModerationDecision, done.reversal_id)
    assert "earlier suspension still applies" in reversal.statement
    assert "you can send messages again" not in reversal.statement
    # the earlier suspension is the one in force again
    in_force = await suspensions.latest_in_force(session, sender.id, "suspended")
    assert in_force is not None and in_force.created_at == earlier_at


async def test_an_escalated_item_decided_by_compliance_goes_back_to_escalated(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    officer = await staff(session, "compliance")
    message, _ = await _reported(session, settings)
    await moderation.escalate(session, message.id, actor=moderator, note="legal question")
    before = _state(await report_rows(session, message.id))
    decision = await moderation.remove_message(
        session, message.id, actor=officer, reason="counsel", grounds=SPAM
    )
    assert decision is not None
    await undo.undo(session, decision.id, actor=officer)
    assert _state(await report_rows(session, message.id)) == before
    assert {r.status for r in await report_rows(session, message.id)} == {"escalated"}


async def test_the_ten_second_window_on_a_controlled_clock(
    session: AsyncSession, settings: Settings
) -> None:
    me = await staff(session, "moderator")
    late, _ = await _reported(session, settings)
    in_grace, _ = await _reported(session, settings)
    at: datetime = utcnow()
    first = await moderation.dismiss(session, late.id, actor=me, now=at)
    second = await moderation.dismiss(session, in_grace.id, actor=me, now=at)
    assert first is not None and second is not None
    # the dashboard stops offering it at 10 s; the service allows a small grace, no more
    assert await undo.offer(session, first.id, viewer=me, now=at + timedelta(seconds=10)) is None
    with pytest.raises(Conflict, match="too late"):
        await undo.undo(
            session,
            first.id,
            actor=me,
            now=at + timedelta(seconds=undo.UNDO_SECONDS + undo.GRACE_SECONDS + 1),
        )
    assert {r.status for r in await report_rows(session, late.id)} == {"dismissed"}
    await undo.undo(session, second.id, actor=me, now=at + timedelta(seconds=12))
    assert {r.status for r in await report_rows(session, in_grace.id)} == {"open"}


async def test_only_who_decided_undoes_and_nothing_changed_since(
    session: AsyncSession, settings: Settings
) -> None:
    me = await staff(session, "moderator")
    other = await staff(session, "moderator")
    admin = await staff(session, "admin")
    message, sender = await _reported(session, settings)
    decision = await moderation.suspend_sender(
        session, message.id, actor=me, reason="r", days=7, grounds=SPAM
    )
    assert decision is not None
    for someone in (other, admin):
        assert await undo.offer(session, decision.id, viewer=someone) is None
        with pytest.raises(Forbidden):
            await undo.undo(session, decision.id, actor=someone)
    # the sender's suspension changed meanwhile (suspended again from their page)
    await suspensions.suspend_user(
        session, sender.id, actor=other, reason="again", days=30, policy="spam"
    )
    with pytest.raises(Conflict, match="changed"):
        await undo.undo(session, decision.id, actor=me)
    assert (await _fresh(session, User, sender.id)).suspended_reason == "again"
    assert {r.status for r in await report_rows(session, message.id)} == {"actioned"}
    assert "moderation.undone" not in await _actions(session, message.id)


async def test_send_back_reopens_an_escalated_item_with_a_note(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    officer = await staff(session, "compliance", "Cora")
    message, _ = await _reported(session, settings)
    await moderation.claim(session, message.id, actor=moderator)
    await moderation.escalate(session, message.id, actor=moderator, note="is this a threat?")

    with pytest.raises(InvalidInput) as blank:
        await moderation.send_back(session, message.id, actor=officer, note="  ")
    assert blank.value.field == "note"
    with pytest.raises(Forbidden):
        await moderation.send_back(session, message.id, actor=moderator, note="mine")

    await moderation.send_back(session, message.id, actor=officer, note="not legal: spam rules")

    reports = await report_rows(session, message.id)
    assert {(r.status, r.assigned_to_id, r.decision, r.decided_at) for r in reports} == {
        ("open", None, None, None)
    }
    async with read_transaction(session):
        note = await session.scalar(
            select(ModeratorNote).where(ModeratorNote.message_id == message.id)
        )
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "moderation.sent_back")
        )
    assert note is not None and "not legal: spam rules" in note.body
    assert event is not None and event.details["note"] == "not legal: spam rules"
    assert [s["status"] for s in event.details["prior_reports"]] == ["escalated", "escalated"]
    with pytest.raises(AlreadyDecided):
        await moderation.send_back(session, message.id, actor=officer, note="again")
    # moderators decide it again
    await moderation.dismiss(session, message.id, actor=moderator)


async def test_escalating_needs_a_reason(session: AsyncSession, settings: Settings) -> None:
    moderator = await staff(session, "moderator")
    message, _ = await _reported(session, settings)
    for blank in (None, "", "   "):
        with pytest.raises(InvalidInput):
            await moderation.escalate(session, message.id, actor=moderator, note=blank)
    with pytest.raises(InvalidInput) as bulk:
        await moderation.bulk_decide(session, [message.id], "escalate", actor=moderator)
    assert bulk.value.field == "reason"
    assert {r.status for r in await report_rows(session, message.id)} == {"open"}


async def test_a_bulk_dismissal_is_undone_item_by_item(
    session: AsyncSession, settings: Settings
) -> None:
    me = await staff(session, "moderator")
    other = await staff(session, "moderator")
    first, _ = await _reported(session, settings)
    second, _ = await _reported(session, settings)
    at = utcnow()
    result = await moderation.bulk_decide(
        session, [first.id, second.id], "dismiss", actor=me, now=at
    )
    assert sorted(result.decided) == sorted([first.id, second.id])
    assert await undo.bulk_offer(session, result.decided, viewer=other, now=at) is None
    offer = await undo.bulk_offer(session, result.decided, viewer=me, now=at)
    assert offer is not None and len(offer.decision_ids) == 2
    # one of them was decided again meanwhile (undone, then removed): refused, named
    [one] = [d for d in offer.decision_ids if d != offer.decision_ids[0]]
    await undo.undo(session, one, actor=me, now=at)
    done = await undo.undo_many(
        session, list(offer.decision_ids), actor=me, now=at + timedelta(seconds=2)
    )
    assert done.undone == [offer.decision_ids[0]]
    assert [d for d, _ in done.refused] == [one]
    for message in (first, second):
        assert {r.status for r in await report_rows(session, message.id)} == {"open"}


async def test_an_undone_decision_and_a_sent_back_item_still_verify_in_the_audit_report(
    session: AsyncSession, engine: AsyncEngine, settings: Settings
) -> None:
    """The report's flags show what the database holds (open again, undecided); the chain's
    moderation.undone and moderation.sent_back say why, for both verifiers."""
    moderator = await staff(session, "moderator")
    officer = await staff(session, "compliance")
    message, _ = await _reported(session, settings)
    decision = await moderation.remove_message(
        session, message.id, actor=moderator, reason="r", grounds=SPAM
    )
    assert decision is not None
    await undo.undo(session, decision.id, actor=moderator)
    await moderation.escalate(session, message.id, actor=moderator, note="legal?")
    await moderation.send_back(session, message.id, actor=officer, note="no")
    report = await stream_report(
        create_sessionmaker(engine),
        message.thread_id,
        "json",
        actor=Actor.staff(officer.id),
        settings=settings,
    )
    data = b"".join([chunk async for chunk in report.chunks])
    verify_export(data)
    independent(data)
    flags = json.loads(data)["report"]["flags"]
    assert {(f["status"], f["decision"], f["decided_by_id"]) for f in flags} == {
        ("open", None, None)
    }
