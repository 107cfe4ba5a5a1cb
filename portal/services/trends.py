"""Trends of the moderation work, for the overview's charts and their CSV downloads.

Every figure is a grouped count or a list of a window's rows, read in one read transaction with
statements that run unchanged on SQLite and PostgreSQL (days are bucketed by SQL, percentiles in
Python, which neither database computes the same way). Definitions, as the overview says them:

- *reports per day by reason*: flag reports by the UTC day they were made, the last 90 days;
- *open queue*: reports neither dismissed nor actioned at the end of each day (open, claimed or
  escalated), and now per stage with the oldest one's age;
- *time to first action*: from a report to the first staff action on its message (a claim, an
  escalation or a decision), and *handling time*: from a report to its decision; both over the
  reports decided in each of the last 12 weeks (Monday to Sunday, UTC), as median and p90;
- *decisions by kind*: the moderation decisions of the last 90 days;
- *appeal overturn rate per policy*: of the appeals decided in the last 90 days, the share
  overturned (fully or partly), by the policy the appealed decision cited;
- *per moderator* (admins only, :data:`~portal.permissions.Capability.READ_STAFF_FIGURES`):
  decisions taken, median handling time of the reports they decided, and the overturn rate of
  their appealed decisions, over the last 90 days.
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.database import read_transaction
from portal.models import Appeal, AuditEvent, FlagReport, ModerationDecision, StaffUser
from portal.models.base import utcnow
from portal.models.decisions import DECISION_KINDS, OVERTURNS
from portal.models.moderation import FLAG_REASONS
from portal.permissions import Who
from portal.services.moderation_types import DECIDED, DECISION_ACTIONS, UNDECIDED

WINDOW_DAYS: Final = 90
WEEKS: Final = 12
QUEUE_STAGES: Final = UNDECIDED  # open, claimed, escalated
FIRST_ACTIONS: Final = ("moderation.claimed", *DECISION_ACTIONS)
NO_POLICY: Final = "(none cited)"


def as_utc(value: datetime | str | None) -> datetime | None:
    """A timestamp read back from either database (an aggregate loses the column's type on
    SQLite, which then answers its stored text) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_day(value: date | str) -> date:
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value


def _utc_day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a timestamp column, as SQL on either database."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` of 1: the largest); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class DailyReports:
    days: list[date]
    reasons: tuple[str, ...]
    counts: dict[str, list[int]]  # reason -> a count per day

    def totals(self) -> list[int]:
        return [sum(self.counts[r][i] for r in self.reasons) for i in range(len(self.days))]


@dataclass(frozen=True)
class QueueStage:
    stage: str
    reports: int
    oldest_age_seconds: int | None


@dataclass(frozen=True)
class QueueTrend:
    days: list[date]
    open_at_day_end: list[int]
    stages: list[QueueStage]

    @property
    def open_now(self) -> int:
        return sum(stage.reports for stage in self.stages)

    @property
    def oldest_age_seconds(self) -> int | None:
        ages = [s.oldest_age_seconds for s in self.stages if s.oldest_age_seconds is not None]
        return max(ages) if ages else None


@dataclass(frozen=True)
class WeeklyTimes:
    week: date  # the Monday
    reports: int
    first_action_median: float | None
    first_action_p90: float | None
    handling_median: float | None
    handling_p90: float | None


@dataclass(frozen=True)
class Rate:
    name: str
    decided: int
    overturned: int

    @property
    def rate(self) -> float | None:
        return self.overturned / self.decided if self.decided else None


@dataclass(frozen=True)
class ModeratorFigures:
    staff_id: uuid.UUID
    name: str
    decisions: int
    handling_median: float | None
    appeals_decided: int
    overturned: int

    @property
    def overturn_rate(self) -> float | None:
        return self.overturned / self.appeals_decided if self.appeals_decided else None


@dataclass(frozen=True)
class Trends:
    now: datetime
    reports: DailyReports
    queue: QueueTrend
    weeks: list[WeeklyTimes]
    decisions_by_kind: dict[str, int]
    overturn_by_policy: list[Rate]
    moderators: list[ModeratorFigures] | None  # None: the viewer may not see them


def window_days(now: datetime) -> list[date]:
    today = now.astimezone(UTC).date()
    return [today - timedelta(days=WINDOW_DAYS - 1 - i) for i in range(WINDOW_DAYS)]


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def week_starts(now: datetime) -> list[date]:
    today = now.astimezone(UTC).date()
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS)]


