"""Appeals against moderation decisions (DSA Art. 20): filed by the person a restriction is about,
or by a reporter told "no violation found"; once per person and decision, within the decision's
window; decided by a moderator or admin who did not take the decision.

Deciding an appeal either upholds the decision, or overturns it — the restriction is reversed
(a removed message restored to its recipient, a warning withdrawn, a suspension lifted) or, for a
reporter's appeal of a dismissal, a restriction is now taken — or partially overturns it (a
suspension shortened). Every reversal is a decision with its own statement of reasons; the
decision reversed is marked overturned; the complainant is told the reasoned outcome.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import Actor, record_event
from portal.database import get_or_insert, lock_row, session_settings, write_transaction
from portal.errors import AlreadyDecided, Conflict, Forbidden, Gone, InvalidInput, NotFound
from portal.models import Appeal, FlagReport, Message, ModerationDecision, StaffUser, User
from portal.models.base import new_id
from portal.models.decisions import APPEAL_STATUSES, RESTRICTIONS
from portal.models.rows import MessageRow
from portal.principals import Participant
from portal.services import moderation, notifications, retaliation, statements, validation
from portal.services.moderation_types import now_or_utcnow
from portal.services.staff import staff_name
from portal.services.suspensions import (
    MAX_REASON_LENGTH,
    apply_suspension,
    lock_user,
    required_text,
    suspended_now,
    suspension_days,
)

MAX_APPEAL_LENGTH: Final = 2000
APPEAL_OUTCOMES: Final = ("upheld", "overturned", "partially_overturned")
# Overturning a dismissal (a reporter's appeal) takes one of these restrictions.
DISMISSAL_REMEDIES: Final = ("remove", "warn", "suspend")
_OUTCOME_WORDS: Final = {
    "upheld": "We reviewed your appeal and upheld the decision: it stands.",
    "overturned": "We reviewed your appeal and overturned the decision.",
    "partially_overturned": "We reviewed your appeal and changed the decision in part.",
}


async def _basis(
    session: AsyncSession, user: Participant, decision: ModerationDecision
) -> str | None:
    """Why ``user`` may appeal ``decision``: it restricts them, or it dismissed their report."""
    if decision.kind in RESTRICTIONS and decision.user_id == user.id:
        return "sanctioned_user"
    if decision.kind == "dismissed":
        reported = await session.scalar(
            select(FlagReport.id).where(
                FlagReport.decision_id == decision.id, FlagReport.reporter_id == user.id
            )
        )
        if reported is not None:
            return "reporter"
    return None


async def file_appeal(
    session: AsyncSession,
    user: Participant,
    decision_id: uuid.UUID,
    text: str,
    *,
    now: datetime | None = None,
) -> Appeal:
    """The caller's appeal of ``decision_id``. Forbidden when it is not theirs to appeal,
    Conflict for a second appeal or a decision already overturned, Gone past its window."""
    text = required_text("text", text, max_length=MAX_APPEAL_LENGTH)  # paragraphs are fine
    when = now_or_utcnow(now)
    async with write_transaction(session):
        decision = await session.get(ModerationDecision, decision_id)
        if decision is None:
            raise NotFound(f"decision {decision_id} does not exist")
        basis = await _basis(session, user, decision)
        if basis is None:
            raise Forbidden(
                "you may appeal a decision that restricts you, or the outcome of your own "
                "report when no violation was found"
            )
        if decision.overturned is not None:
            raise Conflict("this decision has already been overturned")
        if decision.appealable_until is None:
            raise Forbidden("this decision cannot be appealed")
        if when > decision.appealable_until:
            raise Gone(
                f"the appeal window closed on {decision.appealable_until:%Y-%m-%d %H:%M} UTC"
            )

        async def find() -> Appeal | None:
            found: Appeal | None = await session.scalar(
                select(Appeal).where(
                    Appeal.decision_id == decision_id, Appeal.appellant_id == user.id
                )
            )
            return found

        appeal, created = await get_or_insert(
            session,
            find=find,
            make=lambda: Appeal(
                id=new_id(),
                decision_id=decision_id,
                appellant_id=user.id,
                basis=basis,
                text=text,
                status="open",
                created_at=when,
            ),
        )
        if not created:
            raise Conflict("you have already appealed this decision")
        await record_event(
            session,
            actor=Actor.user(user.id),
            action="appeal.filed",
            subject_type="appeal",
            subject_id=appeal.id,
            thread_id=decision.thread_id,
            details={"decision_id": str(decision_id), "basis": basis, "text": text},
            occurred_at=when,
        )
    return appeal


def _checked_outcome(
    outcome: str, reasoning: str, days: int | None, action: str | None
) -> tuple[str, int | None]:
    validation.one_of("outcome", outcome, APPEAL_OUTCOMES)
    required_text("reasoning", reasoning, max_length=MAX_REASON_LENGTH)
    if outcome == "partially_overturned":
        if days is None:
            raise InvalidInput("days", "a partial overturn gives the suspension's new length")
        days = suspension_days(days)
    if action is not None:
        validation.one_of("action", action, DISMISSAL_REMEDIES)
    return outcome, days


async def _restore_message(
    session: AsyncSession, decision: ModerationDecision, actor: StaffUser, when: datetime
) -> Message | None:
    if decision.message_id is None:
        return None
    message = await lock_row(session, Message, decision.message_id, what="message", key_share=True)
    if message.is_removed:
        await moderation.restore_removed(
            session, message, actor=actor, decision_id=decision.id, when=when
        )
    return message


async def _reverse(
    session: AsyncSession,
    decision: ModerationDecision,
    *,
    actor: StaffUser,
    outcome: str,
    reasoning: str,
    days: int | None,
    when: datetime,
    notify_subject: bool,
) -> ModerationDecision:
    """Reverses a restriction (in full, or a suspension in part) with its statement."""
    message = None
    restricted_until = None
    if decision.kind == "removed":
        message = await _restore_message(session, decision, actor, when)
        kind = "restored"
    elif decision.kind == "warned":
        kind = "warning_withdrawn"
    else:
        kind = "suspension_shortened" if outcome == "partially_overturned" else "suspension_lifted"
        if kind == "suspension_shortened":
            assert days is not None
            restricted_until = decision.created_at + timedelta(days=days)
            if (
                decision.restricted_until is not None
                and restricted_until >= decision.restricted_until
            ):
                raise InvalidInput("days", "a shortened suspension must end before it did")
        if decision.user_id is not None:
            user = await lock_user(session, decision.user_id)
            if suspended_now(user, when) and user.suspended_at == decision.created_at:
                if restricted_until is None or restricted_until <= when:
                    user.is_suspended = False
                    user.suspended_until = None
                    user.suspended_reason = None
                else:
                    user.suspended_until = restricted_until
    return await statements.issue(
        session,
        kind=kind,
        user_id=decision.user_id,
        decided_by_id=actor.id,
        when=when,
        source=decision.source,
        explanation=reasoning,
        message=message,
        thread_id=decision.thread_id,
        restricted_until=restricted_until,
        days=days if kind == "suspension_shortened" else None,
        reverses=decision,
        notify=notify_subject,
    )


async def _remedy_dismissal(
    session: AsyncSession,
    decision: ModerationDecision,
    *,
    actor: StaffUser,
    action: str | None,
    days: int | None,
    grounds: statements.Citation,
    reasoning: str,
    when: datetime,
) -> ModerationDecision:
    """A reporter's appeal overturns a dismissal: the restriction is taken now."""
    if action is None:
        raise InvalidInput(
            "action", "overturning a dismissal takes an action: remove, warn or suspend"
        )
    if decision.message_id is None:
        raise Conflict("the reported message no longer exists")
    message = await lock_row(session, Message, decision.message_id, what="message", key_share=True)
    kind = {"remove": "removed", "warn": "warned", "suspend": "suspended"}[action]
    internal = f"appeal upheld against a dismissal: {reasoning}"
    if kind == "suspended":
        sender = await lock_user(session, message.sender_id)
        new = await apply_suspension(
            session,
            sender,
            actor=actor,
            reason=internal,
            days=suspension_days(days),
            now=when,
            citation=grounds,
            source="notice",
            message=message,
            details={"reverses": str(decision.id)},
        )
        new.reverses_id = decision.id
        decision.overturned, decision.overturned_at = "overturned", when
    else:
        if kind == "removed":
            moderation.withhold_body(session, message, reason=internal, when=when)
        new = await statements.issue(
            session,
            kind=kind,
            user_id=message.sender_id,
            decided_by_id=actor.id,
            when=when,
            source="notice",
            citation=grounds,
            internal_note=internal,
            message=message,
            reverses=decision,
        )
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="message.removed" if kind == "removed" else "user.warned",
            subject_type="message" if kind == "removed" else "user",
            subject_id=message.id if kind == "removed" else message.sender_id,
            thread_id=message.thread_id,
            details={
                "decision": kind,
                "reason": internal,
                **({"removed_at": when} if kind == "removed" else {"message_id": str(message.id)}),
                **statements.audit_details(new),
            },
            occurred_at=when,
        )
    reports = (
        await session.scalars(select(FlagReport).where(FlagReport.decision_id == decision.id))
    ).all()
    for report in reports:
        report.status = "actioned"
        report.decision = kind
        report.decision_id = new.id
        report.decided_by_id = actor.id
        report.decided_at = when
        report.updated_at = when
    # Upheld at last: a candidate's protected report opens a retaliation watch from now.
    await retaliation.on_reports_upheld(session, message, reports, decided_by=actor.id)
    return new


