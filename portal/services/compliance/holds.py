"""Legal holds: placing, lifting, listing, and the one question every destructive path asks:
does a standing hold cover this thread?"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

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


@dataclass(frozen=True)
class Charge:
    """The basis of an ``eeoc_charge`` hold: a charge of discrimination filed with the EEOC (or
    a state or local agency) by ``charging_party_id`` against the hold's employer. The hold
    keeps the charging party's threads with the employer and every candidate's threads for the
    requisition until ``final_disposition_on`` has passed (29 CFR 1602.14); the date may be
    recorded later (:func:`record_final_disposition`)."""

    charge_number: str
    agency: str
    charging_party_id: uuid.UUID
    filed_on: date
    final_disposition_on: date | None = None


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
    charge: Charge | None = None,
) -> LegalHold:
    """Places a hold on one thread, one user, or an employer's requisition (give exactly one).

    With ``charge`` the hold is an ``eeoc_charge`` hold on the employer's requisition, and the
    charging party must be a candidate who applied to it; otherwise a ``litigation`` hold."""
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
    if charge is not None:
        charge = _checked_charge(charge)
        if scope != "requisition":
            raise InvalidInput(
                "scope", "an EEOC charge hold is on the respondent employer's requisition"
            )
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
        if charge is not None:
            await _check_charging_party(session, charge, employer_id, requisition_id)
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
            hold_type="eeoc_charge" if charge is not None else "litigation",
            charge_number=charge.charge_number if charge else None,
            charge_agency=charge.agency if charge else None,
            charging_party_id=charge.charging_party_id if charge else None,
            charge_filed_on=charge.filed_on if charge else None,
            final_disposition_on=charge.final_disposition_on if charge else None,
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


def _checked_charge(charge: Charge) -> Charge:
    number = validation.text("charge_number", charge.charge_number, max_length=100)
    agency = validation.text("charge_agency", charge.agency, max_length=200)
    if charge.final_disposition_on is not None and charge.final_disposition_on < charge.filed_on:
        raise InvalidInput("final_disposition_on", "cannot be before the charge was filed")
    return Charge(
        number, agency, charge.charging_party_id, charge.filed_on, charge.final_disposition_on
    )


async def _check_charging_party(
    session: AsyncSession, charge: Charge, employer_id: uuid.UUID | None, requisition_id: str | None
) -> None:
    party = await session.get(User, charge.charging_party_id)
    if party is None:
        raise NotFound(f"charging party: user {charge.charging_party_id} does not exist")
    if party.role != "candidate":
        raise InvalidInput("charging_party_id", f"user {party.id} is not a candidate")
    applied = await session.scalar(
        select(Application.id)
        .where(
            Application.employer_id == employer_id,
            Application.candidate_id == party.id,
            Application.requisition_id == requisition_id,
        )
        .limit(1)
    )
    if applied is None:
        # The requisition hold covers a pair through an application for the requisition: the
        # charging party's threads with the employer are held through theirs.
        raise InvalidInput(
            "charging_party_id",
            f"candidate {party.id} has no application for requisition {requisition_id} of "
            f"employer {employer_id}: provision it (with its requisition_id) first",
        )


async def record_final_disposition(
    session: AsyncSession, hold_id: uuid.UUID, final_disposition_on: date, *, actor: Who
) -> LegalHold:
    """Records (or corrects) the final disposition date of a standing EEOC charge hold; the
    retention run releases the hold once that date has passed."""
    async with write_transaction(session):
        actor = await permissions.authorize(session, actor, Capability.PLACE_HOLD)
        hold = await session.get(LegalHold, hold_id, with_for_update=True)
        if hold is None:
            raise NotFound(f"legal hold {hold_id} does not exist")
        if hold.hold_type != "eeoc_charge":
            raise InvalidInput("hold", f"legal hold {hold_id} is not an EEOC charge hold")
        if hold.lifted_at is not None:
            raise Conflict(f"legal hold {hold_id} was already lifted at {hold.lifted_at}")
        if hold.charge_filed_on is not None and final_disposition_on < hold.charge_filed_on:
            raise InvalidInput("final_disposition_on", "cannot be before the charge was filed")
        previous = hold.final_disposition_on
        hold.final_disposition_on = final_disposition_on
        await session.flush()
        await record_event(
            session,
            actor=actor,
            action="hold.disposition_recorded",
            subject_type="legal_hold",
            subject_id=hold.id,
            details={
                "final_disposition_on": final_disposition_on.isoformat(),
                "previous": previous.isoformat() if previous else None,
            },
        )
    return hold


def hold_basis(hold: LegalHold) -> dict[str, object]:
    """The hold's basis as the reports show it."""
    if hold.hold_type != "eeoc_charge":
        return {"type": "litigation"}
    return {
        "type": "eeoc_charge",
        "charge_number": hold.charge_number,
        "agency": hold.charge_agency,
        "charging_party_id": str(hold.charging_party_id),
        "respondent_employer_id": str(hold.employer_id),
        "requisition_id": hold.requisition_id,
        "filed_on": hold.charge_filed_on.isoformat() if hold.charge_filed_on else None,
        "final_disposition_on": (
            hold.final_disposition_on.isoformat() if hold.final_disposition_on else None
        ),
    }


def _hold_details(hold: LegalHold) -> dict[str, object]:
    return {
        "basis": hold_basis(hold),
        "scope": hold.scope,
        "thread_id": hold.thread_id,
        "user_id": hold.user_id,
        "employer_id": hold.employer_id,
        "requisition_id": hold.requisition_id,
        "reason": hold.reason,
        "case_reference": hold.case_reference,
    }
