"""The decisions staff take on reported messages: claim, dismiss, remove, warn, suspend,
escalate, notes and bulk decisions.

The queue's reads live in ``moderation_queue``; the report view, user history and overview in
``moderation_records``; the dataclasses they return and the stage constants in
``moderation_types``; suspensions of a user in ``suspensions``. Callers import each from there.

One queue item per reported message, collapsing all of its reports. A decision acts on all of
the item's actionable reports together, records one audit event naming the staff member in the
same transaction, and happens once: the message row is locked first (PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` serialises writers anyway), so of two concurrent decisions the second sees
the first's result and gets :class:`AlreadyDecided`.

Stages of a report: ``open`` → (``claimed``) → ``dismissed`` | ``actioned`` | ``escalated``;
``escalated`` → ``dismissed`` | ``actioned`` (decided by compliance or an admin).

Roles (the rules are ``portal.permissions``'s: ``may_decide`` by stage, ``may_claim``...):
- moderators decide open and claimed items; an escalated item is already decided for them;
- compliance officers decide only escalated items (``Forbidden`` on open ones) and add notes;
- admins do everything, and decide escalated items too.

Deciding an item claimed by another moderator is allowed: a claim says who is looking at it, it
is not a lock; the decided-once rule is what prevents double decisions.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import Actor, record_event
from portal.database import lock_row, write_transaction
from portal.errors import AlreadyDecided, Conflict, Forbidden, InvalidInput, NotFound
from portal.events import publish as events
from portal.models import (
    FlagReport,
    Message,
    ModerationDecision,
    ModeratorNote,
    StaffUser,
    User,
)
from portal.models.base import new_id
from portal.models.decisions import RESTRICTIONS
from portal.services import retaliation, statements, validation
from portal.services.moderation_records import note_view
from portal.services.moderation_types import (
    BULK_ACTIONS,
    MAX_NOTE_LENGTH,
    OPEN,
    BulkResult,
    NoteView,
    SkippedItem,
    now_or_utcnow,
)
from portal.services.staff import staff_name
from portal.services.statements import Grounds as Grounds  # callers cite through moderation
from portal.services.suspensions import (
    MAX_REASON_LENGTH,
    apply_suspension,
    lock_user,
    required_text,
    suspension_days,
)

# --- decisions -----------------------------------------------------------------------------


async def _lock_message(session: AsyncSession, message_id: uuid.UUID) -> Message:
    """The message, locked: every decision on its reports serialises here (PostgreSQL; SQLite
    has serialised writers already). NO KEY UPDATE leaves new reports (which only take a key-share
    lock through their foreign key) free to arrive."""
    return await lock_row(session, Message, message_id, what="message", key_share=True)


async def _current_reports(session: AsyncSession, message_id: uuid.UUID) -> list[FlagReport]:
    query = (
        select(FlagReport)
        .where(FlagReport.message_id == message_id)
        .order_by(FlagReport.created_at, FlagReport.id)
        .execution_options(populate_existing=True)
    )
    reports = list((await session.scalars(query)).all())
    if not reports:
        raise NotFound(f"message {message_id} has no reports")
    return reports


async def _already_decided(session: AsyncSession, reports: list[FlagReport]) -> AlreadyDecided:
    decided = [r for r in reports if r.decided_at is not None]
    if not decided:
        return AlreadyDecided("nobody", "none", None)
    escalated = [r for r in decided if r.status == "escalated"]
    latest = max(escalated or decided, key=lambda r: r.decided_at or r.created_at)
    staff = await session.get(StaffUser, latest.decided_by_id) if latest.decided_by_id else None
    return AlreadyDecided(
        staff_name(staff) or "a former staff member",
        latest.decision or latest.status,
        latest.decided_at,
    )


async def _actionable(
    session: AsyncSession, actor: StaffUser, reports: list[FlagReport], *, escalating: bool
) -> list[FlagReport]:
    """The reports ``actor`` decides now; Forbidden or AlreadyDecided when there are none."""
    open_ = [r for r in reports if r.status in OPEN]
    escalated = [r for r in reports if r.status == "escalated"]
    if escalating and not permissions.may_escalate(actor):
        raise Forbidden("compliance officers decide escalated items; they do not escalate")
    for stage, targets in (("open", open_), ("escalated", escalated)):
        if targets and permissions.may_decide(actor, stage, escalating=escalating):
            return targets
    if open_ and not permissions.may_decide(actor, "open"):
        raise Forbidden("compliance officers act only on escalated items")
    raise await _already_decided(session, reports)


Effect = Callable[
    [Message, datetime, list[FlagReport], statements.Citation | None],
    Awaitable[ModerationDecision | None],
]


async def _decide(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    now: datetime | None,
    status: str,
    decision: str,
    action: str | None,
    details: dict[str, object],
    effect: Effect | None = None,
    subject_user: bool = False,
    grounds: Grounds | None = None,
    internal_note: str | None = None,
) -> ModerationDecision | None:
    """Decides every actionable report of ``message_id`` and records one audit event (``action``;
    None when ``effect`` records it), in one transaction with the message locked. Unless it
    escalates, the decision's statement is written and its reporters are told the outcome; a
    restriction (``decision`` in RESTRICTIONS) must cite a policy. The event keeps the reports'
    state before (``prior_reports``) for an undo (``portal.services.undo``); returns the
    decision's record (None for an escalation)."""
    permissions.require(actor, permissions.Capability.DECIDE)
    grounds = (grounds or Grounds()).checked()
    async with write_transaction(session):
        message = await _lock_message(session, message_id)
        reports = await _current_reports(session, message_id)
        targets = await _actionable(session, actor, reports, escalating=status == "escalated")
        await retaliation.ensure_not_held(session, targets)
        when = now_or_utcnow(now)
        details["prior_reports"] = [report_state(r) for r in targets]
        events.queue_changed(session, "decision")
        citation = (
            await statements.cite(
                session,
                grounds.policy,
                explanation=grounds.explanation,
                public_note=grounds.public_note,
            )
            if decision in RESTRICTIONS
            else None
        )
        for report in targets:
            report.status = status
            report.decision = decision
            report.decided_by_id = actor.id
            report.decided_at = when
            report.updated_at = when
        recorded = await effect(message, when, targets, citation) if effect is not None else None
        if status == "actioned":
            await retaliation.on_reports_upheld(session, message, targets, decided_by=actor.id)
        if recorded is None and status != "escalated":
            recorded = await statements.issue(
                session,
                kind=decision,
                user_id=message.sender_id,
                decided_by_id=actor.id,
                when=when,
                source="notice",
                citation=citation,
                public_note=grounds.public_note,
                internal_note=internal_note,
                message=message,
            )
        if recorded is not None:
            await statements.tell_reporters(session, targets, recorded)
        if action is None:
            return recorded
        event_details: dict[str, object] = {
            "decision": decision,
            "report_ids": [str(r.id) for r in targets],
            **details,
            **(statements.audit_details(recorded) if recorded is not None else {}),
        }
        if subject_user:
            event_details["message_id"] = str(message_id)
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action=action,
            subject_type="user" if subject_user else "message",
            subject_id=message.sender_id if subject_user else message_id,
            thread_id=message.thread_id,
            details=event_details,
        )
        return recorded


