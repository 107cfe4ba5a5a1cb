"""Staff decisions on rate-limit violations: mark reviewed, and suspend the user (which reviews
the violation in the same transaction). Refusals change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction, write_transaction
from portal.errors import Conflict, Forbidden, InvalidInput, NotFound
from portal.models import RateLimitViolation, User
from portal.models.base import new_id, utcnow
from portal.services.rate_limit import mark_violation_reviewed, suspend_violator
from tests.admin.support import snapshot
from tests.portal.moderation_support import audit_count, staff, user


async def _violation(session: AsyncSession) -> RateLimitViolation:
    flooder = await user(session, "employer", "Fay Flood")
    now = utcnow()
    violation = RateLimitViolation(
        id=new_id(),
        user_id=flooder.id,
        first_attempt_at=now - timedelta(minutes=1),
        last_attempt_at=now,
        attempts=7,
        count_in_window=10,
        limit=10,
        window_seconds=86400,
    )
    async with write_transaction(session):
        session.add(violation)
    return violation


async def test_mark_reviewed_once(session: AsyncSession) -> None:
    violation = await _violation(session)
    moderator = await staff(session, "moderator", "Mo Mod")
    compliance = await staff(session, "compliance")
    with pytest.raises(Forbidden):
        await mark_violation_reviewed(session, violation.id, actor=compliance)
    reviewed = await mark_violation_reviewed(session, violation.id, actor=moderator)
    assert (reviewed.status, reviewed.reviewed_by_id) == ("reviewed", moderator.id)
    before = await snapshot(session)
    with pytest.raises(Conflict, match="already reviewed by Mo Mod at "):
        await mark_violation_reviewed(session, violation.id, actor=moderator)
    with pytest.raises(NotFound):
        await mark_violation_reviewed(session, new_id(), actor=moderator)
    assert await snapshot(session) == before
    assert await audit_count(session, "rate_limit.reviewed") == 1


async def test_suspending_the_violator_reviews_the_violation(session: AsyncSession) -> None:
    violation = await _violation(session)
    admin = await staff(session, "admin")
    before = await snapshot(session)
    with pytest.raises(InvalidInput, match="reason"):
        await suspend_violator(
            session, violation.id, actor=admin, reason=" ", days=1, policy="spam"
        )
    with pytest.raises(InvalidInput, match="days"):
        await suspend_violator(
            session, violation.id, actor=admin, reason="flood", days=2, policy="spam"
        )
    assert await snapshot(session) == before

    await suspend_violator(
        session, violation.id, actor=admin, reason="flood", days=3, policy="spam"
    )
    async with read_transaction(session):
        flooder = await session.get(User, violation.user_id, populate_existing=True)
        row = await session.get(RateLimitViolation, violation.id, populate_existing=True)
    assert flooder is not None and flooder.is_suspended and flooder.suspended_reason == "flood"
    assert row is not None and (row.status, row.reviewed_by_id) == ("reviewed", admin.id)
    assert await audit_count(session, "user.suspended") == 1
    assert await audit_count(session, "rate_limit.reviewed") == 1
    # a second suspension replaces the first; the violation stays reviewed once
    await suspend_violator(
        session, violation.id, actor=admin, reason="again", days=None, policy="spam"
    )
    assert await audit_count(session, "rate_limit.reviewed") == 1
