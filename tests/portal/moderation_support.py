"""Building blocks for moderation tests: staff members, sent messages and reports on them.

Reports are inserted directly when a test needs more reporters than a thread's two participants
(the API only lets participants flag); otherwise they go through the flag service.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction, write_transaction
from portal.errors import PortalError
from portal.models import AuditEvent, FlagReport, Message, StaffUser, User
from portal.models.base import new_id, utcnow
from portal.services import messaging
from portal.services.messaging import MessageDraft
from portal.settings import Settings
from tests.people import person

PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORD)


async def staff(session: AsyncSession, role: str, name: str | None = None) -> StaffUser:
    """A staff member whose password is PASSWORD, hashed with cheap argon2 parameters (verifying
    reads them from the hash) so that tests do not spend their time hashing."""
    tag = uuid.uuid4().hex[:8]
    member = StaffUser(
        id=new_id(),
        email=f"{role}-{tag}@staff.example.com",
        role=role,
        password_hash=_PASSWORD_HASH,
        display_name=name or f"{role.title()} {tag}",
    )
    async with write_transaction(session):
        session.add(member)
    return member


async def user(session: AsyncSession, role: str, name: str | None = None) -> User:
    """A provisioned user who is online (so sends queue no email)."""
    made = await person(session, role, name)
    async with write_transaction(session):
        await session.execute(
            update(User).where(User.id == made.id).values(last_active_at=utcnow())
        )
    return made


async def send(
    session: AsyncSession,
    settings: Settings,
    sender: User,
    recipient: User,
    body: str = "Hello there",
    *,
    body_format: str = "plain",
    now: datetime | None = None,
) -> Message:
    """Sends through the messaging service. A refused send rolls back, which expires every
    object the session holds; they are reloaded so that the test can go on using them."""
    try:
        sent = await messaging.send_message(
            session,
            sender_id=sender.id,
            draft=MessageDraft(recipient_id=recipient.id, body=body, body_format=body_format),
            settings=settings,
            now=now,
        )
    except PortalError:
        async with read_transaction(session):
            for loaded in list(session.identity_map.values()):
                await session.refresh(loaded)
        raise
    return sent.message


async def report(
    session: AsyncSession,
    message: Message,
    reporter: User,
    reason: str = "spam",
    *,
    note: str | None = None,
    at: datetime | None = None,
) -> FlagReport:
    row = FlagReport(
        id=new_id(),
        message_id=message.id,
        reporter_id=reporter.id,
        reason=reason,
        note=note,
        created_at=at or utcnow(),
        updated_at=at or utcnow(),
    )
    async with write_transaction(session):
        session.add(row)
    return row


async def audit_count(session: AsyncSession, action: str | None = None) -> int:
    query = select(func.count()).select_from(AuditEvent)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    async with read_transaction(session):
        return await session.scalar(query) or 0


async def report_rows(session: AsyncSession, message_id: uuid.UUID) -> list[FlagReport]:
    async with read_transaction(session):
        return list(
            (
                await session.scalars(
                    select(FlagReport)
                    .where(FlagReport.message_id == message_id)
                    .order_by(FlagReport.created_at)
                    .execution_options(populate_existing=True)
                )
            ).all()
        )
