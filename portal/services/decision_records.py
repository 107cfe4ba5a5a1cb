"""What staff read about a person's decisions (the user page): every decision about them with its
statement of reasons, who took it, whether it was overturned and its appeals; and the appeals the
person filed (against decisions about them, or as a reporter)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import Appeal, ModerationDecision, StaffUser, User

DECISIONS_LIMIT: Final = 100
_STAFF_NAME = func.coalesce(StaffUser.display_name, StaffUser.email)


@dataclass(frozen=True)
class AppealLine:
    id: uuid.UUID
    decision_id: uuid.UUID
    basis: str
    status: str
    created_at: datetime
    decided_at: datetime | None
    appellant_id: uuid.UUID
    appellant_name: str
    decision_kind: str
    policy_title: str | None


@dataclass(frozen=True)
class DecisionLine:
    decision: ModerationDecision
    decided_by_name: str | None
    appeals: list[AppealLine]


@dataclass(frozen=True)
class UserDecisions:
    decisions: list[DecisionLine]  # about the user, newest first
    appeals_filed: list[AppealLine]  # by the user, newest first


def _line(appeal: Appeal, name: str, kind: str, policy_title: str | None) -> AppealLine:
    return AppealLine(
        id=appeal.id,
        decision_id=appeal.decision_id,
        basis=appeal.basis,
        status=appeal.status,
        created_at=appeal.created_at,
        decided_at=appeal.decided_at,
        appellant_id=appeal.appellant_id,
        appellant_name=name,
        decision_kind=kind,
        policy_title=policy_title,
    )


async def user_decisions(
    session: AsyncSession, user_id: uuid.UUID, *, limit: int = DECISIONS_LIMIT
) -> UserDecisions:
    """The decisions about ``user_id`` with their appeals, and the appeals they filed."""
    base = (
        select(Appeal, User.display_name, ModerationDecision.kind, ModerationDecision.policy_title)
        .join(User, User.id == Appeal.appellant_id)
        .join(ModerationDecision, ModerationDecision.id == Appeal.decision_id)
        .order_by(Appeal.created_at.desc(), Appeal.id.desc())
    )
    async with read_transaction(session):
        rows = (
            await session.execute(
                select(ModerationDecision, _STAFF_NAME)
                .outerjoin(StaffUser, StaffUser.id == ModerationDecision.decided_by_id)
                .where(ModerationDecision.user_id == user_id)
                .order_by(ModerationDecision.created_at.desc(), ModerationDecision.id.desc())
                .limit(limit)
            )
        ).all()
        ids = [decision.id for decision, _ in rows]
        against = (
            (await session.execute(base.where(Appeal.decision_id.in_(ids)))).all() if ids else []
        )
        filed = (await session.execute(base.where(Appeal.appellant_id == user_id))).all()
    by_decision: dict[uuid.UUID, list[AppealLine]] = defaultdict(list)
    for appeal, name, kind, title in against:
        by_decision[appeal.decision_id].append(_line(appeal, name, kind, title))
    return UserDecisions(
        decisions=[
            DecisionLine(decision, decided_by, by_decision.get(decision.id, []))
            for decision, decided_by in rows
        ],
        appeals_filed=[_line(appeal, name, kind, title) for appeal, name, kind, title in filed],
    )
