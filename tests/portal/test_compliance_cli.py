"""The compliance commands: audit report/verify/check/staff-activity, hold place/lift/list,
retention purge, applications create --requisition-id; and the provisioning API's
requisition_id."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import uuid
from datetime import timedelta
from pathlib import Path

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import Application, AuditEvent, Message, MessageThread
from portal.models.base import utcnow
from portal.settings import Settings
from tests.api.helpers import service_auth
from tests.conftest import settings_with
from tests.portal.compliance_world import build_world
from tests.portal.test_cli import UUID_LINE, assert_one_line_error, cli_env, run

__all__ = ["cli_env"]  # the fixture, imported for these tests


async def cli(*args: str) -> object:
    return await asyncio.to_thread(run, *args)


async def test_report_verify_and_check(
    cli_env: dict, session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    officer_email = world.officer.email
    output = tmp_path / "report.json"
    result = await cli(
        "audit", "report", str(world.thread_id), "--format", "json", "-o", str(output),
        "--as", officer_email,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    head = re.search(r"head ([0-9a-f]{64})$", result.stdout.strip())
    assert head is not None
    refused = await cli("audit", "verify", str(output))  # unsigned: nothing shows who made it
    assert refused.exit_code == 3 and refused.stderr.startswith("FAILED: the report is not signed")
    verified = await cli("audit", "verify", "--allow-unsigned", str(output))
    assert verified.exit_code == 0, verified.stderr
    events = len(json.loads(output.read_bytes())["report"]["chain"]["events"])
    assert verified.stdout.splitlines()[0] == f"verified {events} events, head {head.group(1)}"

    for fmt in ("csv", "pdf"):
        path = tmp_path / f"report.{fmt}"
        result = await cli(
            "audit", "report", str(world.thread_id), "--format", fmt, "-o", str(path)
        )
        assert result.exit_code == 0, result.stderr
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF-")
    assert list(csv.reader(io.StringIO((tmp_path / "report.csv").read_text())))[1][0] == "0"

    exported = list(
        await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "report.exported")
            .order_by(AuditEvent.occurred_at, AuditEvent.id)
        )
    )
    assert [(e.actor_type, e.details["format"]) for e in exported] == [
        ("staff", "json"),
        ("system", "csv"),
        ("system", "pdf"),
    ]

    check = await cli("audit", "check")
    assert check.exit_code == 0, check.stderr
    assert re.match(r"verified \d+ chains, \d+ events", check.stdout)

    moderator = await cli(
        "audit", "report", str(world.thread_id), "-o", str(output), "--as", world.moderator.email
    )
    assert_one_line_error(moderator, "compliance or admin")
    assert_one_line_error(
        await cli("audit", "report", str(uuid.uuid4()), "-o", str(output)), "does not exist"
    )
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(output.read_bytes().replace(b'"position":3', b'"position":4', 1))
    failed = await cli("audit", "verify", "--allow-unsigned", str(tampered))
    assert failed.exit_code == 2
    assert "event at position 3" in failed.stderr


async def test_check_fails_on_an_altered_row(
    cli_env: dict,
    session: AsyncSession,
    owner_session: AsyncSession,
    settings: Settings,
    backend: str,
) -> None:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    await session.commit()
    async with owner_session.begin():  # the schema's owner: the app's role may do none of this
        if backend == "postgres":
            await owner_session.execute(
                text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
            )
        else:
            await owner_session.execute(text("DROP TRIGGER audit_events_append_only_update"))
        await owner_session.execute(
            update(AuditEvent)
            .where(AuditEvent.action == "message.removed")
            .values(details={"reason": "spam"})
        )
    result = await cli("audit", "check")
    assert result.exit_code == 2
    assert f"FAILED: chain thread:{world.thread_id}: event at position" in result.stderr
    assert "message.removed" in result.stderr


async def test_staff_activity_export(
    cli_env: dict, session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    start = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d")
    end = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%d")
    for fmt in ("json", "csv"):
        path = tmp_path / f"activity.{fmt}"
        result = await cli(
            "audit", "staff-activity", "--from", start, "--to", end, "--format", fmt,
            "-o", str(path), "--as", world.officer.email,
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
    document = json.loads((tmp_path / "activity.json").read_bytes())
    actions = [event["action"] for event in document["events"]]
    # The export is itself a staff action inside the period, recorded once its file is
    # complete: it shows in the next export (the CSV one), not in its own.
    assert actions == ["message.removed", "hold.placed"]
    assert {event["actor_id"] for event in document["events"]} == {
        str(world.moderator.id),
        str(world.officer.id),
    }
    rows = list(csv.DictReader(io.StringIO((tmp_path / "activity.csv").read_text())))
    assert [row["action"] for row in rows] == [*actions, "staff_activity.exported"]
    assert rows[-1]["details"] and json.loads(rows[-1]["details"])["format"] == "json"


async def test_hold_place_list_lift(
    cli_env: dict, session: AsyncSession, settings: Settings
) -> None:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    placed = await cli(
        "hold", "place", "--user", str(world.candidate.id), "--reason", "charge filed",
        "--case", "EEOC-9", "--as", world.officer.email,
    )  # fmt: skip
    assert placed.exit_code == 0, placed.stderr
    assert UUID_LINE.match(placed.stdout)
    hold_id = placed.stdout.strip()
    listed = await cli("hold", "list")
    lines = listed.stdout.splitlines()
    assert len(lines) == 2  # the world's thread hold and this one
    assert any(line.startswith(hold_id) and "EEOC-9" in line for line in lines)

    assert_one_line_error(
        await cli("hold", "place", "--reason", "r", "--case", "c"), "scope", "exactly one"
    )
    assert_one_line_error(
        await cli(
            "hold",
            "place",
            "--employer",
            str(world.candidate.id),
            "--requisition",
            "R",
            "--reason",
            "r",
            "--case",
            "c",
        ),
        "not an employer",
    )
    lifted = await cli("hold", "lift", hold_id, "--reason", "settled")
    assert lifted.exit_code == 0, lifted.stderr
    assert len((await cli("hold", "list")).stdout.splitlines()) == 1
    assert len((await cli("hold", "list", "--all")).stdout.splitlines()) == 2
    assert_one_line_error(await cli("hold", "lift", hold_id, "--reason", "x"), "already lifted")


async def test_retention_purge_dry_run_then_real(
    cli_env: dict, session: AsyncSession, settings: Settings
) -> None:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    async with session.begin():
        await session.execute(
            update(MessageThread)
            .where(MessageThread.id == world.thread_id)
            .values(deleted_at=utcnow() - timedelta(days=400), is_deleted=True)
        )
        # The application's last status change counts too (29 CFR 1602.14).
        await session.execute(
            update(Application).values(status_changed_at=utcnow() - timedelta(days=400))
        )
    dry = await cli("retention", "purge", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert dry.stdout.startswith("would purge 0 messages in 0 threads")
    assert "1 held threads kept" in dry.stdout
    (hold_line,) = (await cli("hold", "list")).stdout.splitlines()
    hold_id = hold_line.split("\t")[0]
    # Which hold keeps which threads: hold id, scope, case reference, thread ids.
    assert dry.stdout.splitlines()[1:] == [
        f"keep\t{hold_id}\tthread\tEEOC-2026-001\t{world.thread_id}"
    ]

    for line in (await cli("hold", "list")).stdout.splitlines():
        await cli("hold", "lift", line.split("\t")[0], "--reason", "closed")
    dry = await cli("retention", "purge", "--dry-run")
    assert dry.stdout.startswith("would purge 4 messages in 1 threads")
    assert dry.stdout.splitlines()[1:] == [f"purge\t{world.thread_id}"]
    bodies = set(await session.scalars(select(Message.body)))
    assert "" not in bodies

    purged = await cli("retention", "purge")
    assert purged.exit_code == 0, purged.stderr
    assert purged.stdout.startswith("purged 4 messages in 1 threads")
    await session.commit()
    assert set(await session.scalars(select(Message.body))) == {""}
    assert (await cli("audit", "check")).exit_code == 0


async def test_requisition_id_from_the_cli_and_the_provisioning_api(
    cli_env: dict,
    session: AsyncSession,
    settings: Settings,
    client: AsyncTestClient[Litestar],
) -> None:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    result = await cli(
        "applications", "create", "--employer", str(world.employer.id),
        "--candidate", str(world.candidate.id), "--title", "Analyst",
        "--requisition-id", "REQ-42",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    application = await session.get(Application, uuid.UUID(result.stdout.strip()))
    assert application is not None and application.requisition_id == "REQ-42"

    application_id = uuid.uuid4()
    body = {
        "employer_id": str(world.employer.id),
        "candidate_id": str(world.candidate.id),
        "job_title": "Analyst",
        "requisition_id": "REQ-43",
    }
    response = await client.put(
        f"/api/v1/applications/{application_id}", json=body, headers=service_auth(settings)
    )
    assert response.status_code == 201, response.text
    assert response.json()["requisition_id"] == "REQ-43"
    response = await client.put(
        f"/api/v1/applications/{application_id}",
        json={**body, "requisition_id": "  "},
        headers=service_auth(settings),
    )
    assert response.status_code == 400
    assert "requisition_id" in response.text
