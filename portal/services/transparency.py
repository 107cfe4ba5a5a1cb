"""The DSA transparency obligations, from the decision, report and appeal tables: the Art. 15
report's figures for a period, and the period's statements of reasons as the bodies of the
Transparency Database's ``POST /api/v1/statements`` (Art. 24(5)).

A period is two UTC days, both included. What falls in it:

- **reports**: the reports *received* in it (``flag_reports.created_at``), by reason and by the
  DSA category of the policy cited by the decision that closed each one
  (``flag_reports.decision_id``); a report not decided yet, or closed without a policy (a
  dismissal), counts as ``STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE``. A notice of illegal content
  is a report with a ``legal_ground``.
- **decisions**: the decisions *taken* in it, by kind; the restrictions among them (removed,
  warned, suspended) by ground (``illegal_content``: the law; ``terms_of_service``: the terms),
  by source (a notice or staff's own initiative) and by category. The median time from report to
  decision runs from each report's ``created_at`` to the ``created_at`` of the decision that
  closed it, over the reports closed by the decisions taken in the period.
- **appeals**: the appeals *received* in it, by basis and outcome (their status today), and the
  median time to decide those of them that were decided; the decisions *reversed* in it are those
  marked overturned or partially overturned with ``overturned_at`` in the period.
- **suspensions**: the suspensions decided in it, by length in days, indefinite apart.

Both exports need :attr:`~portal.permissions.Capability.EXPORT` and are audit events
(``transparency_report.exported``, ``transparency_statements.exported``), recorded once the file
is complete. Reading the figures (the compliance page) writes nothing.

A statement carries no personal data: its facts are composed from the kind of decision, the
cited policy's title and the source alone (never the message, the people, the reporter, nor the
moderator's explanation), and ``puid`` is the decision's id.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import record_event
from portal.database import SessionSource, snapshot_transaction, write_transaction
from portal.errors import InvalidInput
from portal.models import Appeal, FlagReport, Message, ModerationDecision, User
from portal.models.base import utcnow
from portal.models.decisions import (
    APPEAL_BASES,
    APPEAL_STATUSES,
    DECISION_KINDS,
    DECISION_SOURCES,
    DSA_CATEGORIES,
    OVERTURNS,
    POLICY_GROUNDS,
    RESTRICTIONS,
)
from portal.models.moderation import FLAG_REASONS
from portal.permissions import Capability, Who
from portal.services.compliance.spooled import new_spool, read_spooled, spool
from portal.services.csv_cells import csv_row
from portal.services.suspensions import SUSPENSION_DAYS

REPORT_FORMATS: Final = ("json", "csv")
REPORT_FORMAT_NAME: Final = "portal-transparency-report/1"
CSV_COLUMNS: Final = ("section", "name", "value")
NOT_SPECIFIED: Final = "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"
OTHER_VIOLATION: Final = "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
# The Transparency Database takes at most 100 statements a call.
STATEMENTS_PER_BATCH: Final = 100
FACTS_LIMIT: Final = 5000
GROUND_LIMIT: Final = 500
EXPLANATION_LIMIT: Final = 2000
DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
ACCOUNT_TYPES: Final = {"employer": "ACCOUNT_TYPE_BUSINESS", "candidate": "ACCOUNT_TYPE_PRIVATE"}


# --- the period -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Two UTC days, both included."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period: midnight after ``last``."""
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=UTC)

    def holds(self, column: Any) -> Any:
        return (column >= self.start) & (column < self.end)


def parse_day(name: str, value: str | date | None) -> date:
    """A day written YYYY-MM-DD; an error names the field ``name``."""
    if isinstance(value, date):
        return value
    text = (value or "").strip()
    if not text:
        raise InvalidInput(name, "a date is required (YYYY-MM-DD)")
    try:
        if not DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(name, f"{text!r} is not a date (YYYY-MM-DD)") from None


def parse_period(
    first: str | date | None,
    last: str | date | None,
    *,
    first_name: str = "from",
    last_name: str = "to",
) -> Period:
    """The period from two days (YYYY-MM-DD), both included; an error names the field."""
    start, end = parse_day(first_name, first), parse_day(last_name, last)
    if end < start:
        raise InvalidInput(last_name, f"{end} is before {first_name} {start}")
    if end == date.max:  # the period ends at midnight after its last day
        raise InvalidInput(last_name, f"{end} is past the last day a period can end")
    return Period(start, end)


