"""The send rate limit: at most ``rate_limit_messages`` per sender in any rolling window.

Exact only when the caller has serialised the sender's sends (the send transaction locks the
sender's row first), so that no two sends of one sender count the window at the same time.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import Actor, record_event
from portal.database import lock_row, write_transaction
from portal.errors import Conflict, NotFound, RateLimited
from portal.models import Message, RateLimitViolation, StaffUser, User
from portal.models.base import new_id, utcnow
from portal.prepared import Prepared
from portal.services import statements
from portal.services.staff import staff_name
from portal.services.suspensions import (
    MAX_REASON_LENGTH,
    apply_suspension,
    lock_user,
    required_text,
    suspension_days,
)
from portal.settings import Settings

_messages = Message.__table__
# The sender's newest messages in the window, up to the bound ``limit`` (served by the index
# on sender and time).
_NEWEST_IN_WINDOW: Final = Prepared(
    select(_messages.c.created_at)
    .where(
        _messages.c.sender_id == bindparam("sender_id"),
        _messages.c.created_at > bindparam("since"),
    )
    .order_by(_messages.c.created_at.desc())
    .limit(bindparam("limit", type_=Integer))
)


async def refuse_if_over_limit(
    session: AsyncSession, sender_id: uuid.UUID, *, settings: Settings, now: datetime
) -> RateLimited | None:
    """None if the sender may send now. Otherwise records the attempt in ``session`` and
    returns the refusal: the caller commits the record, then raises it.

    Every message the sender sent in the window counts, in deleted threads too.
    """
    limit = settings.rate_limit_messages
    window = timedelta(seconds=settings.rate_limit_window_seconds)
    rows = await _NEWEST_IN_WINDOW.all(
        session, {"sender_id": sender_id, "since": now - window, "limit": limit + 1}
    )
    if len(rows) < limit:
        return None
    newest = [row.created_at for row in rows]
    count: int | None = limit
    if len(newest) > limit:  # only if the limit was lowered since these were sent
        in_window = (Message.sender_id == sender_id, Message.created_at > now - window)
        count = await session.scalar(select(func.count()).select_from(Message).where(*in_window))
    # A slot frees up when the limit-th newest message leaves the window.
    retry_after = max(1, math.ceil((newest[limit - 1] + window - now).total_seconds()))
    await _record_violation(session, sender_id, settings=settings, now=now, count=count or limit)
    return RateLimited(
        f"rate limit: at most {limit} messages per {_describe(window)}; "
        f"try again in {retry_after} seconds",
        retry_after_seconds=retry_after,
    )


async def _record_violation(
    session: AsyncSession, user_id: uuid.UUID, *, settings: Settings, now: datetime, count: int
) -> None:
    """Counts a refused attempt into the user's open violation for this window, or opens one.

    Only opening a violation writes an audit event; later attempts in its window update the row
    in place, so a flood of refused sends costs one row update each, not two new rows.
    """
    limit, window_seconds = settings.rate_limit_messages, settings.rate_limit_window_seconds
    open_id = await session.scalar(
        select(RateLimitViolation.id)
        .where(
            RateLimitViolation.user_id == user_id,
            RateLimitViolation.status == "open",
            RateLimitViolation.limit == limit,
            RateLimitViolation.window_seconds == window_seconds,
            RateLimitViolation.first_attempt_at > now - timedelta(seconds=window_seconds),
        )
        .order_by(RateLimitViolation.first_attempt_at.desc())
        .limit(1)
    )
    if open_id is not None:
        await session.execute(
            update(RateLimitViolation)
            .where(RateLimitViolation.id == open_id)
            .values(
                attempts=RateLimitViolation.attempts + 1,
                last_attempt_at=now,
                count_in_window=count,
            )
            .execution_options(synchronize_session=False)
        )
        return
    violation = RateLimitViolation(
        id=new_id(),
        user_id=user_id,
        first_attempt_at=now,
        last_attempt_at=now,
        attempts=1,
        count_in_window=count,
        limit=limit,
        window_seconds=window_seconds,
    )
    session.add(violation)
    await record_event(
        session,
        actor=Actor.user(user_id),
        action="message.rate_limited",
        subject_type="user",
        subject_id=user_id,
        details={
            "violation_id": str(violation.id),
            "count_in_window": count,
            "limit": limit,
            "window_seconds": window_seconds,
        },
    )


def _describe(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"


async def _lock_violation(session: AsyncSession, violation_id: uuid.UUID) -> RateLimitViolation:
    return await lock_row(session, RateLimitViolation, violation_id, what="rate-limit violation")


async def _review(session: AsyncSession, violation: RateLimitViolation, actor: StaffUser) -> None:
    violation.status = "reviewed"
    violation.reviewed_by_id = actor.id
    violation.reviewed_at = utcnow()
    await record_event(
        session,
        actor=Actor.staff(actor.id),
        action="rate_limit.reviewed",
        subject_type="user",
        subject_id=violation.user_id,
        details={"violation_id": str(violation.id), "attempts": violation.attempts},
    )


async def mark_violation_reviewed(
    session: AsyncSession, violation_id: uuid.UUID, *, actor: StaffUser
) -> RateLimitViolation:
    """Marks a rate-limit violation reviewed by ``actor`` (moderators and admins) and records
    ``rate_limit.reviewed``. Conflict if it was reviewed already (naming by whom and when)."""
    permissions.require(actor, permissions.Capability.MODERATE_USERS)
    async with write_transaction(session):
        violation = await _lock_violation(session, violation_id)
        if violation.status == "reviewed":
            reviewer = (
                await session.get(StaffUser, violation.reviewed_by_id)
                if violation.reviewed_by_id is not None
                else None
            )
            who = staff_name(reviewer) or "a former staff member"
            at = violation.reviewed_at
            when = f" at {at:%Y-%m-%d %H:%M} UTC" if at else ""
            raise Conflict(f"already reviewed by {who}{when}")
        await _review(session, violation, actor)
    return violation


async def suspend_violator(
    session: AsyncSession,
    violation_id: uuid.UUID,
    *,
    actor: StaffUser,
    reason: str,
    days: int | None,
    policy: str | None = None,
    explanation: str | None = None,
    now: datetime | None = None,
) -> User:
    """Suspends the user of a rate-limit violation (as ``suspend_user`` does, citing ``policy``
    and recording ``user.suspended`` with the violation's id) and marks the violation reviewed
    if it was open, in one transaction."""
    permissions.require(actor, permissions.Capability.MODERATE_USERS)
    reason = required_text("reason", reason, max_length=MAX_REASON_LENGTH)
    days = suspension_days(days)
    statements.checked_texts(explanation, None)
    async with write_transaction(session):
        citation = await statements.cite(session, policy, explanation=explanation)
        user_id = await session.scalar(
            select(RateLimitViolation.user_id).where(RateLimitViolation.id == violation_id)
        )
        if user_id is None:
            raise NotFound(f"rate-limit violation {violation_id} does not exist")
        # the user's row first, as the send path takes it before it counts into a violation
        user = await lock_user(session, user_id)
        violation = await _lock_violation(session, violation_id)
        await apply_suspension(
            session,
            user,
            actor=actor,
            reason=reason,
            days=days,
            now=now or utcnow(),
            citation=citation,
            details={"violation_id": str(violation.id)},
        )
        if violation.status == "open":
            await _review(session, violation, actor)
    return user