def report_state(report: FlagReport) -> dict[str, object]:
    """What a decision changes of a report, as it was: an undo puts it back."""
    return {
        "id": str(report.id),
        "status": report.status,
        "assigned_to_id": str(report.assigned_to_id) if report.assigned_to_id else None,
        "decision": report.decision,
        "decided_by_id": str(report.decided_by_id) if report.decided_by_id else None,
        "decided_at": report.decided_at,
        "decision_id": str(report.decision_id) if report.decision_id else None,
        "updated_at": report.updated_at,
    }


def withhold_body(session: AsyncSession, message: Message, *, reason: str, when: datetime) -> None:
    """Withholds a (locked) message's body from its readers, kept for the audit trail, and
    tells both participants' event streams once the transaction commits; the caller records
    ``message.removed`` with ``removed_at`` = ``when``."""
    message.is_removed = True
    message.removed_at = when
    message.removed_reason = reason
    message.updated_at = when
    events.message_removed(
        session,
        message_id=message.id,
        thread_id=message.thread_id,
        sender_id=message.sender_id,
        recipient_id=message.recipient_id,
    )


async def restore_removed(
    session: AsyncSession,
    message: Message,
    *,
    actor: StaffUser,
    decision_id: uuid.UUID,
    when: datetime,
    **details: object,
) -> None:
    """Shows a removed (locked) message to its readers again — an appeal's reversal, an undo —
    recorded as ``message.restored``, which the audit report reads as the removal undone."""
    message.is_removed = False
    message.removed_at = None
    message.removed_reason = None
    message.updated_at = when
    await record_event(
        session,
        actor=Actor.staff(actor.id),
        action="message.restored",
        subject_type="message",
        subject_id=message.id,
        thread_id=message.thread_id,
        details={"decision_id": str(decision_id), "restored_at": when, **details},
        occurred_at=when,
    )


