"""The per-user blocklist. Blocking is one-way and has a reason; either direction stops sends."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, apply_changes, record_event
from portal.database import get_or_insert, read_transaction, write_transaction
from portal.errors import InvalidInput, NotFound
from portal.models import MessageBlock, User
from portal.models.messaging import BLOCK_REASONS
from portal.principals import Participant
from portal.services import retaliation, validation

MAX_NOTE_LENGTH = 1000


def block_between(
    a: ColumnElement[uuid.UUID] | uuid.UUID, b: ColumnElement[uuid.UUID] | uuid.UUID
) -> Select[Any]:
    """The block, if any, that one of ``a`` and ``b`` placed on the other (they may be
    columns of an enclosing query)."""
    return (
        select(MessageBlock.id)
        .where(
            or_(
                (MessageBlock.blocker_id == a) & (MessageBlock.blocked_id == b),
                (MessageBlock.blocker_id == b) & (MessageBlock.blocked_id == a),
            )
        )
        .limit(1)
    )


async def _block_of(
    session: AsyncSession, blocker_id: uuid.UUID, blocked_id: uuid.UUID
) -> MessageBlock | None:
    block = await session.scalar(
        select(MessageBlock).where(
            MessageBlock.blocker_id == blocker_id, MessageBlock.blocked_id == blocked_id
        )
    )
    return block


async def block_user(
    session: AsyncSession,
    user: Participant,
    blocked_id: uuid.UUID,
    *,
    reason: str,
    note: str | None = None,
) -> MessageBlock:
    """Blocks ``blocked_id`` for ``user``; blocking again succeeds and keeps the latest reason."""
    reason = validation.one_of("reason", reason, BLOCK_REASONS)
    note = validation.optional_note("note", note, max_length=MAX_NOTE_LENGTH)
    if blocked_id == user.id:
        raise InvalidInput("user_id", "you cannot block yourself")
    async with write_transaction(session):
        blocked = await session.get(User, blocked_id)
        if blocked is None:
            raise NotFound(f"user {blocked_id} does not exist")
        block, created = await get_or_insert(
            session,
            find=lambda: _block_of(session, user.id, blocked_id),
            make=lambda: MessageBlock(
                blocker_id=user.id, blocked_id=blocked_id, reason=reason, note=note
            ),
        )
        if created:
            details: dict[str, object] = {"reason": reason}
            await retaliation.on_block(
                session,
                blocker_id=user.id,
                blocker_role=user.role,
                blocked=blocked,
                block_id=block.id,
            )
        else:
            previous_reason = block.reason
            wanted = {"reason": reason} if note is None else {"reason": reason, "note": note}
            changes = apply_changes(block, wanted)
            if not changes:
                return block
            details = {**changes, "previous_reason": previous_reason}
            await session.flush()
        await record_event(
            session,
            actor=Actor.user(user.id),
            action="user.blocked",
            subject_type="user",
            subject_id=blocked_id,
            details=details,
        )
    return block


async def unblock_user(session: AsyncSession, user: Participant, blocked_id: uuid.UUID) -> bool:
    """Lifts ``user``'s block on ``blocked_id``; True if there was one. Idempotent for a user
    who exists; NotFound for one who does not."""
    async with write_transaction(session):
        if await session.get(User, blocked_id) is None:
            raise NotFound(f"user {blocked_id} does not exist")
        removed = (
            await session.execute(
                delete(MessageBlock)
                .where(MessageBlock.blocker_id == user.id, MessageBlock.blocked_id == blocked_id)
                .returning(MessageBlock.reason)
            )
        ).first()
        if removed is not None:
            await record_event(
                session,
                actor=Actor.user(user.id),
                action="user.unblocked",
                subject_type="user",
                subject_id=blocked_id,
                details={"reason": removed.reason},
            )
    return removed is not None


async def list_blocks(session: AsyncSession, user: Participant) -> list[tuple[MessageBlock, User]]:
    """The users ``user`` has blocked, newest first, each with the blocked user."""
    async with read_transaction(session):
        rows = (
            await session.execute(
                select(MessageBlock, User)
                .join(User, User.id == MessageBlock.blocked_id)
                .where(MessageBlock.blocker_id == user.id)
                .order_by(MessageBlock.created_at.desc(), MessageBlock.id.desc())
            )
        ).all()
    return [(block, blocked) for block, blocked in rows]
