"""The DSA transparency report (Art. 15) and the statements of reasons export (Art. 24(5)):
figures equal to those computed by hand in a seeded world (tests/portal/transparency_world.py),
rows outside the period left out, every statement valid against the Transparency Database's
field names and enumerations (tests/reference/dsa-transparency-database.json, copied from the
shared reference) and free of personal data, and the two console commands with their errors."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.database import read_transaction, write_transaction
from portal.errors import Forbidden, InvalidInput
from portal.models import AuditEvent, ModerationDecision
from portal.models.base import new_id
from portal.services import transparency
from portal.services.transparency import Period, build_report, default_period, parse_period
from portal.settings import Settings, get_settings
from tests.portal.test_cli import assert_one_line_error, cli_env, run
from tests.portal.test_cli_operator import production
from tests.portal.transparency_world import (
    LEGAL_GROUND,
    PERIOD,
    TransparencyWorld,
    build_transparency_world,
    expected_figures,
)

__all__ = ["cli_env", "production"]  # the fixtures, imported for these tests

REFERENCE = json.loads(
    (Path(__file__).parent.parent / "reference" / "dsa-transparency-database.json").read_text()
)
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PUID = re.compile(r"^[A-Za-z0-9_-]+$")
# Fields the database takes several values of (a JSON array), as its API documents them.
LIST_FIELDS = ("decision_visibility", "content_type", "territorial_scope")
END_DATES = {
    "end_date_visibility_restriction": "decision_visibility",
    "end_date_monetary_restriction": "decision_monetary",
    "end_date_service_restriction": "decision_provision",
    "end_date_account_restriction": "decision_account",
}


def limit(description: str) -> int:
    """The length a reference entry such as ``"string <= 500, ..."`` allows."""
    found = re.search(r"<= (\d+)", description)
    assert found is not None, description
    return int(found.group(1))


def known_fields() -> set[str]:
    return {
        *REFERENCE["required"],
        *REFERENCE["one_of_required"],
        *REFERENCE["if_illegal"],
        *REFERENCE["if_incompatible"],
        *REFERENCE["end_dates"],
        *REFERENCE["optional"],
        "decision_visibility_other",
        "decision_ground_reference_url",
        "source_identity",
    }


def enumerated(field: str, value: Any, allowed: list[str]) -> None:
    if field in LIST_FIELDS:
        assert isinstance(value, list) and value, (field, value)
        assert len(set(value)) == len(value), (field, value)
        assert set(value) <= set(allowed), (field, value)
    else:
        assert isinstance(value, str) and value in allowed, (field, value)


def validate_statement(statement: dict[str, Any]) -> None:
    """Every rule of the reference file, field by field (AssertionError naming the field)."""
    assert set(statement) <= known_fields(), set(statement) - known_fields()
    for field in REFERENCE["required"]:
        assert statement.get(field) not in (None, "", []), f"{field} is required"
    decisions = [f for f in REFERENCE["one_of_required"] if statement.get(f)]
    assert decisions, "one of " + ", ".join(REFERENCE["one_of_required"]) + " is required"
    for field in ("decision_ground", "category", "content_type", "source_type"):
        enumerated(field, statement[field], REFERENCE[field])
    for field in ("automated_detection", "automated_decision"):
        enumerated(field, statement[field], REFERENCE[field])
    for field in REFERENCE["one_of_required"]:
        if field in statement:
            enumerated(field, statement[field], REFERENCE[field])
    for field, allowed in REFERENCE["optional"].items():
        if field in statement and isinstance(allowed, list):
            enumerated(field, statement[field], allowed)

    illegal = statement["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    present, absent = (
        (REFERENCE["if_illegal"], REFERENCE["if_incompatible"])
        if illegal
        else (REFERENCE["if_incompatible"], REFERENCE["if_illegal"])
    )
    for field, rule in present.items():
        value = statement.get(field)
        if isinstance(rule, list):
            assert value in rule, (field, value)
        else:
            assert isinstance(value, str) and value.strip(), f"{field} is required"
            assert len(value) <= limit(rule), (field, len(value))
    for field in absent:
        assert field not in statement, f"{field} does not go with {statement['decision_ground']}"

    other = "DECISION_VISIBILITY_OTHER" in statement.get("decision_visibility", [])
    if other:
        value = statement.get("decision_visibility_other")
        assert isinstance(value, str) and value.strip(), "decision_visibility_other is required"
        assert len(value) <= limit(REFERENCE["decision_visibility_other"])
    else:
        assert "decision_visibility_other" not in statement
    assert set(END_DATES) == set(REFERENCE["end_dates"])
    for end, decision in END_DATES.items():
        if end in statement:
            assert decision in statement, f"{end} without {decision}"
    for field in ("content_date", "application_date", *REFERENCE["end_dates"]):
        if field in statement:
            value = statement[field]
            assert isinstance(value, str) and DAY.match(value), (field, value)
            try:
                datetime.strptime(value, "%Y-%m-%d")  # Y-m-d, and a real day
            except ValueError:
                raise AssertionError(f"{field}: {value} is no day") from None
    assert REFERENCE["date_format"] == "Y-m-d"
    assert statement["content_date"] <= statement["application_date"]
    if "end_date_account_restriction" in statement:
        assert statement["end_date_account_restriction"] >= statement["application_date"]

    facts = statement["decision_facts"]
    assert isinstance(facts, str) and len(facts) <= limit(REFERENCE["decision_facts"])
    puid = statement["puid"]
    assert isinstance(puid, str) and len(puid) <= limit(REFERENCE["puid"])
    assert PUID.match(puid), puid
    if statement["source_type"] == "SOURCE_VOLUNTARY":
        assert "source_identity" not in statement


def test_the_validator_refuses_what_the_database_would() -> None:
    good = {
        "puid": "abc-1",
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        "incompatible_content_ground": "ToS 4.1",
        "incompatible_content_explanation": "Scam",
        "incompatible_content_illegal": "No",
        "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "content_type": ["CONTENT_TYPE_TEXT"],
        "source_type": "SOURCE_VOLUNTARY",
        "automated_detection": "No",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
        "decision_facts": "A message was removed.",
        "content_date": "2026-02-01",
        "application_date": "2026-02-01",
    }
    validate_statement(good)
    bad: list[dict[str, Any]] = [
        {**good, "puid": "has space"},
        {**good, "puid": "x" * 501},
        {**good, "category": "STATEMENT_CATEGORY_SPAM"},
        {**good, "content_date": "2026-2-1"},
        {**good, "application_date": "2026-02-30"},
        {**good, "decision_facts": "x" * 5001},
        {**good, "incompatible_content_ground": "x" * 501},
        {**good, "decision_visibility": ["DECISION_VISIBILITY_OTHER"]},  # without the other
        {**good, "illegal_content_legal_ground": "a law"},
        {**good, "automated_detection": "no"},
        {**good, "unknown_field": 1},
        {k: v for k, v in good.items() if k != "decision_visibility"},
        {k: v for k, v in good.items() if k != "application_date"},
        {**good, "source_identity": "the reporter"},
    ]
    for statement in bad:
        with pytest.raises(AssertionError):
            validate_statement(statement)


# --- periods ----------------------------------------------------------------------------------


def test_periods_name_the_field_at_fault() -> None:
    assert parse_period("2026-01-01", "2026-06-30") == PERIOD
    assert PERIOD.start == datetime(2026, 1, 1, tzinfo=UTC)
    assert PERIOD.end == datetime(2026, 7, 1, tzinfo=UTC)  # the last day is included
    assert parse_period("2026-03-01", "2026-03-01").end - PERIOD.start > timedelta(0)
    for first, last, field, words in [
        ("2026-13-01", "2026-06-30", "from", "is not a date"),
        ("2026-01-01", "June", "to", "is not a date"),
        ("20260101", "2026-06-30", "from", "is not a date"),
        ("", "2026-06-30", "from", "a date is required"),
        ("2026-01-01", None, "to", "a date is required"),
        ("2026-07-01", "2026-06-30", "to", "is before from 2026-07-01"),
        ("2026-07-01", "9999-12-31", "to", "is past the last day"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            parse_period(first, last)
        assert refused.value.field == field and words in refused.value.detail
        assert refused.value.detail.startswith(f"{field}: ")
    with pytest.raises(InvalidInput, match=r"^--to: "):
        parse_period("2026-07-01", "2026-06-30", first_name="--from", last_name="--to")


def test_a_suspension_length_without_days_is_its_span_rounded_up() -> None:
    taken = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert transparency.suspension_days(7, taken, taken + timedelta(days=7)) == 7
    assert transparency.suspension_days(None, taken, taken + timedelta(hours=36)) == 2
    assert transparency.suspension_days(None, taken, taken + timedelta(minutes=5)) == 1
    assert transparency.suspension_days(None, taken, None) is None  # indefinite


def test_the_default_period_is_the_last_full_half_year() -> None:
    assert default_period(date(2026, 12, 6)) == PERIOD
    assert default_period(date(2026, 7, 1)) == PERIOD
    assert default_period(date(2026, 6, 30)) == Period(date(2025, 7, 1), date(2025, 12, 31))
    assert default_period(date(2027, 1, 1)) == Period(date(2026, 7, 1), date(2026, 12, 31))


# --- the figures ------------------------------------------------------------------------------


async def test_the_figures_are_those_computed_by_hand(
    session: AsyncSession, settings: Settings
) -> None:
    await build_transparency_world(session, settings)
    report = await build_report(session, PERIOD)
    expected = expected_figures()
    assert report.reports == expected["reports"]
    assert report.decisions == expected["decisions"]
    assert report.appeals == expected["appeals"]
    assert report.suspensions == expected["suspensions"]

    # A period of its own: the second half of 2026 holds what lay after the first one.
    later = await build_report(session, Period(date(2026, 7, 1), date(2026, 12, 31)))
    assert later.reports["received"] == 1 and later.reports["by_reason"]["harassment"] == 1
    assert later.decisions["by_kind"]["suspended"] == 1
    assert later.decisions["median_seconds_from_report"] == 0
    assert later.suspensions == {
        "total": 1,
        "indefinite": 0,
        "by_days": {"1": 0, "3": 0, "7": 0, "30": 1},
    }
    assert later.appeals["received"] == 1 and later.appeals["by_outcome"]["open"] == 1
    assert later.appeals["median_seconds_to_decide"] is None
    # One day: the last of the period holds its last-second report, undecided.
    last_day = await build_report(session, Period(date(2026, 6, 30), date(2026, 6, 30)))
    assert last_day.reports["received"] == 1
    assert last_day.reports["by_category"]["STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"] == 1
    assert last_day.decisions["total"] == 0
    assert last_day.decisions["median_seconds_from_report"] is None


async def test_json_and_csv_hold_the_same_figures(
    session: AsyncSession, settings: Settings
) -> None:
    await build_transparency_world(session, settings)
    report = await build_report(session, PERIOD)
    document = json.loads(transparency.report_bytes(report, "json"))
    assert document["period"] == {"from": "2026-01-01", "to": "2026-06-30", "tz": "UTC"}
    for section, figures in expected_figures().items():
        assert document[section] == figures
    rows = list(csv.reader(io.StringIO(transparency.report_bytes(report, "csv").decode())))
    assert rows[0] == ["section", "name", "value"]
    values = {(section, name): value for section, name, value in rows[1:]}
    assert len(values) == len(rows) - 1  # one row per figure
    assert values[("period", "from")] == "2026-01-01"
    assert values[("reports", "received")] == "7"
    assert values[("reports", "by_reason.scam")] == "3"
    assert values[("reports", "by_category.STATEMENT_CATEGORY_SCAMS_AND_FRAUD")] == "3"
    assert values[("decisions", "restrictions_by_ground.illegal_content")] == "1"
    assert values[("decisions", "restrictions_by_ground_and_kind.terms_of_service.warned")] == "1"
    assert values[("decisions", "median_seconds_from_report")] == "9000"
    assert values[("appeals", "median_seconds_to_decide")] == "129600"
    assert values[("appeals", "decisions_reversed")] == "1"
    assert values[("suspensions", "by_days.7")] == "1"
    assert values[("suspensions", "indefinite")] == "1"

    def flat(prefix: str, value: Any) -> list[tuple[str, str]]:
        if isinstance(value, dict):
            return [pair for key, item in value.items() for pair in flat(f"{prefix}.{key}", item)]
        return [(prefix, "" if value is None else str(value))]

    every = [
        (section, name.split(".", 2)[2], value)
        for section, figures in expected_figures().items()
        for name, value in flat(f"x.{section}", figures)
    ]
    assert [row for row in rows[3:]] == [list(row) for row in every]


# --- statements of reasons --------------------------------------------------------------------


def statements_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    assert set(document) == {"batches"}
    for batch in document["batches"]:
        assert set(batch) == {"statements"}
        assert 1 <= len(batch["statements"]) <= 100
    return [s for batch in document["batches"] for s in batch["statements"]]


def assert_no_personal_data(text: str, world: TransparencyWorld) -> None:
    lowered = text.lower()
    for value in world.personal:
        assert value.lower() not in lowered, value


class _Borrowed:
    """The test's session as a session source, left open when the export is done with it."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def __aenter__(self) -> AsyncSession:
        return self.session

    async def __aexit__(self, *_: object) -> None:
        return None


