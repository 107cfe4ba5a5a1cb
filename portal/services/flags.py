"""Participants flagging messages for the moderation queue: one report per reporter and message.

Only the recipient of a message can report it. The message row's ``is_flagged``,
``flagged_reason`` and ``flagged_at`` record the first report and are never overwritten by a later
one; each reporter's own report (reason, note) is theirs to update. None of it is shown to the
sender: the API shows a participant only their own report.

A report may be a notice that the content is illegal (DSA Art. 16): ``legal_ground`` names the law
it breaks, and the reporter must state that the notice is made in good faith (Art. 16(2)(d)).
The reporter is given a receipt (the report's id and status) and later its outcome
(:mod:`portal.services.notices`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, record_event
from portal.database import get_or_insert, write_transaction
from portal.errors import Forbidden, InvalidInput
from portal.events import publish as events
from portal.models import FlagReport, Message, ModerationDecision
from portal.models.base import utcnow
from portal.models.moderation import FLAG_REASONS
from portal.models.rows import MessageRow
from portal.principals import Participant
from portal.services import retaliation, statements, validation
from portal.services.threads import access_message

MAX_NOTE_LENGTH = 2000
MAX_LEGAL_GROUND_LENGTH = 500


@dataclass(frozen=True)
class Flagged:
    message: MessageRow  # every column of the message
    report: FlagReport  # the caller's own report
    # What the reporter is told of it now: "received", "under_review", "action_taken" or
    # "no_violation" (statements.outcome).
    status: str = "received"


async def _report_of(
    session: AsyncSession, message_id: uuid.UUID, reporter_id: uuid.UUID
) -> FlagReport | None:
    report = await session.scalar(
        select(FlagReport).where(
            FlagReport.message_id == message_id, FlagReport.reporter_id == reporter_id
        )
    )
    return report


async def flag_message(
    session: AsyncSession,
    user: Participant,
    message_id: uuid.UUID,
    *,
    reason: str,
    note: str | None = None,
    legal_ground: str | None = None,
    good_faith: bool | None = None,
) -> Flagged:
    """Reports a message to moderators; flagging it again updates this user's report.

    Forbidden for the message's own sender: a report is about what someone else sent.
    ``legal_ground`` (the law the content breaks) makes the report a notice of illegal content,
    which needs ``good_faith`` true (InvalidInput naming ``good_faith`` otherwise). Flagging again
    keeps the report's legal ground unless a new one is given, and cannot withdraw the good-faith
    statement of a notice that has one.
    """
    reason = validation.one_of("reason", reason, FLAG_REASONS)
    note = validation.optional_note("note", note, max_length=MAX_NOTE_LENGTH)
    legal_ground = validation.optional_note(
        "legal_ground", legal_ground, max_length=MAX_LEGAL_GROUND_LENGTH
    )
    async with write_transaction(session):
        message, thread = await access_message(session, user, message_id)
        if message.sender_id == user.id:
            raise Forbidden("you cannot flag your own message; only its recipient can report it")
        # After access (a message the caller cannot see is 404 or 403 whatever they say of it),
        # before anything is written.
        if legal_ground is not None and good_faith is not True:
            raise _good_faith_required()
        now = utcnow()
        report, created = await get_or_insert(
            session,
            find=lambda: _report_of(session, message_id, user.id),
            make=lambda: FlagReport(
                message_id=message_id,
                reporter_id=user.id,
                reason=reason,
                note=note,
                legal_ground=legal_ground,
                good_faith=good_faith,
            ),
        )
        if not created:
            report.reason = reason
            if note is not None:
                report.note = note
            if legal_ground is not None:
                report.legal_ground, report.good_faith = legal_ground, True
            elif good_faith is not None:
                if report.legal_ground is not None and not good_faith:
                    raise _good_faith_required()
                report.good_faith = good_faith
        await session.flush()
        # Only the first report sets these: a conditional update, so that of two reports at once
        # exactly one does.
        flagged = cast(
            "CursorResult[Any]",
            await session.execute(
                update(Message)
                .where(Message.id == message_id, Message.is_flagged.is_(False))
                .values(is_flagged=True, flagged_reason=reason, flagged_at=now)
                .execution_options(synchronize_session=False)
            ),
        )
        await record_event(
            session,
            actor=Actor.user(user.id),
            action="message.flagged",
            subject_type="message",
            subject_id=message_id,
            thread_id=thread.id,
            details={
                "reason": reason,
                "note": note,
                "legal_ground": report.legal_ground,
                "good_faith": report.good_faith,
                "report_id": str(report.id),
                "report": "created" if created else "updated",
                # Set only by the report that flagged the message: a report's flag is bound to it.
                "flagged_at": now if flagged.rowcount == 1 else None,
            },
        )
        # In this transaction: the report and what it means for a retaliation watch stand or
        # fall together. Nothing of the watch reaches the reporter or the reported.
        await retaliation.on_report(session, report, message, thread)
        events.queue_changed(session, "report")
        decision = (
            await session.get(ModerationDecision, report.decision_id)
            if report.decision_id is not None
            else None
        )
        status = statements.outcome(decision, report.status)
    return Flagged(message=message, report=report, status=status)


def _good_faith_required() -> InvalidInput:
    return InvalidInput(
        "good_faith",
        "must be true with a legal_ground: a notice of illegal content is made in good faith",
    )
