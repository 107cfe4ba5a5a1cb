"""Legal holds: placing, lifting, listing, and the one question every destructive path asks:
does a standing hold cover this thread?"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import record_event
from portal.database import read_transaction, write_transaction
from portal.errors import Conflict, InvalidInput, NotFound
from portal.models import Application, LegalHold, MessageThread, User
from portal.models.base import utcnow
from portal.permissions import Capability, Who
from portal.services import validation

MAX_REASON_LENGTH = 2000
MAX_CASE_REFERENCE_LENGTH = 200


class HeldContent(Conflict):
    """A destructive change refused because a legal hold covers the content."""

    code = "held_content"

    def __init__(self, hold: LegalHold, what: str) -> None:
        super().__init__(f"refused: {what} is under {hold.describe()}")
        self.hold = hold


def covers(
    thread_id: SQLColumnExpression[uuid.UUID] | uuid.UUID,
    employer_id: SQLColumnExpression[uuid.UUID] | uuid.UUID,
    candidate_id: SQLColumnExpression[uuid.UUID] | uuid.UUID,
) -> ColumnElement[bool]:
    """SQL: ``LegalHold`` covers the thread between ``employer_id`` and ``candidate_id``.

    A requisition hold covers every thread between the employer and each candidate with an
    application for that requisition, whenever the application was provisioned.
    """
    return or_(
        and_(LegalHold.scope == "thread", LegalHold.thread_id == thread_id),
        and_(LegalHold.scope == "user", LegalHold.user_id.in_([employer_id, candidate_id])),
        and_(
            LegalHold.scope == "requisition",
            LegalHold.employer_id == employer_id,
            # Correlated to the thread and the hold whatever encloses them: left to itself the
            # subquery would take message_threads into its own FROM and match any thread of the
            # employer (a hold on one requisition holding them all).
            exists()
            .where(
                Application.employer_id == employer_id,
                Application.candidate_id == candidate_id,
                Application.requisition_id == LegalHold.requisition_id,
            )
            .correlate_except(Application),
        ),
    )


def thread_is_held(thread: type[MessageThread] = MessageThread) -> ColumnElement[bool]:
    """SQL for "an active hold covers this thread", to filter thread queries with."""
    return exists().where(
        LegalHold.lifted_at.is_(None),
        covers(thread.id, thread.employer_id, thread.candidate_id),
    )


async def holds_on_thread(
    session: AsyncSession, thread: MessageThread, *, include_lifted: bool = False
) -> list[LegalHold]:
    """The holds covering ``thread``, oldest first (active ones only unless asked)."""
    query = select(LegalHold).where(covers(thread.id, thread.employer_id, thread.candidate_id))
    if not include_lifted:
        query = query.where(LegalHold.lifted_at.is_(None))
    return list(await session.scalars(query.order_by(LegalHold.placed_at, LegalHold.id)))


async def ensure_thread_not_held(session: AsyncSession, thread: MessageThread, what: str) -> None:
    """Raises :class:`HeldContent` naming the first standing hold on ``thread``."""
    holds = await holds_on_thread(session, thread)
    if holds:
        raise HeldContent(holds[0], what)


async def ensure_requisition_not_held(session: AsyncSession, application: Application) -> None:
    """Raises :class:`HeldContent` when a standing hold covers ``application``'s requisition."""
    if application.requisition_id is None:
        return
    hold = await session.scalar(
        select(LegalHold)
        .where(
            LegalHold.lifted_at.is_(None),
            LegalHold.scope == "requisition",
            LegalHold.employer_id == application.employer_id,
            LegalHold.requisition_id == application.requisition_id,
        )
        .limit(1)
    )
    if hold is not None:
        raise HeldContent(hold, f"the requisition of application {application.id}")