async def decide_appeal(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    *,
    actor: StaffUser,
    outcome: str,
    reasoning: str,
    days: int | None = None,
    action: str | None = None,
    grounds: statements.Grounds | None = None,
    now: datetime | None = None,
) -> Appeal:
    """Decides an open appeal (see the module's docstring). Forbidden for whoever took the
    decision appealed; AlreadyDecided for an appeal decided before."""
    permissions.require(actor, permissions.Capability.DECIDE_APPEAL)
    outcome, days = _checked_outcome(outcome, reasoning, days, action)
    reasoning = reasoning.strip()
    grounds = (grounds or statements.Grounds()).checked()
    when = now_or_utcnow(now)
    async with write_transaction(session):
        appeal = await lock_row(session, Appeal, appeal_id, what="appeal")
        if appeal.status != "open":
            decider = (
                await session.get(StaffUser, appeal.decided_by_id) if appeal.decided_by_id else None
            )
            raise AlreadyDecided(
                staff_name(decider) or "a former staff member", appeal.status, appeal.decided_at
            )
        decision = await lock_row(session, ModerationDecision, appeal.decision_id, what="decision")
        if decision.decided_by_id == actor.id:
            raise Forbidden(
                "you took the decision appealed: another moderator or an admin decides the appeal"
            )
        result: ModerationDecision | None = None
        if outcome != "upheld":
            if decision.overturned is not None:
                raise Conflict("this decision has already been overturned")
            if decision.kind == "dismissed":
                if outcome == "partially_overturned":
                    raise InvalidInput("outcome", "a dismissal is upheld or overturned")
                citation = await statements.cite(
                    session,
                    grounds.policy,
                    explanation=grounds.explanation,
                    public_note=grounds.public_note,
                )
                result = await _remedy_dismissal(
                    session,
                    decision,
                    actor=actor,
                    action=action,
                    days=days,
                    grounds=citation,
                    reasoning=reasoning,
                    when=when,
                )
            else:
                if outcome == "partially_overturned" and decision.kind != "suspended":
                    raise InvalidInput("outcome", "only a suspension can be partially overturned")
                result = await _reverse(
                    session,
                    decision,
                    actor=actor,
                    outcome=outcome,
                    reasoning=reasoning,
                    days=days,
                    when=when,
                    notify_subject=appeal.appellant_id != decision.user_id,
                )
        appeal.status = outcome
        appeal.decided_by_id = actor.id
        appeal.decided_at = when
        appeal.reasoning = reasoning
        appeal.outcome_decision_id = result.id if result else None
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="appeal.decided",
            subject_type="appeal",
            subject_id=appeal.id,
            thread_id=decision.thread_id,
            details={
                "decision_id": str(decision.id),
                "basis": appeal.basis,
                "outcome": outcome,
                "reasoning": reasoning,
                "outcome_decision_id": str(result.id) if result else None,
            },
            occurred_at=when,
        )
        await _tell_complainant(session, appeal, decision, result)
    return appeal


