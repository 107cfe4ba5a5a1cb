"""Notes stay on the report they were written on.

A moderator's note on a reported message belongs to that report: it is stored on that message,
shown on that report's page (and on its sender's history), and on no other report — not another
message of the same sender in the same thread, not another sender's. A reporter's own note stays
on that reporter's report among the several reports of one message. Deciding the report keeps
its notes on it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import AuditEvent, ModeratorNote
from portal.models.base import utcnow
from portal.services import moderation, moderation_records
from portal.settings import Settings
from tests.portal.moderation_support import report, send, staff, user


async def _note_bodies(session: AsyncSession, message_id: object) -> list[str]:
    view = await moderation_records.report_view(session, message_id)  # type: ignore[arg-type]
    return [note.body for note in view.notes]


async def test_a_moderator_note_stays_on_its_report(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator", "Mo Notes")
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    other_sender = await user(session, "employer")
    first = await send(session, settings, employer, candidate, "first")
    second = await send(session, settings, employer, candidate, "second")  # same thread
    elsewhere = await send(session, settings, other_sender, candidate, "elsewhere")
    assert first.thread_id == second.thread_id
    for message in (first, second, elsewhere):
        await report(session, message, candidate, "harassment")

    written = await moderation.add_note(
        session, actor=moderator, body="asked for the earlier messages", message_id=first.id
    )

    assert (written.message_id, written.user_id) == (first.id, None)
    async with read_transaction(session):
        stored = (await session.scalars(select(ModeratorNote))).all()
        [event] = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "moderation.note_added")
            )
        ).all()
    assert [(n.message_id, n.user_id, n.author_id, n.body) for n in stored] == [
        (first.id, None, moderator.id, "asked for the earlier messages")
    ]
    assert (event.subject_type, event.subject_id, event.thread_id) == (
        "message",
        first.id,
        first.thread_id,
    )
    assert event.details["note_id"] == str(written.id)
    assert await _note_bodies(session, first.id) == ["asked for the earlier messages"]
    assert await _note_bodies(session, second.id) == []
    assert await _note_bodies(session, elsewhere.id) == []

    # a note on the second report and one on the sender: each stays where it was written
    later = utcnow() + timedelta(seconds=1)
    await moderation.add_note(
        session, actor=moderator, body="same pattern", message_id=second.id, now=later
    )
    await moderation.add_note(session, actor=moderator, body="watch them", user_id=employer.id)
    assert await _note_bodies(session, first.id) == ["asked for the earlier messages"]
    assert await _note_bodies(session, second.id) == ["same pattern"]
    assert await _note_bodies(session, elsewhere.id) == []
    history = await moderation_records.user_history(session, employer.id)
    assert sorted(n.body for n in history.notes) == [
        "asked for the earlier messages",
        "same pattern",
        "watch them",
    ]
    assert {n.body: n.message_id for n in history.notes} == {
        "asked for the earlier messages": first.id,
        "same pattern": second.id,
        "watch them": None,
    }
    assert (await moderation_records.user_history(session, other_sender.id)).notes == []

    # deciding the report keeps its notes on it
    await moderation.dismiss(session, first.id, actor=moderator)
    assert await _note_bodies(session, first.id) == ["asked for the earlier messages"]
    assert await _note_bodies(session, second.id) == ["same pattern"]


async def test_each_reporters_note_stays_on_their_report(
    session: AsyncSession, settings: Settings
) -> None:
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    colleague, quiet = await user(session, "employer"), await user(session, "employer")
    message = await send(session, settings, employer, candidate, "pay the fee first")
    other = await send(session, settings, employer, candidate, "another one")
    now = utcnow()
    await report(session, message, candidate, "scam", note="asked me for money", at=now)
    await report(
        session, message, colleague, "spam", note="sent to all of us", at=now + timedelta(minutes=1)
    )
    await report(session, message, quiet, "other", at=now + timedelta(minutes=2))
    await report(session, other, candidate, "harassment", note="not this one")

    view = await moderation_records.report_view(session, message.id)
    assert [(r.reporter_id, r.reason, r.note) for r in view.reports] == [
        (candidate.id, "scam", "asked me for money"),
        (colleague.id, "spam", "sent to all of us"),
        (quiet.id, "other", None),
    ]
    [only] = (await moderation_records.report_view(session, other.id)).reports
    assert (only.reporter_id, only.note) == (candidate.id, "not this one")