async def export_statements_text(session: AsyncSession, period: Period, actor: Any) -> str:
    export = await transparency.export_statements(lambda: _Borrowed(session), period, actor=actor)
    return b"".join([chunk async for chunk in export.chunks]).decode()


async def test_statements_validate_and_say_nothing_personal(
    session: AsyncSession, settings: Settings
) -> None:
    world = await build_transparency_world(session, settings)
    text = await export_statements_text(session, PERIOD, Actor.staff(world.officer.id))
    assert_no_personal_data(text, world)
    statements = statements_of(json.loads(text))
    for statement in statements:
        validate_statement(statement)
    d = world.decisions
    # the period's restrictions, oldest first: no dismissal, no reversal, nothing outside it
    assert [s["puid"] for s in statements] == [str(d[k].id) for k in ("d1", "d2", "d3", "d4")]
    removed, suspended, warned, indefinite = statements

    assert removed["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert "end_date_visibility_restriction" not in removed
    assert removed["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert (
        removed["incompatible_content_ground"] == "Terms of Service, section 4.1: fraud and scams"
    )
    assert removed["incompatible_content_illegal"] == "No"
    assert removed["category"] == "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
    assert removed["source_type"] == "SOURCE_ARTICLE_16"
    assert (removed["content_date"], removed["application_date"]) == ("2026-02-01", "2026-02-01")
    assert removed["account_type"] == "ACCOUNT_TYPE_BUSINESS"
    assert "Scams and advance-fee fraud" in removed["decision_facts"]
    assert "removed" in removed["decision_facts"] and "notice" in removed["decision_facts"]

    assert suspended["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert "decision_visibility" not in suspended
    assert suspended["end_date_account_restriction"] == "2026-03-17"
    assert suspended["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert suspended["illegal_content_legal_ground"] == LEGAL_GROUND
    assert suspended["category"] == "STATEMENT_CATEGORY_CYBER_VIOLENCE"
    assert "suspended for 7 days" in suspended["decision_facts"]
    assert (suspended["content_date"], suspended["application_date"]) == (
        "2026-03-10",
        "2026-03-10",
    )

    assert warned["decision_visibility"] == ["DECISION_VISIBILITY_OTHER"]
    assert warned["decision_visibility_other"] == "warning"
    assert warned["source_type"] == "SOURCE_VOLUNTARY"
    assert warned["category"] == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    assert (warned["content_date"], warned["application_date"]) == ("2026-03-31", "2026-04-01")
    assert "own initiative" in warned["decision_facts"]

    # no message: the content's date falls back to the decision's; no end, no end date
    assert indefinite["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert "end_date_account_restriction" not in indefinite
    assert "indefinitely" in indefinite["decision_facts"]
    assert (indefinite["content_date"], indefinite["application_date"]) == (
        "2026-05-05",
        "2026-05-05",
    )
    for statement in statements:
        assert statement["content_type"] == ["CONTENT_TYPE_TEXT"]
        assert statement["automated_detection"] == "No"
        assert statement["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
        assert "No automated means" in statement["decision_facts"]

    async with read_transaction(session):
        exported = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "transparency_statements.exported")
            )
        ).one()
    assert exported.actor_id == world.officer.id
    assert exported.details == {"from": "2026-01-01", "to": "2026-06-30", "statements": 4,
                                "batches": 1}  # fmt: skip


async def test_statements_come_in_batches_of_at_most_100(
    session: AsyncSession, settings: Settings
) -> None:
    world = await build_transparency_world(session, settings)
    d1 = world.decisions["d1"]
    async with write_transaction(session):
        for index in range(197):  # with the world's 4: 201 statements, three batches
            kind = ("removed", "warned", "suspended")[index % 3]
            days = (1, 3, 7, 30, None)[index % 5] if kind == "suspended" else None
            taken = datetime(2026, 6, 1, tzinfo=UTC)  # one instant: the ids order them
            session.add(
                ModerationDecision(
                    id=new_id(),
                    kind=kind,
                    source=("notice", "own_initiative")[index % 2],
                    user_id=d1.user_id,
                    policy_title=d1.policy_title,
                    ground=d1.ground,
                    ground_reference=d1.ground_reference,
                    category=d1.category,
                    explanation="zq-bulk explanation",
                    statement="zq-bulk statement",
                    days=days,
                    restricted_until=taken + timedelta(days=days) if days else None,
                    created_at=taken,
                )
            )
    text = await export_statements_text(session, PERIOD, Actor.console())
    document = json.loads(text)
    assert [len(batch["statements"]) for batch in document["batches"]] == [100, 100, 1]
    statements = statements_of(document)
    assert len({s["puid"] for s in statements}) == 201
    for statement in statements:
        validate_statement(statement)
    assert_no_personal_data(text, world)


async def test_exports_need_the_export_capability(
    session: AsyncSession, settings: Settings
) -> None:
    world = await build_transparency_world(session, settings)
    refused = (
        Actor.staff(world.moderator.id),
        world.moderator,
        Actor.user(world.people[0].id),
        Actor.service(),
    )
    for actor in refused:
        with pytest.raises(Forbidden, match="compliance or admin"):
            await export_statements_text(session, PERIOD, actor)
        with pytest.raises(Forbidden, match="compliance or admin"):
            await transparency.export_report(
                lambda: _Borrowed(session), PERIOD, "json", actor=actor
            )
    assert await transparency_events(session) == []


# --- the console ------------------------------------------------------------------------------


async def cli(*args: str) -> Any:
    return await asyncio.to_thread(run, *args)


async def test_the_commands_write_their_files_and_refuse_bad_input(
    cli_env: dict, session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    world = await build_transparency_world(session, settings)
    officer = world.officer.email
    period = ("--from", "2026-01-01", "--to", "2026-06-30")
    for fmt in ("json", "csv"):
        path = tmp_path / f"report.{fmt}"
        result = await cli(
            "transparency", "report", *period, "--format", fmt, "-o", str(path), "--as", officer
        )
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith(f"wrote {path} (")
    document = json.loads((tmp_path / "report.json").read_text())
    for section, figures in expected_figures().items():
        assert document[section] == figures
    rows = list(csv.reader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert ["decisions", "median_seconds_from_report", "9000"] in rows

    statements_path = tmp_path / "statements.json"
    result = await cli("transparency", "statements", *period, "-o", str(statements_path))
    assert result.exit_code == 0, result.stderr
    assert "4 statements" in result.stdout
    text = statements_path.read_text()
    assert_no_personal_data(text, world)
    for statement in statements_of(json.loads(text)):
        validate_statement(statement)

    events = await transparency_events(session)
    assert [(e.action, e.actor_type, e.details.get("format")) for e in events] == [
        ("transparency_report.exported", "staff", "json"),
        ("transparency_report.exported", "staff", "csv"),
        ("transparency_statements.exported", "system", None),  # the unnamed operator
    ]
    assert events[0].actor_id == world.officer.id
    assert events[2].details["operator"] == "console"

    refused = tmp_path / "refused.json"
    for args, fragments in [
        (("--from", "2026-13-01", "--to", "2026-06-30"), ("--from", "is not a date")),
        (("--from", "2026-01-01", "--to", "30/06/2026"), ("--to", "is not a date")),
        (("--from", "2026-07-01", "--to", "2026-06-30"), ("--to", "before --from 2026-07-01")),
    ]:
        for command in ("report", "statements"):
            assert_one_line_error(
                await cli("transparency", command, *args, "-o", str(refused)), *fragments
            )
    pdf = await cli("transparency", "report", *period, "--format", "pdf", "-o", str(refused))
    assert pdf.exit_code == 2 and "'pdf' is not one of 'json', 'csv'" in pdf.stderr
    moderator = world.moderator.email
    for command in ("report", "statements"):
        assert_one_line_error(
            await cli("transparency", command, *period, "-o", str(refused), "--as", moderator),
            "compliance or admin",
        )
    assert not refused.exists()
    assert not (tmp_path / "refused.json.part").exists()
    assert len(await transparency_events(session)) == 3  # nothing refused was recorded


async def test_production_needs_a_named_operator(
    production: None,
    session: AsyncSession,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await build_transparency_world(session, settings)
    out = tmp_path / "out.json"
    period = ("--from", "2026-01-01", "--to", "2026-06-30", "-o", str(out))
    for command in ("report", "statements"):
        assert_one_line_error(
            await cli("transparency", command, *period),
            "--as EMAIL or PORTAL_OPERATOR",
            "PORTAL_ENV=production",
        )
        assert not out.exists()
    assert await transparency_events(session) == []
    monkeypatch.setenv("PORTAL_OPERATOR", world.officer.email)
    get_settings.cache_clear()
    written = await cli("transparency", "statements", *period)
    assert written.exit_code == 0, written.stderr
    events = await transparency_events(session)
    assert [(e.actor_type, e.actor_id) for e in events] == [("staff", world.officer.id)]


async def transparency_events(session: AsyncSession) -> list[AuditEvent]:
    async with read_transaction(session):
        return list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.like("transparency%"))
                .order_by(AuditEvent.occurred_at)
            )
        )