def appeal_paragraphs(
    appeal: Appeal, decision: ModerationDecision, result: ModerationDecision | None
) -> list[str]:
    """The complainant's notice: the outcome and its reasons; for the person a restriction is
    about, the reversal's statement; for a reporter, never the sanction's details."""
    lines = [_OUTCOME_WORDS[appeal.status], f"Our reasons: {appeal.reasoning}"]
    if result is not None:
        if appeal.basis == "sanctioned_user":
            lines.append(result.statement)
        else:
            lines.append(
                f"We have now taken action on the message you reported under our rule: "
                f"{result.policy_title}."
            )
    lines.append(
        "This decision on your appeal was taken by a member of our team who did not take the "
        "original decision. You may also turn to a certified out-of-court dispute settlement "
        "body or a court."
    )
    return lines


async def _tell_complainant(
    session: AsyncSession,
    appeal: Appeal,
    decision: ModerationDecision,
    result: ModerationDecision | None,
) -> None:
    appellant = await session.get(User, appeal.appellant_id)
    if appellant is None:
        return
    await notifications.queue_notice(
        session,
        recipient=appellant,
        subject="The decision on your appeal",
        paragraphs=appeal_paragraphs(appeal, decision, result),
        settings=session_settings(session),
        thread_id=decision.thread_id,
    )