async def claim(
    session: AsyncSession, message_id: uuid.UUID, *, actor: StaffUser, now: datetime | None = None
) -> None:
    """Marks the item as being looked at by ``actor``. Conflict if another claimed it first;
    claiming one's own claim again changes nothing."""
    permissions.require(actor, permissions.Capability.CLAIM)
    async with write_transaction(session):
        message = await _lock_message(session, message_id)
        reports = await _current_reports(session, message_id)
        open_ = [r for r in reports if r.status in OPEN]
        if not open_:
            raise await _already_decided(session, reports)
        others = {r.assigned_to_id for r in open_ if r.status == "claimed"} - {actor.id}
        if others:
            holder = await session.get(StaffUser, next(iter(others)))
            raise Conflict(f"already claimed by {staff_name(holder) or 'someone else'}")
        if all(r.status == "claimed" for r in open_):
            return
        when = now_or_utcnow(now)
        for report in open_:
            report.status = "claimed"
            report.assigned_to_id = actor.id
            report.updated_at = when
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="moderation.claimed",
            subject_type="message",
            subject_id=message_id,
            thread_id=message.thread_id,
            details={"report_ids": [str(r.id) for r in open_]},
        )
        events.queue_changed(session, "claim")


async def unclaim(
    session: AsyncSession, message_id: uuid.UUID, *, actor: StaffUser, now: datetime | None = None
) -> None:
    """Releases the actor's claim (an admin may release anyone's); nothing if unclaimed."""
    permissions.require(actor, permissions.Capability.CLAIM)
    async with write_transaction(session):
        message = await _lock_message(session, message_id)
        reports = await _current_reports(session, message_id)
        claimed = [r for r in reports if r.status == "claimed"]
        if not claimed:
            return
        if not all(permissions.may_release_claim(actor, r.assigned_to_id) for r in claimed):
            raise Forbidden("only the moderator who claimed an item (or an admin) releases it")
        when = now_or_utcnow(now)
        for report in claimed:
            report.status = "open"
            report.assigned_to_id = None
            report.updated_at = when
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="moderation.unclaimed",
            subject_type="message",
            subject_id=message_id,
            thread_id=message.thread_id,
            details={"report_ids": [str(r.id) for r in claimed]},
        )
        events.queue_changed(session, "claim")


async def dismiss(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    note: str | None = None,
    public_note: str | None = None,
    now: datetime | None = None,
) -> ModerationDecision | None:
    """No action needed: the item's reports are closed as dismissed, and each reporter is told
    no violation was found (with ``public_note``)."""
    note = validation.optional_note("note", note, max_length=MAX_NOTE_LENGTH)
    return await _decide(
        session,
        message_id,
        actor=actor,
        now=now,
        status="dismissed",
        decision="dismissed",
        action="moderation.dismissed",
        details={"note": note},
        grounds=Grounds(public_note=public_note),
        internal_note=note,
    )


