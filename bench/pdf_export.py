"""How long the audit report of a 10,000-message thread takes, and how much memory it grows by,
as JSON and as PDF (``make bench-pdf``; not part of ``make test``).

The thread is seeded once into a SQLite file (``--database`` names another, e.g. a PostgreSQL
URL): its first message through the product's own ``send_message``, the rest inserted directly
with their ``message.sent`` events chained exactly as the service chains them, so the export
verifies. Each export then runs in a fresh child process that reports its wall time, the growth
of its peak resident set (``ru_maxrss``) and tracemalloc's peak, so one format's allocations
never hide another's.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time
import tracemalloc
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal import migrate
from portal.audit import Actor
from portal.database import create_engine, create_sessionmaker
from portal.models import AuditChainHead, AuditEvent, Message
from portal.models.base import new_id
from portal.services.compliance.chain import content_digest, event_hash, timestamp
from portal.services.compliance.reports import stream_report
from portal.services.messaging import MessageDraft, send_message
from portal.services.users import create_user
from portal.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BODY = "lorem ipsum dolor sit amet " * 36  # about 1 KB, as a real message runs


def _settings(url: str, var_dir: Path) -> Settings:
    return Settings(
        environment="test", database_url=url, var_dir=var_dir, jwt_secret="b" * 40,
        session_secret="b" * 40, email_worker_in_serve=False,
    )  # fmt: skip


async def seed(url: str, messages: int, var_dir: Path) -> uuid.UUID:
    settings = _settings(url, var_dir)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            employer, candidate = [
                await create_user(
                    session,
                    email=f"{role}-{uuid.uuid4().hex[:8]}@bench.example",
                    display_name=f"Bench {role.title()}",
                    role=role,
                    actor=Actor.service(),
                )
                for role in ("employer", "candidate")
            ]
            sent = await send_message(
                session,
                sender_id=employer.id,
                draft=MessageDraft(recipient_id=candidate.id, body="the first message"),
                settings=settings,
            )
            await append_chained_messages(session, sent.message, messages - 1)
            return sent.message.thread_id
    finally:
        await engine.dispose()


async def append_chained_messages(session: AsyncSession, first: Message, count: int) -> None:
    """Appends ``count`` messages of about 1 KB to ``first``'s thread, a second apart and
    alternating between its two parties, each with its ``message.sent`` event chained exactly
    as the service chains it (inserted directly, thousands at a time, so the export verifies)."""
    forth = (first.sender_id, first.recipient_id)
    async with session.begin():
        head = await session.get(AuditChainHead, f"thread:{first.thread_id}")
        assert head is not None
        position, prev = head.position, head.hash
        rows, events = [], []
        for index in range(1, count + 1):
            sender_id, recipient_id = forth[::-1] if index % 2 else forth
            at = first.created_at + timedelta(seconds=index)
            body = f"message {index}: {BODY}"
            content = {"subject": None, "body": body, "body_format": "plain", "attachments": []}
            message_id = new_id()
            rows.append(
                {
                    "id": message_id,
                    "thread_id": first.thread_id,
                    "sender_id": sender_id,
                    "recipient_id": recipient_id,
                    "body": body,
                    "attachments": [],
                    "created_at": at,
                    "updated_at": at,
                }
            )
            position += 1
            fields = {
                "id": str(new_id()),
                "chain": head.chain_key,
                "position": position,
                "occurred_at": timestamp(at),
                "actor_type": "user",
                "actor_id": str(sender_id),
                "action": "message.sent",
                "subject_type": "message",
                "subject_id": str(message_id),
                "thread_id": str(first.thread_id),
                "details": {"content_sha256": content_digest(content)},
            }
            digest = event_hash(prev, fields)
            row = {name: value for name, value in fields.items() if name != "chain"}
            events.append(
                {
                    **row,
                    "id": uuid.UUID(fields["id"]),
                    "occurred_at": at,
                    "actor_id": sender_id,
                    "subject_id": message_id,
                    "thread_id": first.thread_id,
                    "chain_key": head.chain_key,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        for start in range(0, len(rows), 2000):
            await session.execute(insert(Message), rows[start : start + 2000])
            await session.execute(insert(AuditEvent), events[start : start + 2000])
        await session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.chain_key == head.chain_key)
            .values(position=position, hash=prev)
        )
    session.expunge_all()


async def export(
    url: str, thread_id: uuid.UUID, fmt: str, output: Path, trace: bool
) -> dict[str, Any]:
    settings = _settings(url, output.parent)
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:  # connect and warm imports before measuring
            await session.get(AuditChainHead, f"thread:{thread_id}")
        if fmt == "pdf":
            import portal.services.compliance.report_pdf  # noqa: F401
        before = resource.getrusage(resource.RUSAGE_SELF)
        rss_before = before.ru_maxrss
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        report = await stream_report(
            sessions, thread_id, fmt, actor=Actor.system(), settings=settings
        )
        size = 0
        with output.open("wb") as out:
            async for chunk in report.chunks:
                out.write(chunk)
                size += len(chunk)
        seconds = time.perf_counter() - started
        traced_peak = tracemalloc.get_traced_memory()[1] if trace else 0
        tracemalloc.stop()
        after = resource.getrusage(resource.RUSAGE_SELF)
        rss_after = after.ru_maxrss
        # CPU time of the main thread and the layout thread: wall time on a busy machine
        # also counts other processes' turns.
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return {
            "format": fmt,
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),
            "rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
            "traced_peak_mb": round(traced_peak / 2**20, 1) if trace else None,
            "bytes": size,
        }
    finally:
        await engine.dispose()


@click.command()
@click.option("--messages", default=10_000, show_default=True)
@click.option("--database", default=None, help="Database URL (default: a SQLite file in var/).")
@click.option("--formats", default="json,pdf", show_default=True)
@click.option(
    "--tracemalloc", "trace", is_flag=True, help="Also trace Python allocations (slower)."
)
@click.option("--export-one", "export_one", default=None, hidden=True)
@click.option("--thread", default=None, hidden=True)
def main(
    messages: int,
    database: str | None,
    formats: str,
    trace: bool,
    export_one: str | None,
    thread: str | None,
) -> None:
    var_dir = ROOT / "var" / "bench-pdf"
    var_dir.mkdir(parents=True, exist_ok=True)
    if export_one is not None:  # the child: one export, its numbers as JSON on stdout
        assert database is not None and thread is not None
        output = var_dir / f"report.{export_one}"
        result = asyncio.run(export(database, uuid.UUID(thread), export_one, output, trace))
        click.echo(json.dumps(result))
        return
    if database is None:
        path = var_dir / "bench.sqlite3"
        path.unlink(missing_ok=True)
        database = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(database)
    started = time.perf_counter()
    thread_id = asyncio.run(seed(database, messages, var_dir))
    click.echo(
        f"seeded thread {thread_id}: {messages} messages in {time.perf_counter() - started:.1f} s"
    )
    for fmt in formats.split(","):
        command = [sys.executable, "-m", "bench.pdf_export", "--database", database,
                   "--export-one", fmt, "--thread", str(thread_id)]  # fmt: skip
        if trace:
            command.append("--tracemalloc")
        child = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        traced = result["traced_peak_mb"]
        click.echo(
            f"{fmt:>4}: {result['seconds']:6.2f} s ({result['cpu_seconds']:.2f} s CPU), "
            f"peak RSS growth {result['rss_growth_mb']:6.1f} MB"
            + (f", tracemalloc peak {traced:6.1f} MB" if traced is not None else "")
            + f", {result['bytes'] / 2**20:.1f} MB written"
        )


if __name__ == "__main__":
    main()