def default_period(today: date | None = None) -> Period:
    """The last full calendar half-year before ``today`` (UTC)."""
    today = today or utcnow().date()
    if today.month > 6:
        return Period(date(today.year, 1, 1), date(today.year, 6, 30))
    return Period(date(today.year - 1, 7, 1), date(today.year - 1, 12, 31))


# --- the Art. 15 figures ----------------------------------------------------------------------


@dataclass(frozen=True)
class TransparencyReport:
    period: Period
    generated_at: datetime
    reports: dict[str, Any]
    decisions: dict[str, Any]
    appeals: dict[str, Any]
    suspensions: dict[str, Any]

    def document(self) -> dict[str, Any]:
        """The report as JSON: nested sections of figures."""
        return {
            "format": REPORT_FORMAT_NAME,
            "period": {"from": str(self.period.first), "to": str(self.period.last), "tz": "UTC"},
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "reports": self.reports,
            "decisions": self.decisions,
            "appeals": self.appeals,
            "suspensions": self.suspensions,
        }

    def rows(self) -> list[tuple[str, str, Any]]:
        """One (section, name, value) per figure; nested names joined with dots."""
        rows: list[tuple[str, str, Any]] = [
            ("period", "from", str(self.period.first)),
            ("period", "to", str(self.period.last)),
        ]
        for section in ("reports", "decisions", "appeals", "suspensions"):
            rows.extend((section, name, value) for name, value in _flat(getattr(self, section)))
        return rows