async def remove_message(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    reason: str,
    grounds: Grounds | None = None,
    now: datetime | None = None,
) -> ModerationDecision | None:
    """Withholds the message's body from its readers (kept for the audit trail), citing
    ``grounds.policy``; ``reason`` is the internal note."""
    reason = required_text("reason", reason, max_length=MAX_REASON_LENGTH)
    details: dict[str, object] = {"reason": reason}

    async def withhold(
        message: Message, when: datetime, _reports: list[FlagReport], _: object
    ) -> None:
        details["prior_message"] = {
            "is_removed": message.is_removed,
            "removed_at": message.removed_at,
            "removed_reason": message.removed_reason,
            "updated_at": message.updated_at,
        }
        withhold_body(session, message, reason=reason, when=when)
        details["removed_at"] = when  # the event binds the report's removal time

    return await _decide(
        session,
        message_id,
        actor=actor,
        now=now,
        status="actioned",
        decision="removed",
        action="message.removed",
        details=details,
        effect=withhold,
        grounds=grounds,
        internal_note=reason,
    )


async def warn_sender(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    note: str,
    grounds: Grounds | None = None,
    now: datetime | None = None,
) -> ModerationDecision | None:
    """Warns the sender, citing ``grounds.policy`` (on their timeline, with its statement);
    the message stays. ``note`` is the internal note."""
    note = required_text("note", note, max_length=MAX_NOTE_LENGTH)
    return await _decide(
        session,
        message_id,
        actor=actor,
        now=now,
        status="actioned",
        decision="warned",
        action="user.warned",
        details={"note": note},
        subject_user=True,
        grounds=grounds,
        internal_note=note,
    )


async def suspend_sender(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    reason: str,
    days: int | None,
    grounds: Grounds | None = None,
    now: datetime | None = None,
) -> ModerationDecision | None:
    """Suspends the sender for ``days`` (1, 3, 7, 30) or indefinitely (None), citing
    ``grounds.policy``. The one audit event is the suspension's ``user.suspended``, naming the
    message and reports."""
    reason = required_text("reason", reason, max_length=MAX_REASON_LENGTH)
    days = suspension_days(days)
    details: dict[str, object] = {}  # _decide adds the reports' prior state

    async def suspend(
        message: Message,
        when: datetime,
        reports: list[FlagReport],
        citation: statements.Citation | None,
    ) -> ModerationDecision:
        assert citation is not None  # a suspension is a restriction: _decide cited its policy
        sender = await lock_user(session, message.sender_id)
        prior_user = {
            "is_suspended": sender.is_suspended,
            "suspended_at": sender.suspended_at,
            "suspended_until": sender.suspended_until,
            "suspended_reason": sender.suspended_reason,
        }
        return await apply_suspension(
            session,
            sender,
            actor=actor,
            reason=reason,
            days=days,
            now=when,
            citation=citation,
            source="notice",
            message=message,
            details={
                "message_id": str(message.id),
                "report_ids": [str(r.id) for r in reports],
                **details,
                "prior_user": prior_user,
            },
        )

    return await _decide(
        session,
        message_id,
        actor=actor,
        now=now,
        status="actioned",
        decision="suspended",
        action=None,
        details=details,
        effect=suspend,
        grounds=grounds,
        internal_note=reason,
    )


async def escalate(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    note: str | None = None,
    now: datetime | None = None,
) -> None:
    """Hands the item to compliance, saying why (``note`` is required)."""
    note = required_text("note", note, max_length=MAX_NOTE_LENGTH)
    await _decide(
        session,
        message_id,
        actor=actor,
        now=now,
        status="escalated",
        decision="escalated",
        action="moderation.escalated",
        details={"note": note},
    )


async def send_back(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    note: str,
    now: datetime | None = None,
) -> None:
    """Compliance hands an escalated item back to moderation: its escalated reports are open
    again (unclaimed, undecided), ``note`` (required) says why and is kept as a moderator note
    on the message, and ``moderation.sent_back`` is recorded. AlreadyDecided when nothing of the
    item is escalated (any more)."""
    permissions.require(actor, permissions.Capability.DECIDE_ESCALATED)
    note = required_text("note", note, max_length=MAX_NOTE_LENGTH)
    async with write_transaction(session):
        message = await _lock_message(session, message_id)
        reports = await _current_reports(session, message_id)
        escalated = [r for r in reports if r.status == "escalated"]
        if not escalated:
            raise await _already_decided(session, reports)
        when = now_or_utcnow(now)
        prior = [report_state(r) for r in escalated]
        for report in escalated:
            report.status = "open"
            report.assigned_to_id = None
            report.decision = None
            report.decided_by_id = None
            report.decided_at = None
            report.updated_at = when
        written = ModeratorNote(
            id=new_id(),
            author_id=actor.id,
            message_id=message_id,
            user_id=None,
            body=f"Sent back to moderation: {note}",
            created_at=when,
        )
        session.add(written)
        await record_event(  # the note, as every note is recorded
            session,
            actor=Actor.staff(actor.id),
            action="moderation.note_added",
            subject_type="message",
            subject_id=message_id,
            thread_id=message.thread_id,
            details={"note_id": str(written.id), "body": written.body},
        )
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="moderation.sent_back",
            subject_type="message",
            subject_id=message_id,
            thread_id=message.thread_id,
            details={
                "note": note,
                "note_id": str(written.id),
                "report_ids": [str(r.id) for r in escalated],
                "prior_reports": prior,
            },
        )


