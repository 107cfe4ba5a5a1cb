"""What an end user is told of moderation: the decisions about them (with their statements of
reasons), their own reports (receipt and outcome) and their appeals.

Nothing here says anything about another person: a reporter sees whether action was taken and
under which rule, never the sanction or the other account; the person a decision is about never
learns who reported them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.errors import NotFound
from portal.models import Appeal, FlagReport, Message, ModerationDecision
from portal.models.decisions import RESTRICTIONS
from portal.principals import Participant
from portal.services import statements
from portal.services.moderation_types import now_or_utcnow


@dataclass(frozen=True)
class PolicyCited:
    key: str
    title: str
    ground: str
    ground_reference: str
    category: str
    version: int


@dataclass(frozen=True)
class AppealNotice:
    id: uuid.UUID
    decision_id: uuid.UUID
    basis: str
    text: str
    status: str
    filed_at: datetime
    decided_at: datetime | None
    reasoning: str | None


@dataclass(frozen=True)
class DecisionNotice:
    id: uuid.UUID
    kind: str
    decided_at: datetime
    statement: str
    explanation: str
    policy: PolicyCited | None
    restricted_until: datetime | None
    message_id: uuid.UUID | None
    thread_id: uuid.UUID | None
    source: str
    overturned: str | None
    overturned_at: datetime | None
    appealable: bool
    appealable_until: datetime | None
    appeal: AppealNotice | None


@dataclass(frozen=True)
class ReportNotice:
    id: uuid.UUID
    message_id: uuid.UUID
    thread_id: uuid.UUID
    reason: str
    note: str | None
    legal_ground: str | None
    good_faith: bool | None
    reported_at: datetime
    status: str  # received | under_review | action_taken | no_violation
    decided_at: datetime | None
    policy_title: str | None  # when action was taken
    public_note: str | None
    decision_id: uuid.UUID | None
    appealable: bool
    appealable_until: datetime | None
    appeal: AppealNotice | None


def appeal_notice(appeal: Appeal) -> AppealNotice:
    return AppealNotice(
        id=appeal.id,
        decision_id=appeal.decision_id,
        basis=appeal.basis,
        text=appeal.text,
        status=appeal.status,
        filed_at=appeal.created_at,
        decided_at=appeal.decided_at,
        reasoning=appeal.reasoning,
    )


def _policy(decision: ModerationDecision) -> PolicyCited | None:
    if decision.policy_key is None:
        return None
    return PolicyCited(
        key=decision.policy_key,
        title=decision.policy_title or "",
        ground=decision.ground or "",
        ground_reference=decision.ground_reference or "",
        category=decision.category or "",
        version=decision.policy_version or 1,
    )


def _appealable(decision: ModerationDecision, appeal: Appeal | None, now: datetime) -> bool:
    return (
        appeal is None
        and decision.overturned is None
        and decision.appealable_until is not None
        and now <= decision.appealable_until
    )


async def _appeals_by(
    session: AsyncSession, user_id: uuid.UUID, decision_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Appeal]:
    if not decision_ids:
        return {}
    rows = await session.scalars(
        select(Appeal).where(Appeal.appellant_id == user_id, Appeal.decision_id.in_(decision_ids))
    )
    return {appeal.decision_id: appeal for appeal in rows}


async def decisions_about(
    session: AsyncSession, user: Participant, *, now: datetime | None = None, limit: int = 200
) -> list[DecisionNotice]:
    """The decisions about ``user``, newest first (not dismissals: those concern reporters)."""
    when = now_or_utcnow(now)
    async with read_transaction(session):
        decisions = list(
            (
                await session.scalars(
                    select(ModerationDecision)
                    .where(
                        ModerationDecision.user_id == user.id,
                        ModerationDecision.kind != "dismissed",
                    )
                    .order_by(ModerationDecision.created_at.desc(), ModerationDecision.id.desc())
                    .limit(limit)
                )
            ).all()
        )
        appeals = await _appeals_by(session, user.id, [d.id for d in decisions])
    return [
        DecisionNotice(
            id=d.id,
            kind=d.kind,
            decided_at=d.created_at,
            statement=d.statement,
            explanation=d.explanation,
            policy=_policy(d),
            restricted_until=d.restricted_until,
            message_id=d.message_id,
            thread_id=d.thread_id,
            source=d.source,
            overturned=d.overturned,
            overturned_at=d.overturned_at,
            appealable=d.kind in RESTRICTIONS and _appealable(d, appeals.get(d.id), when),
            appealable_until=d.appealable_until if d.kind in RESTRICTIONS else None,
            appeal=appeal_notice(appeals[d.id]) if d.id in appeals else None,
        )
        for d in decisions
    ]


async def reports_by(
    session: AsyncSession, user: Participant, *, now: datetime | None = None, limit: int = 200
) -> list[ReportNotice]:
    """``user``'s own reports, newest first, each with its outcome once decided."""
    when = now_or_utcnow(now)
    async with read_transaction(session):
        rows = (
            await session.execute(
                select(FlagReport, Message.thread_id, ModerationDecision)
                .join(Message, Message.id == FlagReport.message_id)
                .outerjoin(ModerationDecision, ModerationDecision.id == FlagReport.decision_id)
                .where(FlagReport.reporter_id == user.id)
                .order_by(FlagReport.created_at.desc(), FlagReport.id.desc())
                .limit(limit)
            )
        ).all()
        decided = [d for _, _, d in rows if d is not None]
        # a report closed anew by an appeal's outcome keeps the appeal against the first decision
        appeals = await _appeals_by(
            session,
            user.id,
            [d.id for d in decided] + [d.reverses_id for d in decided if d.reverses_id],
        )
    notices = []
    for report, thread_id, decision in rows:
        appeal = (
            appeals.get(decision.id)
            or (appeals.get(decision.reverses_id) if decision.reverses_id else None)
            if decision is not None
            else None
        )
        dismissed = decision is not None and decision.kind == "dismissed"
        notices.append(
            ReportNotice(
                id=report.id,
                message_id=report.message_id,
                thread_id=thread_id,
                reason=report.reason,
                note=report.note,
                legal_ground=report.legal_ground,
                good_faith=report.good_faith,
                reported_at=report.created_at,
                status=statements.outcome(decision, report.status),
                decided_at=decision.created_at if decision is not None else None,
                policy_title=(
                    decision.policy_title if decision is not None and not dismissed else None
                ),
                public_note=decision.public_note if decision is not None else None,
                decision_id=decision.id if decision is not None else None,
                appealable=dismissed
                and decision is not None
                and _appealable(decision, appeal, when),
                appealable_until=decision.appealable_until if dismissed and decision else None,
                appeal=appeal_notice(appeal) if appeal is not None else None,
            )
        )
    return notices


async def appeal_of(session: AsyncSession, user: Participant, appeal_id: uuid.UUID) -> AppealNotice:
    """The caller's own appeal; NotFound for anyone else's (as for one that does not exist)."""
    async with read_transaction(session):
        appeal = await session.scalar(
            select(Appeal).where(Appeal.id == appeal_id, Appeal.appellant_id == user.id)
        )
    if appeal is None:
        raise NotFound(f"appeal {appeal_id} does not exist")
    return appeal_notice(appeal)
