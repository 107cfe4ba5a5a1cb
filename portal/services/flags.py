"""Participants flagging messages for the moderation queue: one report per reporter and message.

Only the recipient of a message can report it. The message row's ``is_flagged``,
``flagged_reason`` and ``flagged_at`` record the first report and are never overwritten by a later
one; each reporter's own report (reason, note) is theirs to update. None of it is shown to the
sender: the API shows a participant only their own report.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, record_event
from portal.database import get_or_insert, write_transaction
from portal.errors import Forbidden
from portal.models import FlagReport, Message
from portal.models.base import utcnow
from portal.models.moderation import FLAG_REASONS
from portal.models.rows import MessageRow
from portal.principals import Participant
from portal.services import validation
from portal.services.threads import access_message

MAX_NOTE_LENGTH = 2000


@dataclass(frozen=True)
class Flagged:
    message: MessageRow  # every column of the message
    report: FlagReport  # the caller's own report


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
) -> Flagged:
    """Reports a message to moderators; flagging it again updates this user's report.

    Forbidden for the message's own sender: a report is about what someone else sent.
    """
    reason = validation.one_of("reason", reason, FLAG_REASONS)
    note = validation.optional_note("note", note, max_length=MAX_NOTE_LENGTH)
    async with write_transaction(session):
        message, thread = await access_message(session, user, message_id)
        if message.sender_id == user.id:
            raise Forbidden("you cannot flag your own message; only its recipient can report it")
        now = utcnow()
        report, created = await get_or_insert(
            session,
            find=lambda: _report_of(session, message_id, user.id),
            make=lambda: FlagReport(
                message_id=message_id, reporter_id=user.id, reason=reason, note=note
            ),
        )
        if not created:
            report.reason = reason
            if note is not None:
                report.note = note
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
                "report_id": str(report.id),
                "report": "created" if created else "updated",
                # Set only by the report that flagged the message: a report's flag is bound to it.
                "flagged_at": now if flagged.rowcount == 1 else None,
            },
        )
    return Flagged(message=message, report=report)
