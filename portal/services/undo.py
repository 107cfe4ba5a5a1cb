"""Undoing a decision just taken on a reported message (dismissed, removed, warned, suspended).

For :data:`UNDO_SECONDS` after a decision, the staff member who took it may undo it (the
dashboard offers it on the next page). The undo is its own audited action,
``moderation.undone``, in one transaction with the message locked, and puts back exactly what
the decision changed, as its audit event recorded it (``prior_reports``, ``prior_message``,
``prior_user``):

- the reports go back to their previous status, claim and decision (open, claimed, or
  escalated for an item compliance decided);
- a removed message is restored, recorded as ``message.restored`` as an appeal's reversal is;
- a suspension is put back to what it was, including an earlier one it replaced;
- the decision's record is marked overturned. A restriction's person was told of it already (the
  email cannot be unsent), so a reversal decision tells them it was reversed (restored, warning
  withdrawn, suspension lifted); a dismissal told its reporters only, and is marked overturned
  without a reversal: their reports are open again.

Refused (:class:`~portal.errors.Conflict`) once the window has passed (with a small grace for
the round trip), when something else happened to the item since (another decision, an appeal's
reversal, a suspension changed), or when it was undone already; :class:`Forbidden` for anyone
but who decided.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import Actor, record_event
from portal.database import lock_row, read_transaction, write_transaction
from portal.errors import Conflict, Forbidden, NotFound
from portal.models import AuditEvent, FlagReport, Message, ModerationDecision, StaffUser, User
from portal.services import moderation, statements
from portal.services.moderation_types import now_or_utcnow
from portal.services.suspensions import lock_user

UNDO_SECONDS: Final = 10  # what the dashboard offers
GRACE_SECONDS: Final = 5  # what the service allows on top, for the round trip

# The event each undoable decision is recorded by, and the reversal that tells its person.
_EVENTS: Final = {
    "dismissed": "moderation.dismissed",
    "removed": "message.removed",
    "warned": "user.warned",
    "suspended": "user.suspended",
}
_REVERSALS: Final = {
    "removed": "restored",
    "warned": "warning_withdrawn",
    "suspended": "suspension_lifted",
}
_WORDS: Final = {
    "dismissed": "dismissal",
    "removed": "removal",
    "warned": "warning",
    "suspended": "suspension",
}
UNDONE_EXPLANATION: Final = "The decision was taken in error and undone straight away."


@dataclass(frozen=True)
class UndoOffer:
    """A decision its taker may still undo, as the dashboard's notice shows it."""

    decision_id: uuid.UUID
    kind: str  # dismissed | removed | warned | suspended
    message_id: uuid.UUID
    expires_at: datetime
    seconds_left: float
    summary: str  # what was done, e.g. "suspended Sam Sender for 7 days"

    @property
    def what(self) -> str:
        return _WORDS[self.kind]


def _summary(decision: ModerationDecision, name: str) -> str:
    if decision.kind == "dismissed":
        return f"dismissed the reports on {name}'s message"
    if decision.kind == "removed":
        return f"removed {name}'s message"
    if decision.kind == "warned":
        return f"warned {name}"
    if decision.days is None:
        return f"suspended {name} indefinitely"
    return f"suspended {name} for {decision.days} day{'' if decision.days == 1 else 's'}"


@dataclass(frozen=True)
class Undone:
    decision_id: uuid.UUID
    kind: str
    message_id: uuid.UUID
    reversal_id: uuid.UUID | None


def _deadline(decision: ModerationDecision) -> datetime:
    return decision.created_at + timedelta(seconds=UNDO_SECONDS)


async def offer(
    session: AsyncSession,
    decision_id: uuid.UUID,
    *,
    viewer: StaffUser,
    now: datetime | None = None,
) -> UndoOffer | None:
    """The undo to offer ``viewer`` for ``decision_id``: None unless they took it, it is an
    undoable kind on a reported message, not overturned, and within the window."""
    async with read_transaction(session):
        decision = await session.get(ModerationDecision, decision_id)
        person = (
            await session.get(User, decision.user_id)
            if decision is not None and decision.user_id is not None
            else None
        )
    if (
        decision is None
        or decision.kind not in _EVENTS
        or decision.message_id is None
        or decision.decided_by_id != viewer.id
        or decision.overturned is not None
    ):
        return None
    left = (_deadline(decision) - now_or_utcnow(now)).total_seconds()
    if left <= 0:
        return None
    name = person.display_name if person is not None else "a former user"
    return UndoOffer(
        decision.id,
        decision.kind,
        decision.message_id,
        _deadline(decision),
        left,
        _summary(decision, name),
    )


