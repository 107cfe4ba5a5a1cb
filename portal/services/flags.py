"""Participants flagging messages for the moderation queue: one report per reporter and message."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, record_event
from portal.database import get_or_insert, write_transaction
from portal.models import FlagReport, Message, User
from portal.models.base import utcnow
from portal.models.moderation import FLAG_REASONS
from portal.services import validation
from portal.services.threads import access_message

MAX_NOTE_LENGTH = 2000


async def _report_of(
    session: AsyncSession, message_id: uuid.UUID, reporter_id: uuid.UUID
) -> FlagReport | None:
    return await session.scalar(
        select(FlagReport).where(
            FlagReport.message_id == message_id, FlagReport.reporter_id == reporter_id
        )
    )


async def flag_message(
    session: AsyncSession,
    user: User,
    message_id: uuid.UUID,
    *,
    reason: str,
    note: str | None = None,
) -> Message:
    """Reports a message to moderators; flagging it again updates this user's report."""
    reason = validation.one_of("reason", reason, FLAG_REASONS)
    note = validation.optional_note("note", note, max_length=MAX_NOTE_LENGTH)
    async with write_transaction(session):
        message, thread = await access_message(session, user, message_id)
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
        message.is_flagged = True
        message.flagged_reason = reason
        message.flagged_at = now
        await session.flush()
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
            },
        )
    return message
