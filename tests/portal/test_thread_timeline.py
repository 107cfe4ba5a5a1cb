"""A thread's timeline for staff: every message with its marks, read receipts, reports,
decisions, blocks, holds, exports and staff reads, the chain verified; a staff read recorded at
most once an hour per staff member and thread."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction, write_transaction
from portal.models import AuditEvent, Message
from portal.models.base import utcnow
from portal.services import blocks, messaging, moderation, threads
from portal.services.compliance.chain import chain_key
from portal.services.compliance.holds import place_hold
from portal.services.thread_timeline import (
    READ_ACTION,
    has_read,
    record_staff_read,
    thread_timeline,
    verify_chain,
)
from portal.settings import Settings
from tests.portal.moderation_support import audit_count, report, send, staff, user


async def test_the_timeline_holds_the_whole_conversation(
    session: AsyncSession, settings: Settings
) -> None:
    erin = await user(session, "employer", "Erin Employer")
    cody = await user(session, "candidate", "Cody Candidate")
    first = await send(session, settings, erin, cody, "Welcome aboard")
    rude = await send(session, settings, erin, cody, "You are useless")
    gone = await send(session, settings, cody, erin, "Old news")
    await messaging.mark_read(session, cody, first.id)
    await report(session, rude, cody, "harassment", note="insulting")
    moderator = await staff(session, "moderator", "Mona Moderator")
    await moderation.remove_message(
        session, rude.id, actor=moderator, reason="abuse", grounds=moderation.Grounds("harassment")
    )
    async with write_transaction(session):
        await session.execute(
            update(Message).where(Message.id == gone.id).values(body="", purged_at=utcnow())
        )
    await threads.delete_thread(session, cody, first.thread_id)
    await blocks.block_user(session, cody, erin.id, reason="harassment")
    compliance = await staff(session, "compliance", "Cleo Compliance")
    await place_hold(
        session, actor=compliance, reason="charge", case_reference="EEOC-7", user_id=erin.id
    )
    await record_staff_read(session, first.thread_id, actor=moderator)

    timeline = await thread_timeline(session, first.thread_id)
    assert (timeline.employer.name, timeline.candidate.name) == ("Erin Employer", "Cody Candidate")
    messages = {e.message.id: e.message for e in timeline.entries if e.message}
    assert list(messages) == [first.id, rude.id, gone.id]
    assert messages[first.id].marks == ("deleted by the candidate",)
    assert messages[rude.id].marks == ("removed", "deleted by the candidate", "reported")
    assert "purged" in messages[gone.id].marks
    kinds = [e.kind for e in timeline.entries]
    for kind in ("read", "report", "decision", "block", "hold", "staff_read", "event"):
        assert kind in kinds, kind
    summaries = [e.summary for e in timeline.entries]
    assert "Cody Candidate read Erin Employer's message" in summaries
    assert "Cody Candidate reported a message: harassment" in summaries
    assert "Cody Candidate blocked Erin Employer" in summaries
    assert "Legal hold placed (user): EEOC-7" in summaries
    assert any(s.startswith("Decision: removed") for s in summaries)
    assert "thread: deleted" in summaries
    decision = next(e for e in timeline.entries if e.kind == "decision")
    assert decision.actor is not None and decision.actor.name == "Mona Moderator"
    reads = timeline.staff_reads
    assert [(r.actor.name if r.actor else None) for r in reads] == ["Mona Moderator"]
    assert timeline.entries == sorted(timeline.entries, key=lambda e: e.at)
    assert timeline.chain.intact and timeline.chain.events >= 5


async def test_a_staff_read_is_recorded_once_an_hour(
    session: AsyncSession, settings: Settings
) -> None:
    erin = await user(session, "employer")
    cody = await user(session, "candidate")
    thread_id = (await send(session, settings, erin, cody, "Hello")).thread_id
    moderator = await staff(session, "moderator", "Mona Moderator")
    admin = await staff(session, "admin")
    assert not await has_read(session, thread_id, moderator)
    now = utcnow()
    assert await record_staff_read(session, thread_id, actor=moderator, now=now)
    for minutes in (1, 30, 59):  # reloads within the hour
        later = now + timedelta(minutes=minutes)
        assert not await record_staff_read(session, thread_id, actor=moderator, now=later)
    assert await has_read(session, thread_id, moderator, now=now + timedelta(minutes=59))
    assert not await has_read(session, thread_id, admin, now=now)
    assert await record_staff_read(session, thread_id, actor=admin, now=now)  # another person
    assert await record_staff_read(
        session, thread_id, actor=moderator, now=now + timedelta(minutes=61)
    )
    assert await audit_count(session, READ_ACTION) == 3
    async with read_transaction(session):
        event = await session.scalar(
            select(AuditEvent)
            .where(AuditEvent.action == READ_ACTION)
            .order_by(AuditEvent.occurred_at)
            .limit(1)
        )
    assert event is not None
    assert (event.actor_type, event.actor_id, event.chain_key, event.subject_id) == (
        "staff",
        moderator.id,
        chain_key(thread_id),
        thread_id,
    )


async def test_an_altered_event_breaks_the_chain_shown(
    session: AsyncSession, settings: Settings
) -> None:
    erin = await user(session, "employer")
    cody = await user(session, "candidate")
    thread_id = (await send(session, settings, erin, cody, "Hello")).thread_id
    await send(session, settings, cody, erin, "Hi")
    async with read_transaction(session):
        events = list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.chain_key == chain_key(thread_id))
                .order_by(AuditEvent.position)
            )
        )
    session.expunge_all()
    assert verify_chain(events, None).intact is False  # events without a head row
    events[1].details = {**events[1].details, "forged": True}
    status = verify_chain(events, None)
    assert not status.intact and status.problem is not None and "altered" in status.problem
