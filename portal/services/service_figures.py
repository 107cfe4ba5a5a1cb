"""The figures a metrics scrape reads from the database: the trust-and-safety queue and the
email outbox, each in one statement on an index (``ix_flag_reports_status_created_at`` with
``ix_appeals_status_created_at``; ``ix_email_outbox_status_next_attempt_at``).

No person is named in them: counts and ages by queue stage, reason and outbox status only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import distinct, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import Appeal, EmailOutbox, FlagReport
from portal.models.base import utcnow
from portal.services.moderation_types import UNDECIDED
from portal.services.trends import as_utc

OUTBOX_WATCHED: Final = ("pending", "sending", "failed")


@dataclass(frozen=True)
class QueueCell:
    stage: str  # open, claimed, escalated
    reason: str
    reports: int
    items: int  # reported messages
    oldest_age_seconds: float


@dataclass(frozen=True)
class QueueSnapshot:
    cells: list[QueueCell]
    open_appeals: int
    oldest_appeal_age_seconds: float | None

    @property
    def oldest_age_seconds(self) -> float | None:
        ages = [cell.oldest_age_seconds for cell in self.cells]
        return max(ages) if ages else None


@dataclass(frozen=True)
class OutboxSnapshot:
    by_status: dict[str, int]
    oldest_pending_age_seconds: float | None


def _age(now: datetime, oldest: object) -> float | None:
    at = as_utc(oldest)  # type: ignore[arg-type]
    return None if at is None else max(0.0, (now - at).total_seconds())


async def queue_snapshot(session: AsyncSession, *, now: datetime | None = None) -> QueueSnapshot:
    """Undecided reports per stage and reason (reports, reported messages, the oldest one's age)
    and the open appeals, in one statement."""
    now = now or utcnow()
    reports = (
        select(
            literal("report").label("kind"),
            FlagReport.status.label("stage"),
            FlagReport.reason.label("reason"),
            func.count().label("n"),
            func.count(distinct(FlagReport.message_id)).label("items"),
            func.min(FlagReport.created_at).label("oldest"),
        )
        .where(FlagReport.status.in_(UNDECIDED))
        .group_by(FlagReport.status, FlagReport.reason)
    )
    appeals = select(
        literal("appeal"),
        literal("open"),
        literal(""),
        func.count(),
        func.count(),
        func.min(Appeal.created_at),
    ).where(Appeal.status == "open")
    async with read_transaction(session):
        rows = (await session.execute(union_all(reports, appeals))).tuples().all()
    cells = []
    open_appeals, oldest_appeal = 0, None
    for kind, stage, reason, n, items, oldest in rows:
        if kind == "appeal":
            open_appeals, oldest_appeal = n, _age(now, oldest)
            continue
        cells.append(QueueCell(stage, reason, n, items, _age(now, oldest) or 0.0))
    return QueueSnapshot(
        sorted(cells, key=lambda c: (c.stage, c.reason)), open_appeals, oldest_appeal
    )


async def outbox_snapshot(session: AsyncSession, *, now: datetime | None = None) -> OutboxSnapshot:
    """Outbox rows waiting, being sent or failed, and the oldest waiting one's age."""
    now = now or utcnow()
    query = (
        select(EmailOutbox.status, func.count(), func.min(EmailOutbox.created_at))
        .where(EmailOutbox.status.in_(OUTBOX_WATCHED))
        .group_by(EmailOutbox.status)
    )
    async with read_transaction(session):
        rows = (await session.execute(query)).tuples().all()
    by_status = dict.fromkeys(OUTBOX_WATCHED, 0)
    oldest_pending = None
    for status, n, oldest in rows:
        by_status[status] = n
        if status == "pending":
            oldest_pending = _age(now, oldest)
    return OutboxSnapshot(by_status, oldest_pending)