async def _daily_reports(session: AsyncSession, days: list[date], dialect: str) -> DailyReports:
    day = _utc_day(FlagReport.created_at, dialect)
    rows = await session.execute(
        select(day, FlagReport.reason, func.count())
        .where(FlagReport.created_at >= _start_of(days[0]))
        .group_by(day, FlagReport.reason)
    )
    index = {d: i for i, d in enumerate(days)}
    counts = {reason: [0] * len(days) for reason in FLAG_REASONS}
    for raw_day, reason, count in rows.tuples():
        i = index.get(_as_day(raw_day))
        if i is not None:
            counts.setdefault(reason, [0] * len(days))[i] += count
    return DailyReports(days=days, reasons=tuple(counts), counts=counts)


async def _queue(
    session: AsyncSession, days: list[date], now: datetime, dialect: str
) -> QueueTrend:
    start = _start_of(days[0])
    decided = FlagReport.status.in_(DECIDED)
    backlog = await session.scalar(
        select(func.count())
        .select_from(FlagReport)
        .where(
            FlagReport.created_at < start,
            ~decided | (FlagReport.decided_at >= start),
        )
    )
    index = {d: i for i, d in enumerate(days)}
    change = [0] * len(days)
    made_day = _utc_day(FlagReport.created_at, dialect)
    for raw_day, count in (
        await session.execute(
            select(made_day, func.count()).where(FlagReport.created_at >= start).group_by(made_day)
        )
    ).tuples():
        if (i := index.get(_as_day(raw_day))) is not None:
            change[i] += count
    decided_day = _utc_day(FlagReport.decided_at, dialect)
    for raw_day, count in (
        await session.execute(
            select(decided_day, func.count())
            .where(decided, FlagReport.decided_at >= start)
            .group_by(decided_day)
        )
    ).tuples():
        if (i := index.get(_as_day(raw_day))) is not None:
            change[i] -= count
    open_at_end: list[int] = []
    running = backlog or 0
    for delta in change:
        running += delta
        open_at_end.append(running)
    found = {
        status: (count, as_utc(oldest))
        for status, count, oldest in (
            await session.execute(
                select(FlagReport.status, func.count(), func.min(FlagReport.created_at))
                .where(FlagReport.status.in_(QUEUE_STAGES))
                .group_by(FlagReport.status)
            )
        ).tuples()
    }
    stages = []
    for stage in QUEUE_STAGES:
        count, oldest = found.get(stage, (0, None))
        age = None if oldest is None else max(0, int((now - oldest).total_seconds()))
        stages.append(QueueStage(stage, count, age))
    return QueueTrend(days=days, open_at_day_end=open_at_end, stages=stages)


def _first_staff_action() -> Any:
    """The first staff action on a report's message after the report (correlated; the audit
    log's (subject_type, subject_id) index finds it)."""
    return (
        select(func.min(AuditEvent.occurred_at))
        .where(
            AuditEvent.subject_type == "message",
            AuditEvent.subject_id == FlagReport.message_id,
            AuditEvent.actor_type == "staff",
            AuditEvent.action.in_(FIRST_ACTIONS),
            AuditEvent.occurred_at >= FlagReport.created_at,
        )
        .correlate(FlagReport)
        .scalar_subquery()
    )


def _spans(rows: Iterable[tuple[Any, Any, Any]]) -> list[tuple[datetime, float, float]]:
    """(decided at, seconds to first action, handling seconds) per decided report."""
    spans = []
    for made, decided, first in rows:
        made_at, decided_at, first_at = as_utc(made), as_utc(decided), as_utc(first)
        assert made_at is not None and decided_at is not None
        first_at = min(first_at or decided_at, decided_at)
        spans.append(
            (
                decided_at,
                max(0.0, (first_at - made_at).total_seconds()),
                max(0.0, (decided_at - made_at).total_seconds()),
            )
        )
    return spans


async def _weekly(session: AsyncSession, now: datetime) -> list[WeeklyTimes]:
    weeks = week_starts(now)
    rows = await session.execute(
        select(FlagReport.created_at, FlagReport.decided_at, _first_staff_action()).where(
            FlagReport.status.in_(DECIDED), FlagReport.decided_at >= _start_of(weeks[0])
        )
    )
    first: dict[date, list[float]] = defaultdict(list)
    handling: dict[date, list[float]] = defaultdict(list)
    for decided_at, to_first, handled in _spans(rows.tuples()):
        day = decided_at.date()
        monday = day - timedelta(days=day.weekday())
        first[monday].append(to_first)
        handling[monday].append(handled)
    return [
        WeeklyTimes(
            week=monday,
            reports=len(handling[monday]),
            first_action_median=median(first[monday]),
            first_action_p90=percentile(first[monday], 0.9),
            handling_median=median(handling[monday]),
            handling_p90=percentile(handling[monday], 0.9),
        )
        for monday in weeks
    ]


