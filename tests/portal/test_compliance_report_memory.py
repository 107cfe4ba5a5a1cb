"""A 10,000-message thread exports as JSON and as CSV with peak memory growth under 64 MB: the
report streams from the database in batches instead of being built in memory."""

from __future__ import annotations

import asyncio
import tracemalloc
import uuid
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bench.pdf_export import append_chained_messages
from portal.audit import Actor
from portal.database import create_sessionmaker
from portal.services.compliance.reports import stream_report
from portal.services.compliance.verify import verify_export
from portal.settings import Settings
from tests.people import person
from tests.portal.compliance_world import send

MESSAGES = 10_000
LIMIT_BYTES = 64 * 1024 * 1024


async def long_thread(session: AsyncSession, settings: Settings) -> uuid.UUID:
    """One thread of MESSAGES messages, each with its ``message.sent`` event chained."""
    employer = await person(session, "employer")
    candidate = await person(session, "candidate")
    first = await send(session, settings, employer, candidate, "the first message")
    await append_chained_messages(session, first, MESSAGES - 1)
    return first.thread_id


def _open_for_writing(path: Path) -> BinaryIO:
    return path.open("wb")


async def measure(
    engine: AsyncEngine, settings: Settings, thread_id: uuid.UUID, fmt: str, path: Path
) -> int:
    """Peak memory growth (tracemalloc) while exporting ``thread_id`` into ``path``."""
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        report = await stream_report(
            create_sessionmaker(engine), thread_id, fmt, actor=Actor.system(), settings=settings
        )
        with _open_for_writing(path) as out:
            async for chunk in report.chunks:
                out.write(chunk)
        return tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()


async def test_ten_thousand_messages_export_in_bounded_memory(
    session: AsyncSession, engine: AsyncEngine, settings: Settings, backend: str, tmp_path: Path
) -> None:
    thread_id = await long_thread(session, settings)
    json_file, csv_file = tmp_path / "report.json", tmp_path / "report.csv"
    json_peak = await measure(engine, settings, thread_id, "json", json_file)
    csv_peak = await measure(engine, settings, thread_id, "csv", csv_file)
    data, table = (
        await asyncio.to_thread(json_file.read_bytes),
        await asyncio.to_thread(csv_file.read_bytes),
    )
    json_size, csv_size = len(data), len(table)
    print(
        f"\n[{backend}] {MESSAGES} messages: JSON {json_size / 2**20:.1f} MB exported with peak "
        f"growth {json_peak / 2**20:.1f} MB; CSV {csv_size / 2**20:.1f} MB with peak growth "
        f"{csv_peak / 2**20:.1f} MB"
    )
    assert json_peak < LIMIT_BYTES
    assert csv_peak < LIMIT_BYTES
    assert json_size > 10 * 2**20  # big enough that holding it all would show
    events = verify_export(data).events
    assert events >= MESSAGES
    assert table.count(b"\r\n") == events + 1  # a header, then one row per event
