"""The PDF audit report names who acted, shows full ids, content hashes and a running header
(issue 15, A7), and hides nothing: characters the font cannot draw, control and bidirectional
formatting characters are printed as <U+XXXX> (B7). Read back with poppler's pdftotext."""

from __future__ import annotations

import asyncio
import io
import json
import re

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.audit import Actor
from portal.database import create_sessionmaker
from portal.models import Message, MessageThread
from portal.services.compliance import report_pdf
from portal.services.compliance.report_data import ReportSource
from portal.services.compliance.reports import stream_report
from portal.settings import Settings
from tests.people import person
from tests.portal.compliance_world import build_world, send
from tests.portal.test_compliance_reports import _poppler, _render


async def export(engine: AsyncEngine, settings: Settings, thread_id: object, fmt: str) -> bytes:
    report = await stream_report(
        create_sessionmaker(engine), thread_id, fmt, actor=Actor.system(), settings=settings
    )
    return b"".join([chunk async for chunk in report.chunks])


async def test_the_pdf_names_who_acted_with_full_ids_hashes_and_a_running_header(
    engine: AsyncEngine, session: AsyncSession, settings: Settings, tmp_path
) -> None:
    _poppler()
    world = await build_world(session, settings)
    report = json.loads(await export(engine, settings, world.thread_id, "json"))["report"]
    pages, text = await asyncio.to_thread(
        _render, await export(engine, settings, world.thread_id, "pdf"), tmp_path
    )
    flat = re.sub(r"\s+", " ", text)
    for message in report["messages"]:
        assert message["id"] in flat
        assert message["content_sha256"] in flat
    for event in report["chain"]["events"]:
        assert event["hash"] in flat
    assert "placed by Compliance One (compliance)" in flat  # the hold
    assert "harassment: rude; removed by Moderator One (moderator) at" in flat  # the decision
    assert re.search(r"removed by Moderator One \(moderator\) \d{4}-", flat)  # the removal
    assert "deleted the thread at" in flat  # the candidate deleted it
    assert "staff " + str(world.moderator.id)[:8] + " " not in flat  # no cut ids
    sheets = text.split("\f")[:pages]
    assert len(sheets) == pages >= 2
    for number, sheet in enumerate(sheets, start=1):
        assert f"thread {world.thread_id}" in sheet
        assert f"page {number} of {pages}" in sheet


async def test_the_pdf_shows_what_it_cannot_draw_and_every_control_character(
    engine: AsyncEngine, session: AsyncSession, settings: Settings, tmp_path
) -> None:
    _poppler()
    employer = await person(session, "employer", "Ada Employer")
    candidate = await person(session, "candidate", "Grace Candidate")
    drawn = await send(
        session,
        settings,
        employer,
        candidate,
        "Bismillah \ufdfd, smile \U0001f600, face \U0001fae0",
    )
    hostile = await send(session, settings, candidate, employer, "placeholder")
    # Written as older data could hold it: the message service refuses bidi controls today.
    async with session.begin():
        await session.execute(
            update(Message)
            .where(Message.id == hostile.id)
            .values(body="paid \u202eSU 0001\u202c now\x07 bell\x1b end")
        )
    _, text = await asyncio.to_thread(
        _render, await export(engine, settings, drawn.thread_id, "pdf"), tmp_path
    )
    flat = re.sub(r"\s+", " ", text)
    assert "Bismillah <U+FDFD>, smile \U0001f600, face <U+1FAE0>" in flat
    assert "paid <U+202E>SU 0001<U+202C> now<U+0007> bell<U+001B> end" in flat
    assert "\u202e" not in text and "\x07" not in text and "\ufdfd" not in text


async def test_the_pdf_takes_names_from_the_staff_directory_and_shows_blocks(
    engine: AsyncEngine, session: AsyncSession, settings: Settings, tmp_path
) -> None:
    """The report data's staff directory and blocks, when it has them, are what the PDF shows
    (another part of the report provides them: ``ReportSource.staff()`` / ``blocks()``)."""
    _poppler()
    world = await build_world(session, settings)
    async with create_sessionmaker(engine)() as reader, reader.begin():
        thread = await reader.get(MessageThread, world.thread_id)
        assert thread is not None
        material = await report_pdf.gather(await ReportSource.load(reader, thread, Actor.system()))
    material.sections["staff"] = [
        {"id": str(world.officer.id), "name": "Olive Officer", "email": "o@x", "role": "compliance"}
    ]
    material.sections["blocks"] = [
        {
            "blocker_id": str(world.candidate.id),
            "blocked_id": str(world.employer.id),
            "reason": "harassment",
            "created_at": "2026-01-02T03:04:05.000000Z",
            "removed_at": None,
        }
    ]
    out = io.BytesIO()
    await report_pdf.render(material, out)
    _, text = await asyncio.to_thread(_render, out.getvalue(), tmp_path)
    flat = re.sub(r"\s+", " ", text)
    assert "placed by Olive Officer (compliance)" in flat
    assert "Olive Officer o@x compliance" in flat  # the directory on the cover
    assert (
        "Grace Candidate (candidate) blocked Ada Employer (employer): harassment; in force" in flat
    )
