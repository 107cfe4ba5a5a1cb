"""A sender flooding the queue: ``n`` messages to one recipient, each reported by them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import Message, User
from portal.models.base import utcnow
from portal.settings import Settings
from tests.conftest import settings_with
from tests.portal.moderation_support import report, send


async def flood(
    session: AsyncSession,
    settings: Settings,
    sender: User,
    recipient: User,
    n: int,
    reason: str = "spam",
    *,
    at: datetime | None = None,
) -> list[Message]:
    """``n`` messages from ``sender``, each reported by ``recipient`` for ``reason``, the
    first report at ``at`` (then a minute apart)."""
    roomy = settings_with(settings, rate_limit_messages=10_000)
    start = at or utcnow() - timedelta(hours=3)
    messages = []
    for i in range(n):
        message = await send(session, roomy, sender, recipient, f"Buy cheap followers, offer {i}")
        await report(session, message, recipient, reason, at=start + timedelta(minutes=i))
        messages.append(message)
    return messages
