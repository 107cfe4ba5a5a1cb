"""Email notifications to offline recipients, through the email outbox.

(Stub: filled in by the email-outbox work.)
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import EmailOutbox, Message, User
from portal.settings import Settings


async def queue_offline_notification(
    session: AsyncSession,
    *,
    message: Message,
    sender: User,
    recipient: User,
    settings: Settings,
) -> EmailOutbox | None:
    """Called inside the send's transaction; stores the intent to email an offline recipient."""
    return None
