"""Account-level triage: one decision on every open item of a sender ("act on all").

Each item is decided on its own, as a bulk decision is: in its own transaction, with its own
audit event, through ``moderation.remove_message`` or ``moderation.dismiss``. Items decided
meanwhile (by someone else, or already closed), unknown, not the sender's or not the actor's to
decide are skipped and named. Removing ends with one suspension of the sender (its own audited
decision, citing the same policy): the whole account is the problem, not one message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.database import read_transaction
from portal.errors import AlreadyDecided, Forbidden, InvalidInput, NotFound
from portal.models import Message, StaffUser, User
from portal.services import moderation, moderation_queue, retaliation, suspensions, validation
from portal.services.moderation_types import MAX_NOTE_LENGTH, SkippedItem

SENDER_ACTIONS: Final = ("remove_and_suspend", "dismiss")
MAX_ITEMS: Final = 1000


@dataclass(frozen=True)
class SenderActionResult:
    sender_id: uuid.UUID
    action: str
    decided: list[uuid.UUID] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)
    suspended: bool = False


async def act_on_all(
    session: AsyncSession,
    sender_id: uuid.UUID,
    action: str,
    *,
    actor: StaffUser,
    reason: str | None = None,
    grounds: moderation.Grounds | None = None,
    days: int | None = None,
    message_ids: list[uuid.UUID] | None = None,
    now: datetime | None = None,
) -> SenderActionResult:
    """``action`` on every open (or claimed) reported message of ``sender_id``, or on
    ``message_ids`` (the items the moderator saw; those decided since are skipped and named).

    ``remove_and_suspend``: each message removed citing ``grounds.policy`` (required) with
    ``reason`` as the internal note (required), then the sender suspended once for ``days``
    (1, 3, 7, 30; None: indefinitely). ``dismiss``: each item dismissed (``reason`` optional).
    """
    permissions.require(actor, permissions.Capability.DECIDE)
    validation.one_of("action", action, SENDER_ACTIONS)
    grounds = (grounds or moderation.Grounds()).checked()
    if action == "remove_and_suspend":
        permissions.require(actor, permissions.Capability.MODERATE_USERS)
        reason = suspensions.required_text(
            "reason", reason, max_length=suspensions.MAX_REASON_LENGTH
        )
        if not (grounds.policy or "").strip():
            raise InvalidInput("policy", "a restriction must cite a policy")
        days = suspensions.suspension_days(days)
    else:
        reason = validation.optional_note("reason", reason, max_length=MAX_NOTE_LENGTH)
    async with read_transaction(session):
        if await session.get(User, sender_id) is None:
            raise NotFound(f"user {sender_id} does not exist")
    if message_ids is None:
        targets = await moderation_queue.open_items_of_sender(session, sender_id)
        theirs = set(targets)
    else:
        targets = list(dict.fromkeys(message_ids))
        async with read_transaction(session):
            theirs = set(
                (
                    await session.scalars(
                        select(Message.id).where(
                            Message.id.in_(targets), Message.sender_id == sender_id
                        )
                    )
                ).all()
            )
    if len(targets) > MAX_ITEMS:
        raise InvalidInput("message_ids", f"at most {MAX_ITEMS} items at once")
    if action == "remove_and_suspend":
        async with read_transaction(session):
            held = await retaliation.held_messages(session, [t for t in targets if t in theirs])
        if held:
            # The suspension would rest on a report compliance has not reviewed yet.
            raise retaliation.HeldForReview(
                f"{len(held)} of these items are {retaliation.HELD_EXPLANATION}; "
                "act on the others one by one, or wait for the review"
            )
    result = SenderActionResult(sender_id=sender_id, action=action)
    for message_id in targets:
        if message_id not in theirs:
            result.skipped.append(SkippedItem(message_id, None, None, "not this sender's message"))
            continue
        try:
            if action == "dismiss":
                await moderation.dismiss(
                    session,
                    message_id,
                    actor=actor,
                    note=reason,
                    public_note=grounds.public_note,
                    now=now,
                )
            else:
                await moderation.remove_message(
                    session, message_id, actor=actor, reason=reason or "", grounds=grounds, now=now
                )
        except AlreadyDecided as exc:
            result.skipped.append(
                SkippedItem(message_id, exc.decided_by_name, exc.decision, exc.detail)
            )
        except (Forbidden, NotFound) as exc:
            result.skipped.append(SkippedItem(message_id, None, None, exc.detail))
        else:
            result.decided.append(message_id)
    if action == "remove_and_suspend":
        await suspensions.suspend_user(
            session,
            sender_id,
            actor=actor,
            reason=reason or "",
            days=days,
            policy=grounds.policy,
            explanation=grounds.explanation,
            now=now,
        )
        return SenderActionResult(sender_id, action, result.decided, result.skipped, suspended=True)
    return result