async def _decision_event(session: AsyncSession, decision: ModerationDecision) -> AuditEvent:
    """The audit event that recorded ``decision`` (its prior state is there)."""
    subjects = [s for s in (decision.message_id, decision.user_id) if s is not None]
    events = await session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.action == _EVENTS[decision.kind],
            AuditEvent.subject_id.in_(subjects),
        )
        .order_by(AuditEvent.occurred_at.desc())
    )
    for event in events:
        if event.details.get("decision_id") == str(decision.id):
            return event
    raise Conflict("this decision's record has no state to restore")


def _moment(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


async def _restore_reports(
    session: AsyncSession, decision: ModerationDecision, prior: list[dict[str, Any]]
) -> list[FlagReport]:
    by_id = {str(state["id"]): state for state in prior}
    reports = list(
        (
            await session.scalars(
                select(FlagReport)
                .where(FlagReport.message_id == decision.message_id)
                .execution_options(populate_existing=True)
            )
        ).all()
    )
    decided = [r for r in reports if str(r.id) in by_id]
    if len(decided) != len(by_id) or any(
        r.decision_id != decision.id or r.decision != decision.kind for r in decided
    ):
        raise Conflict("something else happened to this item since: it cannot be undone")
    for report in decided:
        state = by_id[str(report.id)]
        report.status = str(state["status"])
        report.assigned_to_id = _uuid(state["assigned_to_id"])
        report.decision = state["decision"]
        report.decided_by_id = _uuid(state["decided_by_id"])
        report.decided_at = _moment(state["decided_at"])
        report.decision_id = _uuid(state["decision_id"])
        moment = _moment(state["updated_at"])
        if moment is not None:
            report.updated_at = moment
    return decided


async def _restore_message(
    session: AsyncSession,
    message: Message,
    decision: ModerationDecision,
    prior: dict[str, Any],
    actor: StaffUser,
    when: datetime,
) -> None:
    if not message.is_removed or message.removed_at != decision.created_at:
        raise Conflict("the message changed since it was removed: it cannot be undone")
    if prior["is_removed"]:  # removed before by another decision: that one stands
        raise Conflict("the message had been removed before this decision: it cannot be undone")
    # not removed before (refused above): restored is exactly the prior state
    await moderation.restore_removed(
        session, message, actor=actor, decision_id=decision.id, when=when, undo=True
    )


async def _restore_suspension(
    session: AsyncSession, decision: ModerationDecision, prior: dict[str, Any]
) -> User:
    assert decision.user_id is not None
    user = await lock_user(session, decision.user_id)
    if (
        not user.is_suspended
        or user.suspended_at != decision.created_at
        or user.suspended_until != decision.restricted_until
    ):
        raise Conflict("the sender's suspension changed since: it cannot be undone")
    user.is_suspended = bool(prior["is_suspended"])
    user.suspended_at = _moment(prior["suspended_at"])
    user.suspended_until = _moment(prior["suspended_until"])
    user.suspended_reason = prior["suspended_reason"]
    return user


def _still_suspended(user: User, when: datetime) -> str | None:
    """What a restored earlier suspension means for its person, or None if none is in force."""
    if not user.is_suspended:
        return None
    if user.suspended_until is None:
        return "Your earlier suspension still applies: it has no end date."
    if user.suspended_until <= when:
        return None
    return (
        "Your earlier suspension still applies: it ends on "
        f"{user.suspended_until:%d %B %Y, %H:%M} UTC."
    )


async def undo(
    session: AsyncSession,
    decision_id: uuid.UUID,
    *,
    actor: StaffUser,
    message_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Undone:
    """Undoes ``decision_id`` (see the module), on ``message_id`` when given. NotFound for an
    unknown decision or one on another message."""
    permissions.require(actor, permissions.Capability.DECIDE)
    async with write_transaction(session):
        decision = await session.get(ModerationDecision, decision_id, populate_existing=True)
        if (
            decision is None
            or decision.kind not in _EVENTS
            or decision.message_id is None
            or message_id not in (None, decision.message_id)
        ):
            raise NotFound(f"no decision {decision_id} to undo")
        if decision.decided_by_id != actor.id:
            raise Forbidden("only the staff member who took a decision may undo it")
        message = await lock_row(
            session, Message, decision.message_id, what="message", key_share=True
        )
        await session.refresh(decision)  # under the lock: what a concurrent undo left
        when = now_or_utcnow(now)
        if when > _deadline(decision) + timedelta(seconds=GRACE_SECONDS):
            raise Conflict(f"too late to undo: a decision can be undone for {UNDO_SECONDS} s")
        if decision.overturned is not None:
            raise Conflict("this decision was reversed already")
        event = await _decision_event(session, decision)
        reports = await _restore_reports(session, decision, event.details["prior_reports"])
        user: User | None = None
        if decision.kind == "removed":
            await _restore_message(
                session, message, decision, event.details["prior_message"], actor, when
            )
        elif decision.kind == "suspended":
            user = await _restore_suspension(session, decision, event.details["prior_user"])
        reversal: ModerationDecision | None = None
        if decision.kind in _REVERSALS:
            still = _still_suspended(user, when) if user is not None else None
            reversal = await statements.issue(
                session,
                kind=_REVERSALS[decision.kind],
                user_id=decision.user_id,
                decided_by_id=actor.id,
                when=when,
                source=decision.source,
                explanation=UNDONE_EXPLANATION,
                internal_note="undone",
                message=message,
                reverses=decision,
                # an earlier suspension is back: say so, not "lifted"
                opening=f"The latest suspension of your account was reversed. {still}"
                if still is not None
                else None,
            )
        else:  # a dismissal: its reporters' reports are open again; nobody else was told
            decision.overturned = "overturned"
            decision.overturned_at = when
        details: dict[str, object] = {
            "decision_id": str(decision.id),
            "undone": decision.kind,
            "undone_event_id": str(event.id),
            "report_ids": [str(r.id) for r in reports],
            "report_status": sorted({r.status for r in reports}),
        }
        if user is not None:
            details["suspended_until"] = user.suspended_until if user.is_suspended else None
        if reversal is not None:
            details.update(
                {
                    "reversal_id": str(reversal.id),
                    "reversal": reversal.kind,
                    "statement": reversal.statement,
                }
            )
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="moderation.undone",
            subject_type="message",
            subject_id=message.id,
            thread_id=message.thread_id,
            details=details,
            occurred_at=when,
        )
        return Undone(decision.id, decision.kind, message.id, reversal.id if reversal else None)


@dataclass(frozen=True)
class BulkUndoOffer:
    """The undo of a bulk dismissal: each item's dismissal, undone each on its own."""

    decision_ids: tuple[uuid.UUID, ...]
    seconds_left: float


async def bulk_offer(
    session: AsyncSession,
    message_ids: list[uuid.UUID] | None,
    *,
    viewer: StaffUser,
    now: datetime | None = None,
) -> BulkUndoOffer | None:
    """The undo to offer after ``viewer`` dismissed ``message_ids`` in bulk (None: whichever
    they dismissed, when the ids did not travel): their dismissals still within the window;
    None when there are none."""
    if message_ids is not None and not message_ids:
        return None
    when = now_or_utcnow(now)
    which = () if message_ids is None else (ModerationDecision.message_id.in_(message_ids),)
    async with read_transaction(session):
        found = await session.scalars(
            select(ModerationDecision).where(
                *which,
                ModerationDecision.kind == "dismissed",
                ModerationDecision.decided_by_id == viewer.id,
                ModerationDecision.overturned.is_(None),
                ModerationDecision.created_at > when - timedelta(seconds=UNDO_SECONDS),
            )
        )
        decisions = list(found.all())
    if not decisions:
        return None
    left = min((_deadline(d) - when).total_seconds() for d in decisions)
    return BulkUndoOffer(tuple(d.id for d in decisions), left)


@dataclass
class BulkUndone:
    undone: list[uuid.UUID]
    refused: list[tuple[uuid.UUID, str]]  # decision id, why


async def undo_many(
    session: AsyncSession,
    decision_ids: list[uuid.UUID],
    *,
    actor: StaffUser,
    now: datetime | None = None,
) -> BulkUndone:
    """Undoes each decision on its own (its own transaction and ``moderation.undone``); those
    refused are named with why."""
    permissions.require(actor, permissions.Capability.DECIDE)
    result = BulkUndone([], [])
    for decision_id in dict.fromkeys(decision_ids):
        try:
            await undo(session, decision_id, actor=actor, now=now)
        except (Conflict, Forbidden, NotFound) as exc:
            result.refused.append((decision_id, exc.detail))
        else:
            result.undone.append(decision_id)
    return result