async def place_hold(
    session: AsyncSession,
    *,
    actor: Who,
    reason: str,
    case_reference: str,
    thread_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    employer_id: uuid.UUID | None = None,
    requisition_id: str | None = None,
) -> LegalHold:
    """Places a hold on one thread, one user, or an employer's requisition (give exactly one)."""
    reason = validation.text("reason", reason, max_length=MAX_REASON_LENGTH)
    case_reference = validation.text(
        "case_reference", case_reference, max_length=MAX_CASE_REFERENCE_LENGTH
    )
    if requisition_id is not None:
        requisition_id = validation.text("requisition_id", requisition_id, max_length=200)
    targets = [
        scope
        for scope, given in (
            ("thread", thread_id is not None),
            ("user", user_id is not None),
            ("requisition", employer_id is not None or requisition_id is not None),
        )
        if given
    ]
    if len(targets) != 1:
        raise InvalidInput(
            "scope", "give exactly one of a thread, a user, or an employer with a requisition"
        )
    scope = targets[0]
    if scope == "requisition" and (employer_id is None or requisition_id is None):
        raise InvalidInput("requisition_id", "a requisition hold needs both employer and id")
    async with write_transaction(session):
        actor = await permissions.authorize(session, actor, Capability.PLACE_HOLD)
        if thread_id is not None and await session.get(MessageThread, thread_id) is None:
            raise NotFound(f"thread {thread_id} does not exist")
        if user_id is not None and await session.get(User, user_id) is None:
            raise NotFound(f"user {user_id} does not exist")
        if employer_id is not None:
            employer = await session.get(User, employer_id)
            if employer is None:
                raise NotFound(f"employer: user {employer_id} does not exist")
            if employer.role != "employer":
                raise InvalidInput("employer", f"user {employer_id} is not an employer")
        hold = LegalHold(
            scope=scope,
            thread_id=thread_id,
            user_id=user_id,
            employer_id=employer_id,
            requisition_id=requisition_id,
            reason=reason,
            case_reference=case_reference,
            placed_by_type=actor.type,
            placed_by_id=actor.id,
            placed_at=utcnow(),
        )
        session.add(hold)
        await session.flush()
        await record_event(
            session,
            actor=actor,
            action="hold.placed",
            subject_type="legal_hold",
            subject_id=hold.id,
            # A hold on one thread is on that thread's chain, so its report's holds are bound.
            thread_id=hold.thread_id if hold.scope == "thread" else None,
            details=_hold_details(hold),
        )
    return hold


async def lift_hold(
    session: AsyncSession, hold_id: uuid.UUID, *, actor: Who, reason: str
) -> LegalHold:
    reason = validation.text("reason", reason, max_length=MAX_REASON_LENGTH)
    async with write_transaction(session):
        actor = await permissions.authorize(session, actor, Capability.LIFT_HOLD)
        hold = await session.get(LegalHold, hold_id, with_for_update=True)
        if hold is None:
            raise NotFound(f"legal hold {hold_id} does not exist")
        if hold.lifted_at is not None:
            raise Conflict(f"legal hold {hold_id} was already lifted at {hold.lifted_at}")
        hold.lifted_at = utcnow()
        hold.lifted_by_type = actor.type
        hold.lifted_by_id = actor.id
        hold.lifted_reason = reason
        await session.flush()
        await record_event(
            session,
            actor=actor,
            action="hold.lifted",
            subject_type="legal_hold",
            subject_id=hold.id,
            thread_id=hold.thread_id if hold.scope == "thread" else None,
            details={**_hold_details(hold), "lifted_reason": reason},
        )
    return hold


async def list_holds(session: AsyncSession, *, include_lifted: bool = False) -> Sequence[LegalHold]:
    async with read_transaction(session):
        query = select(LegalHold).order_by(LegalHold.placed_at, LegalHold.id)
        if not include_lifted:
            query = query.where(LegalHold.lifted_at.is_(None))
        return list(await session.scalars(query))


def _hold_details(hold: LegalHold) -> dict[str, object]:
    return {
        "scope": hold.scope,
        "thread_id": hold.thread_id,
        "user_id": hold.user_id,
        "employer_id": hold.employer_id,
        "requisition_id": hold.requisition_id,
        "reason": hold.reason,
        "case_reference": hold.case_reference,
    }