async def _decisions_by_kind(session: AsyncSession, start: datetime) -> dict[str, int]:
    counts = dict.fromkeys(DECISION_KINDS, 0)
    rows = await session.execute(
        select(ModerationDecision.kind, func.count())
        .where(ModerationDecision.created_at >= start)
        .group_by(ModerationDecision.kind)
    )
    for kind, count in rows.tuples():
        counts[kind] = counts.get(kind, 0) + count
    return counts


_OVERTURNED = func.sum(case((Appeal.status.in_(OVERTURNS), 1), else_=0))
_APPEAL_DECIDED = and_(Appeal.status != "open", Appeal.decided_at.is_not(None))


async def _overturn_by_policy(session: AsyncSession, start: datetime) -> list[Rate]:
    policy = func.coalesce(ModerationDecision.policy_key, NO_POLICY)
    rows = await session.execute(
        select(policy, func.count(), _OVERTURNED)
        .select_from(Appeal)
        .join(ModerationDecision, ModerationDecision.id == Appeal.decision_id)
        .where(_APPEAL_DECIDED, Appeal.decided_at >= start)
        .group_by(policy)
        .order_by(policy)
    )
    return [Rate(name, decided, int(overturned or 0)) for name, decided, overturned in rows]


async def _moderators(session: AsyncSession, start: datetime) -> list[ModeratorFigures]:
    decisions: dict[uuid.UUID | None, int] = dict(
        (
            await session.execute(
                select(ModerationDecision.decided_by_id, func.count())
                .where(
                    ModerationDecision.created_at >= start,
                    ModerationDecision.decided_by_id.is_not(None),
                )
                .group_by(ModerationDecision.decided_by_id)
            )
        )
        .tuples()
        .all()
    )
    handled: dict[uuid.UUID, list[float]] = defaultdict(list)
    for staff_id, made, decided in (
        await session.execute(
            select(FlagReport.decided_by_id, FlagReport.created_at, FlagReport.decided_at).where(
                FlagReport.status.in_(DECIDED),
                FlagReport.decided_at >= start,
                FlagReport.decided_by_id.is_not(None),
            )
        )
    ).tuples():
        made_at, decided_at = as_utc(made), as_utc(decided)
        assert staff_id is not None and made_at is not None and decided_at is not None
        handled[staff_id].append(max(0.0, (decided_at - made_at).total_seconds()))
    appealed: dict[uuid.UUID, tuple[int, int]] = {
        staff_id: (count, int(overturned or 0))
        for staff_id, count, overturned in (
            await session.execute(
                select(ModerationDecision.decided_by_id, func.count(), _OVERTURNED)
                .select_from(Appeal)
                .join(ModerationDecision, ModerationDecision.id == Appeal.decision_id)
                .where(
                    _APPEAL_DECIDED,
                    Appeal.decided_at >= start,
                    ModerationDecision.decided_by_id.is_not(None),
                )
                .group_by(ModerationDecision.decided_by_id)
            )
        ).tuples()
    }
    ids = {i for i in (*decisions, *handled, *appealed) if i is not None}
    if not ids:
        return []
    names = dict(
        (
            await session.execute(
                select(StaffUser.id, func.coalesce(StaffUser.display_name, StaffUser.email)).where(
                    StaffUser.id.in_(ids)
                )
            )
        )
        .tuples()
        .all()
    )
    figures = [
        ModeratorFigures(
            staff_id=staff_id,
            name=names.get(staff_id, "(removed account)"),
            decisions=decisions.get(staff_id, 0),
            handling_median=median(handled.get(staff_id, [])),
            appeals_decided=appealed.get(staff_id, (0, 0))[0],
            overturned=appealed.get(staff_id, (0, 0))[1],
        )
        for staff_id in ids
    ]
    return sorted(figures, key=lambda f: (-f.decisions, f.name))


async def trends(session: AsyncSession, viewer: Who, *, now: datetime | None = None) -> Trends:
    """Every chart's figures as of ``now``; the per-moderator ones only for a viewer who may
    see them."""
    permissions.require(viewer, permissions.Capability.READ_QUEUE)
    now = now or utcnow()
    days = window_days(now)
    start = _start_of(days[0])
    async with read_transaction(session):
        dialect = session.get_bind().dialect.name
        reports = await _daily_reports(session, days, dialect)
        queue = await _queue(session, days, now, dialect)
        weeks = await _weekly(session, now)
        kinds = await _decisions_by_kind(session, start)
        overturns = await _overturn_by_policy(session, start)
        moderators = (
            await _moderators(session, start)
            if permissions.may(viewer, permissions.Capability.READ_STAFF_FIGURES)
            else None
        )
    return Trends(now, reports, queue, weeks, kinds, overturns, moderators)