async def add_note(
    session: AsyncSession,
    *,
    actor: StaffUser,
    body: str,
    message_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> NoteView:
    """A moderator note on a message or a user (exactly one of them). Any staff role."""
    permissions.require(actor, permissions.Capability.ADD_NOTE)
    body = required_text("body", body, max_length=MAX_NOTE_LENGTH)
    if (message_id is None) == (user_id is None):
        raise InvalidInput("message_id", "a note is on a message or on a user (exactly one)")
    async with write_transaction(session):
        thread_id = None
        if message_id is not None:
            message = await session.get(Message, message_id)
            if message is None:
                raise NotFound(f"message {message_id} does not exist")
            thread_id = message.thread_id
        elif await session.get(User, user_id) is None:
            raise NotFound(f"user {user_id} does not exist")
        note = ModeratorNote(
            id=new_id(),
            author_id=actor.id,
            message_id=message_id,
            user_id=user_id,
            body=body,
            created_at=now_or_utcnow(now),
        )
        session.add(note)
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="moderation.note_added",
            subject_type="message" if message_id is not None else "user",
            subject_id=message_id or user_id,
            thread_id=thread_id,
            details={"note_id": str(note.id), "body": body},
        )
    return note_view(note, staff_name(actor) or "")


async def bulk_decide(
    session: AsyncSession,
    message_ids: list[uuid.UUID],
    action: str,
    *,
    actor: StaffUser,
    reason: str | None = None,
    grounds: Grounds | None = None,
    now: datetime | None = None,
) -> BulkResult:
    """``action`` (dismiss | remove | escalate) on each item in its own transaction; items
    decided meanwhile, unknown or that ``actor`` may not decide are skipped and named."""
    permissions.require(actor, permissions.Capability.DECIDE)
    validation.one_of("action", action, BULK_ACTIONS)
    grounds = (grounds or Grounds()).checked()
    if action == "remove":
        reason = required_text("reason", reason, max_length=MAX_REASON_LENGTH)
        if not (grounds.policy or "").strip():
            raise InvalidInput("policy", "a restriction must cite a policy")
    elif action == "escalate":  # escalating says why
        reason = required_text("reason", reason, max_length=MAX_NOTE_LENGTH)
    else:
        reason = validation.optional_note("reason", reason, max_length=MAX_NOTE_LENGTH)
    if not message_ids:
        raise InvalidInput("message_ids", "select at least one item")
    if len(message_ids) > 500:
        raise InvalidInput("message_ids", "at most 500 items at once")
    result = BulkResult()
    for message_id in dict.fromkeys(message_ids):
        try:
            if action == "dismiss":
                await dismiss(
                    session,
                    message_id,
                    actor=actor,
                    note=reason,
                    public_note=grounds.public_note,
                    now=now,
                )
            elif action == "remove":
                await remove_message(
                    session, message_id, actor=actor, reason=reason or "", grounds=grounds, now=now
                )
            else:
                await escalate(session, message_id, actor=actor, note=reason, now=now)
        except AlreadyDecided as exc:
            result.skipped.append(
                SkippedItem(message_id, exc.decided_by_name, exc.decision, exc.detail)
            )
        except (Forbidden, NotFound) as exc:
            result.skipped.append(SkippedItem(message_id, None, None, exc.detail))
        else:
            result.decided.append(message_id)
    return result
