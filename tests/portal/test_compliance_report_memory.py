"""A thread's export, as JSON and as CSV, streams from the database in batches instead of being
built in memory: a thread of twice as many messages exports with hardly more memory at its peak
(less than half of what its extra bytes weigh; holding the file or its rows would take more than
all of them), and under 64 MB.

The threads are long enough for several batches (``report_data.BATCH``) and for files bigger
than the part of a finished export kept in memory (``spooled.IN_MEMORY_BYTES``), so that both
exports of a format spill to disk alike. Those bounds (and the chain check's batch) are made a
fifth of the app's here, and the threads a fifth too: what grows with the thread would show as
well, at a fifth of the time under tracemalloc. A first export of a short thread warms what an
export builds once per process (compiled statements, imports), which neither measured export
then pays."""

from __future__ import annotations

import asyncio
import tracemalloc
import uuid
from pathlib import Path
from typing import BinaryIO

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bench.pdf_export import append_chained_messages
from portal.audit import Actor
from portal.database import create_sessionmaker
from portal.services.compliance import integrity, report_data, spooled
from portal.services.compliance.reports import stream_report
from portal.services.compliance.verify import verify_export
from portal.settings import Settings
from tests.conftest import default_collector
from tests.people import person
from tests.portal.compliance_world import send

# The shorter thread of each format (the longer has twice as many): about 2 KB a message in JSON,
# 0.5 KB in CSV, so that each file is bigger than IN_MEMORY_BYTES (a fifth of the app's).
SCALE = 5
MESSAGES = {"json": 1_000 // SCALE, "csv": 2_500 // SCALE}
LIMIT_BYTES = 64 * 1024 * 1024


async def long_thread(session: AsyncSession, settings: Settings, messages: int) -> uuid.UUID:
    """One thread of ``messages`` messages, each with its ``message.sent`` event chained."""
    employer = await person(session, "employer")
    candidate = await person(session, "candidate")
    first = await send(session, settings, employer, candidate, "the first message")
    await append_chained_messages(session, first, messages - 1)
    return first.thread_id


def _open_for_writing(path: Path) -> BinaryIO:
    return path.open("wb")


async def measure(
    engine: AsyncEngine, settings: Settings, thread_id: uuid.UUID, fmt: str, path: Path
) -> int:
    """Peak memory growth (tracemalloc) while exporting ``thread_id`` into ``path``, with the
    collector as the app runs it."""
    with default_collector():
        return await _peak(engine, settings, thread_id, fmt, path)


async def _peak(
    engine: AsyncEngine, settings: Settings, thread_id: uuid.UUID, fmt: str, path: Path
) -> int:
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


async def test_exports_take_memory_that_does_not_grow_with_the_thread(
    session: AsyncSession,
    engine: AsyncEngine,
    settings: Settings,
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(spooled, "IN_MEMORY_BYTES", spooled.IN_MEMORY_BYTES // SCALE)
    for batched in (report_data, integrity):
        monkeypatch.setattr(batched, "BATCH", batched.BATCH // SCALE)
    warm_up = await long_thread(session, settings, 10)
    for fmt, shorter in MESSAGES.items():
        longer = 2 * shorter
        threads = {
            count: await long_thread(session, settings, count) for count in (shorter, longer)
        }
        await measure(engine, settings, warm_up, fmt, tmp_path / f"warm-up.{fmt}")
        peaks: dict[int, int] = {}
        sizes: dict[int, int] = {}
        for count, thread_id in threads.items():
            path = tmp_path / f"report-{count}.{fmt}"
            peaks[count] = await measure(engine, settings, thread_id, fmt, path)
            data = await asyncio.to_thread(path.read_bytes)
            sizes[count] = len(data)
            print(
                f"\n[{backend}] {count} messages: {fmt.upper()} {sizes[count] / 2**20:.1f} MB "
                f"exported with peak growth {peaks[count] / 2**20:.1f} MB"
            )
            rows = data.count(b"\r\n")
            events = verify_export(data).events if fmt == "json" else rows - 1  # and a header
            assert events >= count
            if fmt == "csv":
                assert count <= events < count + 10  # one row per event
        assert sizes[shorter] > spooled.IN_MEMORY_BYTES  # both files spilled to disk
        extra = sizes[longer] - sizes[shorter]
        assert peaks[longer] - peaks[shorter] < extra // 2, (fmt, peaks, sizes)
        assert peaks[longer] < LIMIT_BYTES
    # the same thread in both formats: a header, then one CSV row per event of the JSON
    data, table = [
        await asyncio.to_thread((tmp_path / f"warm-up.{fmt}").read_bytes) for fmt in MESSAGES
    ]
    assert table.count(b"\r\n") == verify_export(data).events + 1