def _flat(values: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in values.items():
        if isinstance(value, Mapping):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _zeros(keys: Iterable[str]) -> dict[str, int]:
    return dict.fromkeys(keys, 0)


def _median_seconds(pairs: Iterable[tuple[datetime, datetime]]) -> int | None:
    """The median of ``later - earlier`` in whole seconds (None for no pairs)."""
    spans = [max((later - earlier).total_seconds(), 0.0) for earlier, later in pairs]
    return round(statistics.median(spans)) if spans else None


async def _counts(session: AsyncSession, column: Any, *where: Any) -> dict[Any, int]:
    rows = await session.execute(select(column, func.count()).where(*where).group_by(column))
    return {key: count for key, count in rows.tuples()}


async def _report_figures(session: AsyncSession, period: Period) -> dict[str, Any]:
    received = period.holds(FlagReport.created_at)
    by_reason = _zeros(FLAG_REASONS)
    for reason, count in (await _counts(session, FlagReport.reason, received)).items():
        by_reason[reason] = by_reason.get(reason, 0) + count
    category = func.coalesce(ModerationDecision.category, NOT_SPECIFIED)
    by_category = _zeros(DSA_CATEGORIES)
    rows = await session.execute(
        select(category, func.count())
        .select_from(FlagReport)
        .outerjoin(ModerationDecision, ModerationDecision.id == FlagReport.decision_id)
        .where(received)
        .group_by(category)
    )
    for name, count in rows.tuples():
        by_category[name] = by_category.get(name, 0) + count
    notices = await session.scalar(
        select(func.count())
        .select_from(FlagReport)
        .where(received, FlagReport.legal_ground.is_not(None), FlagReport.legal_ground != "")
    )
    closed = await session.scalar(
        select(func.count())
        .select_from(FlagReport)
        .where(received, FlagReport.decision_id.is_not(None))
    )
    return {
        "received": sum(by_reason.values()),
        "notices_of_illegal_content": notices or 0,
        "closed_by_a_decision": closed or 0,
        "by_reason": by_reason,
        "by_category": by_category,
    }


async def _decision_figures(session: AsyncSession, period: Period) -> dict[str, Any]:
    taken = period.holds(ModerationDecision.created_at)
    restriction = ModerationDecision.kind.in_(RESTRICTIONS)
    by_kind = _zeros(DECISION_KINDS)
    by_kind.update(await _counts(session, ModerationDecision.kind, taken))
    by_ground: dict[str, int] = _zeros(POLICY_GROUNDS)
    by_ground_and_kind = {ground: _zeros(RESTRICTIONS) for ground in POLICY_GROUNDS}
    rows = await session.execute(
        select(ModerationDecision.ground, ModerationDecision.kind, func.count())
        .where(taken, restriction)
        .group_by(ModerationDecision.ground, ModerationDecision.kind)
    )
    for ground, kind, count in rows.tuples():
        key = ground or "not_specified"  # a restriction always cites a policy; shown if not
        by_ground[key] = by_ground.get(key, 0) + count
        by_ground_and_kind.setdefault(key, _zeros(RESTRICTIONS))[kind] += count
    by_source = _zeros(DECISION_SOURCES)
    by_source.update(await _counts(session, ModerationDecision.source, taken, restriction))
    by_category = _zeros(DSA_CATEGORIES)
    category = func.coalesce(ModerationDecision.category, NOT_SPECIFIED)
    for name, count in (await _counts(session, category, taken, restriction)).items():
        by_category[name] = by_category.get(name, 0) + count
    automated = await session.scalar(
        select(func.count())
        .select_from(ModerationDecision)
        .where(taken, ModerationDecision.automated.is_(True))
    )
    timings = (
        await session.execute(
            select(FlagReport.created_at, ModerationDecision.created_at)
            .join(ModerationDecision, ModerationDecision.id == FlagReport.decision_id)
            .where(taken)
        )
    ).tuples()
    pairs = list(timings)
    return {
        "total": sum(by_kind.values()),
        "by_kind": by_kind,
        "restrictions": sum(by_ground.values()),
        "restrictions_by_ground": by_ground,
        "restrictions_by_ground_and_kind": by_ground_and_kind,
        "restrictions_by_source": by_source,
        "restrictions_by_category": by_category,
        "automated": automated or 0,
        "reports_closed": len(pairs),
        "median_seconds_from_report": _median_seconds(pairs),
    }


async def _appeal_figures(session: AsyncSession, period: Period) -> dict[str, Any]:
    received = period.holds(Appeal.created_at)
    by_basis = _zeros(APPEAL_BASES)
    by_basis.update(await _counts(session, Appeal.basis, received))
    by_outcome = _zeros(APPEAL_STATUSES)
    by_outcome.update(await _counts(session, Appeal.status, received))
    decided = list(
        (
            await session.execute(
                select(Appeal.created_at, Appeal.decided_at).where(
                    received, Appeal.decided_at.is_not(None)
                )
            )
        ).tuples()
    )
    reversed_ = _zeros(OVERTURNS)
    reversed_.update(
        await _counts(
            session,
            ModerationDecision.overturned,
            ModerationDecision.overturned.is_not(None),
            # when it was overturned (a row without that time counts by its own)
            period.holds(
                func.coalesce(ModerationDecision.overturned_at, ModerationDecision.created_at)
            ),
        )
    )
    return {
        "received": sum(by_basis.values()),
        "by_basis": by_basis,
        "by_outcome": by_outcome,
        "decided": len(decided),
        "median_seconds_to_decide": _median_seconds(
            (made, at) for made, at in decided if at is not None
        ),
        "decisions_reversed": sum(reversed_.values()),
        "decisions_reversed_by_outcome": reversed_,
    }


def suspension_days(days: int | None, taken: datetime, until: datetime | None) -> int | None:
    """A suspension's length in days (None: indefinite): ``days``, else from its end."""
    if until is None:
        return None
    if days is not None:
        return days
    return max(1, -(-(until - taken) // timedelta(days=1)))  # whole days, rounded up


async def _suspension_figures(session: AsyncSession, period: Period) -> dict[str, Any]:
    rows = await session.execute(
        select(
            ModerationDecision.days,
            ModerationDecision.created_at,
            ModerationDecision.restricted_until,
        ).where(period.holds(ModerationDecision.created_at), ModerationDecision.kind == "suspended")
    )
    by_days: dict[str, int] = {str(days): 0 for days in SUSPENSION_DAYS}
    indefinite = 0
    total = 0
    for days, taken, until in rows.tuples():
        total += 1
        length = suspension_days(days, taken, until)
        if length is None:
            indefinite += 1
        else:
            by_days[str(length)] = by_days.get(str(length), 0) + 1
    ordered = dict(sorted(by_days.items(), key=lambda item: int(item[0])))
    return {"total": total, "indefinite": indefinite, "by_days": ordered}


async def build_report(session: AsyncSession, period: Period) -> TransparencyReport:
    """The Art. 15 figures of ``period``, from one snapshot of the database."""
    async with snapshot_transaction(session):
        return TransparencyReport(
            period=period,
            generated_at=utcnow(),
            reports=await _report_figures(session, period),
            decisions=await _decision_figures(session, period),
            appeals=await _appeal_figures(session, period),
            suspensions=await _suspension_figures(session, period),
        )


def report_bytes(report: TransparencyReport, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(report.document(), indent=2).encode() + b"\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows():
        writer.writerow(csv_row(row))
    return buffer.getvalue().encode()


@dataclass(frozen=True)
class TransparencyExport:
    filename: str
    media_type: str
    chunks: AsyncIterator[bytes]
    count: int  # statements in a statements export; figures in a report


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def export_report(
    sessions: SessionSource, period: Period, fmt: str, *, actor: Who
) -> TransparencyExport:
    """The report of ``period`` as JSON or CSV, recorded as ``transparency_report.exported``."""
    fmt = fmt.lower()
    if fmt not in REPORT_FORMATS:
        raise InvalidInput("format", f"{fmt!r} is not one of {', '.join(REPORT_FORMATS)}")
    async with sessions() as session:
        async with snapshot_transaction(session):
            audit_actor = await permissions.authorize(session, actor, Capability.EXPORT)
        report = await build_report(session, period)
        data = report_bytes(report, fmt)
        async with write_transaction(session):
            await record_event(
                session,
                actor=audit_actor,
                action="transparency_report.exported",
                subject_type="transparency",
                subject_id=None,
                details={"from": str(period.first), "to": str(period.last), "format": fmt},
            )
    media_type = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
    name = f"transparency-report-{period.first}-{period.last}.{fmt}"
    return TransparencyExport(name, media_type, _once(data), len(report.rows()))


# --- statements of reasons (Art. 17, 24(5)) ---------------------------------------------------

# Only the columns a statement is made of are read: nothing else about the people can slip in.
STATEMENT_COLUMNS: Final = (
    ModerationDecision.id,
    ModerationDecision.kind,
    ModerationDecision.source,
    ModerationDecision.policy_title,
    ModerationDecision.ground,
    ModerationDecision.ground_reference,
    ModerationDecision.category,
    ModerationDecision.restricted_until,
    ModerationDecision.days,
    ModerationDecision.automated,
    ModerationDecision.created_at,
    ModerationDecision.message_id.is_not(None).label("had_message"),
    Message.created_at.label("message_created_at"),
    User.role.label("account_role"),
)


@dataclass(frozen=True)
class DecisionFacts:
    """What a statement is made of: the decision's kind, policy and source, never its text."""

    id: uuid.UUID
    kind: str
    source: str
    policy_title: str | None
    ground: str | None
    ground_reference: str | None
    category: str | None
    restricted_until: datetime | None
    days: int | None
    automated: bool
    created_at: datetime
    had_message: bool
    message_created_at: datetime | None
    account_role: str | None


def _restriction_words(facts: DecisionFacts, policy: str) -> str:
    if facts.kind == "removed":
        return f"A message sent on the platform was removed because it breached {policy}."
    if facts.kind == "warned":
        return (
            f"The sender of a message on the platform was warned because the message breached "
            f"{policy}; the message itself was not removed."
        )
    length = suspension_days(facts.days, facts.created_at, facts.restricted_until)
    span = (
        "indefinitely (until the suspension is lifted)"
        if length is None
        else f"for {length} {'day' if length == 1 else 'days'}"
    )
    if facts.had_message:
        return (
            f"The account that sent a message was suspended {span} because the message "
            f"breached {policy}."
        )
    return f"An account was suspended {span} because its conduct breached {policy}."


def decision_facts(facts: DecisionFacts) -> str:
    """The statement's facts, in plain words, from the kind, the policy title and the source."""
    policy = f'the policy "{facts.policy_title}"' if facts.policy_title else "the platform's rules"
    source = (
        "The decision followed a notice from a user of the platform."
        if facts.source == "notice"
        else "The decision was taken on the platform's own initiative, on review by its staff."
    )
    means = (
        "It was decided by automated means."
        if facts.automated
        else "No automated means were used to detect the content or to take the decision."
    )
    return f"{_restriction_words(facts, policy)} {source} {means}"[:FACTS_LIMIT]


def _day(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d")


def statement_body(facts: DecisionFacts) -> dict[str, Any]:
    """One statement of reasons as the Transparency Database's API takes it.

    ``removed`` is ``DECISION_VISIBILITY_CONTENT_REMOVED`` (for good: no end date);
    ``warned`` is ``DECISION_VISIBILITY_OTHER`` ("warning": the content stays); ``suspended`` is
    ``DECISION_ACCOUNT_SUSPENDED``, with ``end_date_account_restriction`` when it ends.
    ``decision_visibility`` and ``content_type`` are lists, as the database's API takes them.
    """
    title = facts.policy_title or "the platform's terms of service"
    reference = (facts.ground_reference or title)[:GROUND_LIMIT]
    body: dict[str, Any] = {"puid": str(facts.id)}
    if facts.kind == "removed":
        body["decision_visibility"] = ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    elif facts.kind == "warned":
        body["decision_visibility"] = ["DECISION_VISIBILITY_OTHER"]
        body["decision_visibility_other"] = "warning"
    else:
        body["decision_account"] = "DECISION_ACCOUNT_SUSPENDED"
        if facts.restricted_until is not None:
            body["end_date_account_restriction"] = _day(facts.restricted_until)
    if facts.ground == "illegal_content":
        body["decision_ground"] = "DECISION_GROUND_ILLEGAL_CONTENT"
        body["illegal_content_legal_ground"] = reference
        body["illegal_content_explanation"] = (
            f'The content was found illegal under {reference}, as set out in the policy "{title}".'
        )[:EXPLANATION_LIMIT]
    else:
        body["decision_ground"] = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
        body["incompatible_content_ground"] = reference
        body["incompatible_content_explanation"] = (
            f'The content was incompatible with the platform\'s terms of service: "{title}".'
        )[:EXPLANATION_LIMIT]
        body["incompatible_content_illegal"] = "No"
    body["category"] = facts.category or (
        NOT_SPECIFIED if facts.source == "notice" else OTHER_VIOLATION
    )
    body["content_type"] = ["CONTENT_TYPE_TEXT"]
    body["source_type"] = "SOURCE_ARTICLE_16" if facts.source == "notice" else "SOURCE_VOLUNTARY"
    body["automated_detection"] = "No"
    body["automated_decision"] = (
        "AUTOMATED_DECISION_FULLY" if facts.automated else "AUTOMATED_DECISION_NOT_AUTOMATED"
    )
    body["decision_facts"] = decision_facts(facts)
    body["content_date"] = _day(facts.message_created_at or facts.created_at)
    body["application_date"] = _day(facts.created_at)
    if facts.account_role in ACCOUNT_TYPES:
        body["account_type"] = ACCOUNT_TYPES[facts.account_role]
    return body


async def statement_batches(
    session: AsyncSession, period: Period, *, size: int = STATEMENTS_PER_BATCH
) -> AsyncIterator[list[dict[str, Any]]]:
    """The period's restrictions as statements, oldest first, ``size`` a batch."""
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        query = (
            select(*STATEMENT_COLUMNS)
            .outerjoin(Message, Message.id == ModerationDecision.message_id)
            .outerjoin(User, User.id == ModerationDecision.user_id)
            .where(
                period.holds(ModerationDecision.created_at),
                ModerationDecision.kind.in_(RESTRICTIONS),
            )
        )
        if after is not None:
            query = query.where(
                (ModerationDecision.created_at > after[0])
                | ((ModerationDecision.created_at == after[0]) & (ModerationDecision.id > after[1]))
            )
        query = query.order_by(ModerationDecision.created_at, ModerationDecision.id).limit(size)
        rows = (await session.execute(query)).all()
        if not rows:
            return
        batch = [statement_body(DecisionFacts(**row._asdict())) for row in rows]
        yield batch
        after = (rows[-1].created_at, rows[-1].id)


async def export_statements(
    sessions: SessionSource, period: Period, *, actor: Who
) -> TransparencyExport:
    """The period's statements of reasons as ``{"batches": [{"statements": [...]}, ...]}``,
    each batch the body of one ``POST /api/v1/statements`` (at most 100 statements);
    recorded as ``transparency_statements.exported``."""
    file = new_spool()
    count = batches = 0

    async def document(session: AsyncSession) -> AsyncIterator[bytes]:
        nonlocal count, batches
        yield b'{"batches": ['
        async for batch in statement_batches(session, period):
            prefix = b",\n" if batches else b"\n"
            yield prefix + json.dumps({"statements": batch}, ensure_ascii=False).encode()
            batches += 1
            count += len(batch)
        yield b"\n]}\n"

    try:
        async with sessions() as session:
            async with snapshot_transaction(session):
                audit_actor = await permissions.authorize(session, actor, Capability.EXPORT)
                await spool(document(session), file)
            async with write_transaction(session):
                await record_event(
                    session,
                    actor=audit_actor,
                    action="transparency_statements.exported",
                    subject_type="transparency",
                    subject_id=None,
                    details={
                        "from": str(period.first),
                        "to": str(period.last),
                        "statements": count,
                        "batches": batches,
                    },
                )
    except BaseException:
        file.close()
        raise
    name = f"statements-of-reasons-{period.first}-{period.last}.json"
    return TransparencyExport(name, "application/json", read_spooled(file), count)
