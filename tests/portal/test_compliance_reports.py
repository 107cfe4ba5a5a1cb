"""Per-thread audit reports in JSON, CSV and PDF for a thread with messages, a removed message,
a flag decision, a deletion by one participant and a legal hold; every export is audited."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.audit import Actor
from portal.database import create_sessionmaker
from portal.models import AuditEvent
from portal.services.compliance.reports import CSV_COLUMNS, stream_report
from portal.services.compliance.verify import verify_export
from portal.settings import Settings
from tests.conftest import settings_with
from tests.portal.compliance_world import World, build_world

REQUIRE_POPPLER = os.environ.get("PORTAL_REQUIRE_POPPLER") == "1"


async def export(
    engine: AsyncEngine, settings: Settings, world: World, fmt: str
) -> tuple[bytes, str]:
    report = await stream_report(
        create_sessionmaker(engine),
        world.thread_id,
        fmt,
        actor=Actor.staff(world.officer.id),
        settings=settings,
    )
    return b"".join([chunk async for chunk in report.chunks]), report.head.hash


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await build_world(session, settings_with(settings, rate_limit_messages=100))


async def test_json_report_holds_everything_and_verifies(
    engine: AsyncEngine, settings: Settings, world: World
) -> None:
    data, head = await export(engine, settings, world, "json")
    verified = verify_export(data)
    assert verified.head == head
    assert verified.unproven_messages == 0

    report = json.loads(data)["report"]
    assert report["head"]["hash"] == head
    roles = {p["role"]: p["display_name"] for p in report["participants"]}
    assert roles == {"employer": "Ada Employer", "candidate": "Grace Candidate"}
    assert report["application"]["requisition_id"] == "REQ-1"
    bodies = [m["content"]["body"] for m in report["messages"]]
    assert bodies[1] == "Yes — Tuesday works. Ünïcödé ✓"
    removed = next(m for m in report["messages"] if m["id"] == str(world.removed.id))
    # Compliance sees the removed content, who removed it, when and why.
    assert removed["content"]["body"] == "Something offensive"
    assert removed["removed"]["reason"] == "harassment"
    assert removed["removed"]["by"]["actor_id"] == str(world.moderator.id)
    assert [f["decision"] for f in report["flags"]] == ["removed"]
    assert report["flags"][0]["decided_by_id"] == str(world.moderator.id)
    assert [h["case_reference"] for h in report["holds"]] == ["EEOC-2026-001"]
    actions = [event["action"] for event in report["chain"]["events"]]
    for action in (
        "thread.created",
        "message.sent",
        "message.flagged",
        "message.removed",
        "hold.placed",
        "thread.deleted",
    ):
        assert action in actions
    deletion = next(e for e in report["chain"]["events"] if e["action"] == "thread.deleted")
    assert deletion["actor_id"] == str(world.candidate.id)
    assert report["generated_by"] == {"type": "staff", "id": str(world.officer.id)}


async def test_every_export_is_an_audit_event(
    engine: AsyncEngine, session: AsyncSession, settings: Settings, world: World
) -> None:
    _, head = await export(engine, settings, world, "csv")
    event = (
        await session.scalars(select(AuditEvent).where(AuditEvent.action == "report.exported"))
    ).one()
    assert event.actor_type == "staff" and event.actor_id == world.officer.id
    assert event.subject_id == world.thread_id
    assert event.details["format"] == "csv"
    assert event.details["head_hash"] == head
    assert event.chain_key == "global"


async def test_csv_report_parses_one_row_per_event_with_hashes(
    engine: AsyncEngine, settings: Settings, world: World
) -> None:
    data, head = await export(engine, settings, world, "csv")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [int(row["position"]) for row in rows] == list(range(len(rows)))
    assert rows[-1]["hash"] == head
    for before, after in itertools.pairwise(rows):
        assert after["prev_hash"] == before["hash"]
    removal = next(row for row in rows if row["action"] == "message.removed")
    # Who acted, by name, not only by id.
    assert (removal["actor_id"], removal["actor_name"], removal["actor_role"]) == (
        str(world.moderator.id),
        "Moderator One",
        "moderator",
    )
    assert removal["actor_email"] == world.moderator.email
    sent = next(row for row in rows if row["action"] == "message.sent")
    assert (sent["actor_name"], sent["actor_role"]) == ("Ada Employer", "employer")
    assert json.loads(rows[0]["details"])["employer_id"] == str(world.employer.id)


def _poppler() -> None:
    if shutil.which("pdftoppm") and shutil.which("pdftotext"):
        return
    if REQUIRE_POPPLER:
        pytest.fail("poppler-utils is missing and PORTAL_REQUIRE_POPPLER=1 requires it")
    pytest.skip("poppler-utils (pdftoppm, pdftotext) is not installed")


def _render(data: bytes, directory: Path) -> tuple[int, str]:
    """The PDF rendered to PNG pages (their count) and its text, by poppler."""
    pdf = directory / "report.pdf"
    pdf.write_bytes(data)
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(directory / "page")], check=True)
    pages = sorted(directory.glob("page*.png"))
    assert all(page.read_bytes().startswith(b"\x89PNG") for page in pages)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    return len(pages), text


async def test_pdf_report_renders_and_names_the_head_hash(
    engine: AsyncEngine, settings: Settings, world: World, tmp_path: Path
) -> None:
    _poppler()
    data, head = await export(engine, settings, world, "pdf")
    assert data.startswith(b"%PDF-")
    pages, text = await asyncio.to_thread(_render, data, tmp_path)
    assert pages >= 2
    assert head in text
    for expected in (
        "Ada Employer",
        "Grace Candidate",
        "Something offensive",
        "EEOC-2026-001",
        "message.removed",
        "thread.deleted",
    ):
        assert expected in text