# --- the staff's reads ----------------------------------------------------------------------


@dataclass(frozen=True)
class AppealItem:
    id: uuid.UUID
    decision_id: uuid.UUID
    basis: str
    status: str
    created_at: datetime
    excerpt: str
    decision_kind: str
    policy_title: str | None
    decided_by_id: uuid.UUID | None
    original_decider_name: str | None
    appellant_id: uuid.UUID
    appellant_name: str


@dataclass(frozen=True)
class AppealDetail:
    appeal: Appeal
    decision: ModerationDecision
    message: MessageRow | None
    appellant: User
    subject: User | None
    original_decider_name: str | None
    may_decide: bool  # the viewer did not take the decision, and may decide appeals
    history: list[ModerationDecision]  # the subject's decisions, newest first
    outcome_decision: ModerationDecision | None


async def appeal_queue(
    session: AsyncSession, *, viewer: StaffUser, status: str = "open", limit: int = 200
) -> list[AppealItem]:
    """Appeals of ``status``, oldest first (open ones wait longest at the top)."""
    permissions.require(viewer, permissions.Capability.READ_QUEUE)
    validation.one_of("status", status, APPEAL_STATUSES)
    rows = (
        await session.execute(
            select(Appeal, ModerationDecision, User.display_name, StaffUser)
            .join(ModerationDecision, ModerationDecision.id == Appeal.decision_id)
            .join(User, User.id == Appeal.appellant_id)
            .outerjoin(StaffUser, StaffUser.id == ModerationDecision.decided_by_id)
            .where(Appeal.status == status)
            .order_by(Appeal.created_at, Appeal.id)
            .limit(limit)
        )
    ).all()
    return [
        AppealItem(
            id=appeal.id,
            decision_id=decision.id,
            basis=appeal.basis,
            status=appeal.status,
            created_at=appeal.created_at,
            excerpt=appeal.text if len(appeal.text) <= 160 else appeal.text[:159] + "…",
            decision_kind=decision.kind,
            policy_title=decision.policy_title,
            decided_by_id=decision.decided_by_id,
            original_decider_name=staff_name(decider),
            appellant_id=appeal.appellant_id,
            appellant_name=name,
        )
        for appeal, decision, name, decider in rows
    ]


async def appeal_detail(
    session: AsyncSession, appeal_id: uuid.UUID, *, viewer: StaffUser
) -> AppealDetail:
    permissions.require(viewer, permissions.Capability.READ_QUEUE)
    appeal = await session.get(Appeal, appeal_id)
    if appeal is None:
        raise NotFound(f"appeal {appeal_id} does not exist")
    decision = await session.get(ModerationDecision, appeal.decision_id)
    assert decision is not None  # the foreign key cascades
    appellant = await session.get(User, appeal.appellant_id)
    assert appellant is not None
    subject = await session.get(User, decision.user_id) if decision.user_id else None
    message = await session.get(Message, decision.message_id) if decision.message_id else None
    decider = (
        await session.get(StaffUser, decision.decided_by_id) if decision.decided_by_id else None
    )
    history = (
        list(
            (
                await session.scalars(
                    select(ModerationDecision)
                    .where(ModerationDecision.user_id == decision.user_id)
                    .order_by(ModerationDecision.created_at.desc())
                    .limit(50)
                )
            ).all()
        )
        if decision.user_id
        else []
    )
    outcome = (
        await session.get(ModerationDecision, appeal.outcome_decision_id)
        if appeal.outcome_decision_id
        else None
    )
    return AppealDetail(
        appeal=appeal,
        decision=decision,
        message=message,
        appellant=appellant,
        subject=subject,
        original_decider_name=staff_name(decider),
        may_decide=(
            appeal.status == "open"
            and decision.decided_by_id != viewer.id
            and permissions.may(viewer, permissions.Capability.DECIDE_APPEAL)
        ),
        history=history,
        outcome_decision=outcome,
    )


async def open_appeals_summary(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many appeals are open, and when the oldest was filed."""
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(Appeal.created_at)).where(Appeal.status == "open")
        )
    ).one()
    return int(count), oldest
