"""Timed suspensions of end users. A suspension lifts itself when it ends: nothing has to run
then, because whoever asks (the send path, the dashboard) asks :func:`suspended_now`."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import Actor, record_event
from portal.database import lock_row, write_transaction
from portal.errors import Conflict, InvalidInput
from portal.models import Message, ModerationDecision, StaffUser, User
from portal.models.base import utcnow
from portal.models.rows import UserRow
from portal.services import statements, validation

SUSPENSION_DAYS: Final = (1, 3, 7, 30)  # or None: indefinite
MAX_REASON_LENGTH: Final = 1000


def suspended_now(user: UserRow, now: datetime) -> bool:
    """Whether ``user``'s suspension is in force at ``now``."""
    return user.is_suspended and (user.suspended_until is None or user.suspended_until > now)


def required_text(field: str, value: str | None, *, max_length: int) -> str:
    """A reason or note that must be given: trimmed, not blank, bounded, no NUL."""
    checked = validation.optional_note(field, value, max_length=max_length)
    if checked is None:
        raise InvalidInput(field, "is required")
    return checked


def suspension_days(days: int | None) -> int | None:
    if days is not None and days not in SUSPENSION_DAYS:
        allowed = ", ".join(str(d) for d in SUSPENSION_DAYS)
        raise InvalidInput("days", f"{days!r} is not one of {allowed} (or none: indefinite)")
    return days


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The user, locked: a send, a suspension and its lifting serialise here. NO KEY UPDATE,
    because FOR UPDATE would also block the key-share locks that inserting a message takes on
    both users, so two users sending to each other would deadlock."""
    return await lock_row(session, User, user_id, what="user", key_share=True)


async def apply_suspension(
    session: AsyncSession,
    user: User,
    *,
    actor: StaffUser,
    reason: str,
    days: int | None,
    now: datetime,
    citation: statements.Citation,
    source: str = "own_initiative",
    message: Message | None = None,
    details: dict[str, object] | None = None,
) -> ModerationDecision:
    """Suspends a locked ``user`` inside the caller's transaction, with its statement of
    reasons, and records ``user.suspended``; a suspension in force is replaced."""
    until = None if days is None else now + timedelta(days=days)
    user.is_suspended = True
    user.suspended_at = now
    user.suspended_until = until
    user.suspended_reason = reason
    decision = await statements.issue(
        session,
        kind="suspended",
        user_id=user.id,
        decided_by_id=actor.id,
        when=now,
        source=source,
        citation=citation,
        internal_note=reason,
        message=message,
        restricted_until=until,
        days=days,
    )
    await record_event(
        session,
        actor=Actor.staff(actor.id),
        action="user.suspended",
        subject_type="user",
        subject_id=user.id,
        thread_id=message.thread_id if message else None,
        details={
            "decision": "suspended",
            "reason": reason,
            "days": days,
            "until": until.isoformat() if until else None,
            **statements.audit_details(decision),
            **(details or {}),
        },
    )
    return decision


async def suspend_user(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    actor: StaffUser,
    reason: str,
    days: int | None,
    policy: str | None = None,
    explanation: str | None = None,
    now: datetime | None = None,
) -> User:
    """Suspends ``user_id`` for ``days`` (1, 3, 7, 30) or indefinitely (None), citing
    ``policy``; replaces a suspension in force. Moderators and admins; the reason (the internal
    note) is required."""
    permissions.require(actor, permissions.Capability.MODERATE_USERS)
    reason = required_text("reason", reason, max_length=MAX_REASON_LENGTH)
    days = suspension_days(days)
    statements.checked_texts(explanation, None)
    async with write_transaction(session):
        citation = await statements.cite(session, policy, explanation=explanation)
        user = await lock_user(session, user_id)
        await apply_suspension(
            session,
            user,
            actor=actor,
            reason=reason,
            days=days,
            now=now or utcnow(),
            citation=citation,
        )
    return user


async def latest_in_force(
    session: AsyncSession, user_id: uuid.UUID, kind: str
) -> ModerationDecision | None:
    """The user's latest decision of ``kind`` that nothing has overturned."""
    decision: ModerationDecision | None = await session.scalar(
        select(ModerationDecision)
        .where(
            ModerationDecision.user_id == user_id,
            ModerationDecision.kind == kind,
            ModerationDecision.overturned.is_(None),
        )
        .order_by(ModerationDecision.created_at.desc(), ModerationDecision.id.desc())
        .limit(1)
    )
    return decision


async def lift_suspension(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    actor: StaffUser,
    reason: str,
    now: datetime | None = None,
) -> User:
    """Ends a suspension early. Conflict if the user is not suspended now."""
    permissions.require(actor, permissions.Capability.MODERATE_USERS)
    reason = required_text("reason", reason, max_length=MAX_REASON_LENGTH)
    async with write_transaction(session):
        user = await lock_user(session, user_id)
        now = now or utcnow()
        if not suspended_now(user, now):
            raise Conflict(f"user {user_id} is not suspended")
        was_until = user.suspended_until
        user.is_suspended = False
        user.suspended_until = None
        user.suspended_reason = None
        reversal = await statements.issue(
            session,
            kind="suspension_lifted",
            user_id=user.id,
            decided_by_id=actor.id,
            when=now,
            source="own_initiative",
            explanation="A member of our team reviewed your suspension and ended it early.",
            internal_note=reason,
            reverses=await latest_in_force(session, user.id, "suspended"),
        )
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="user.suspension_lifted",
            subject_type="user",
            subject_id=user.id,
            details={
                "decision": "lifted",
                "reason": reason,
                "was_until": was_until.isoformat() if was_until else None,
                **statements.audit_details(reversal),
            },
        )
    return user
