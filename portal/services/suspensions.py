"""Timed suspensions of end users. A suspension lifts itself when it ends: nothing has to run
then, because whoever asks (the send path, the dashboard) asks :func:`suspended_now`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import StaffUser, User

SUSPENSION_DAYS: Final = (1, 3, 7, 30)  # or None: indefinite


def suspended_now(user: User, now: datetime) -> bool:
    """Whether ``user``'s suspension is in force at ``now``."""
    return user.is_suspended and (user.suspended_until is None or user.suspended_until > now)


async def suspend_user(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    actor: StaffUser,
    reason: str,
    days: int | None,
    now: datetime | None = None,
) -> User:
    """Suspends ``user_id`` for ``days`` (1, 3, 7, 30) or indefinitely (None); replaces a
    suspension in force. Moderators and admins; the reason is required."""
    raise NotImplementedError


async def lift_suspension(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    actor: StaffUser,
    reason: str,
    now: datetime | None = None,
) -> User:
    """Ends a suspension early. Conflict if the user is not suspended now."""
    raise NotImplementedError
