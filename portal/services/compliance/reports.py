"""Per-thread audit reports as JSON, CSV and PDF, for the CLI and the staff pages.

Each export is produced whole from one database snapshot (JSON and CSV batch by batch; the PDF
gathers its records there and is laid out after) into a temporary file, sent once the snapshot
is closed. The JSON is RFC 8785 canonical, ``{"report": {...}, "seal": {...}}``; the seal
holds the chain head, the SHA-256 of the canonical report and, when a signing key is
configured, an Ed25519 signature over both. Every export is itself an audit event naming who
exported which thread, in which format, up to which head.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final

from portal import permissions
from portal.audit import record_event
from portal.database import SessionSource, snapshot_transaction, write_transaction
from portal.errors import InvalidInput, NotFound
from portal.models import MessageThread
from portal.permissions import Capability, Who
from portal.services.compliance import report_data, report_pdf
from portal.services.compliance.chain import canonical, timestamp
from portal.services.compliance.report_data import REPORT_FORMAT, Head, ReportSource
from portal.services.compliance.signing import load_private_key, sign
from portal.services.compliance.spooled import new_spool, read_spooled, spool
from portal.services.csv_cells import csv_row
from portal.settings import Settings

FORMATS: Final = ("json", "csv", "pdf")
MEDIA_TYPES: Final = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "pdf": "application/pdf",
}
CSV_COLUMNS: Final = (
    "position",
    "id",
    "occurred_at",
    "actor_type",
    "actor_id",
    "action",
    "subject_type",
    "subject_id",
    "thread_id",
    "details",
    "prev_hash",
    "hash",
    # Who the actor is, from the report's staff directory and participants (names as at export).
    "actor_name",
    "actor_email",
    "actor_role",
)


@dataclass(frozen=True)
class ReportExport:
    filename: str
    media_type: str
    head: Head
    size: int
    chunks: AsyncIterator[bytes]  # the finished file; reading it needs no database


async def stream_report(
    sessions: SessionSource,
    thread_id: uuid.UUID,
    fmt: str,
    *,
    actor: Who,
    settings: Settings,
) -> ReportExport:
    """Exports one thread's audit report, recorded as ``report.exported``.

    The whole file is produced from one snapshot into a temporary file (see ``spooled``), the
    snapshot is closed, and only then is the export recorded (who, thread, format, and the head
    the file holds), so an export that fails is neither sent nor recorded. ``chunks`` then reads
    the finished file at any pace, holding no database connection.
    """
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise InvalidInput("format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    writers: dict[str, Callable[[ReportSource, Settings], AsyncIterator[bytes]]] = {
        "json": json_chunks,
        "csv": csv_chunks,
    }
    file = new_spool()
    try:
        async with sessions() as session, snapshot_transaction(session):
            actor = await permissions.authorize(session, actor, Capability.EXPORT)
            thread = await session.get(MessageThread, thread_id)
            if thread is None:
                raise NotFound(f"thread {thread_id} does not exist")
            source = await ReportSource.load(session, thread, actor)
            if fmt == "pdf":  # read in the snapshot, laid out once it is closed
                material = await report_pdf.gather(source)
            else:
                size = await spool(writers[fmt](source, settings), file)
        if fmt == "pdf":
            size = await report_pdf.render(material, file)
        async with sessions() as writer, write_transaction(writer):
            await record_event(
                writer,
                actor=actor,
                action="report.exported",
                subject_type="thread",
                subject_id=thread.id,
                details={
                    "thread_id": str(thread.id),
                    "format": fmt,
                    "head_hash": source.head.hash,
                    "head_position": source.head.position,
                },
            )
    except BaseException:
        file.close()
        raise
    return ReportExport(
        filename=f"audit-thread-{thread.id}.{fmt}",
        media_type=MEDIA_TYPES[fmt],
        head=source.head,
        size=size,
        chunks=read_spooled(file),
    )


async def encode_streaming(value: Any) -> AsyncIterator[bytes]:
    """Canonical JSON of ``value``, where an async iterator stands for an array whose items are
    produced on the way and a dict may hold such iterators (its keys are then written sorted,
    as RFC 8785 sorts them; the keys here are ASCII, where UTF-16 order is plain order)."""
    if isinstance(value, dict) and any(isinstance(v, AsyncIterator) for v in value.values()):
        yield b"{"
        for index, key in enumerate(sorted(value)):
            yield (b"," if index else b"") + canonical(key) + b":"
            async for chunk in encode_streaming(value[key]):
                yield chunk
        yield b"}"
    elif isinstance(value, AsyncIterator):
        yield b"["
        first = True
        async for item in value:
            yield (b"" if first else b",") + canonical(item)
            first = False
        yield b"]"
    else:
        yield canonical(value)


async def report_sections(source: ReportSource) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "generated_at": timestamp(source.generated_at),
        "generated_by": source.generated_by(),
        "thread": source.thread_entry(),
        "participants": await source.participants(),
        "application": await source.application(),
        "period": await source.period(),
        "head": {
            "chain": source.head.chain,
            "position": source.head.position,
            "hash": source.head.hash,
        },
        "holds": await source.holds(),
        "staff": await source.staff(),
        "blocks": await source.blocks(),
        "flags": await source.flags(),
        "notes": await source.notes(),
        "messages": source.messages(),
        "emails": source.emails(),
        "chain": {"key": source.head.chain, "events": source.events()},
    }


def seal_of(head: Head, report_sha256: str) -> dict[str, Any]:
    """What a signature covers: the chain head and the digest of the whole report."""
    return {
        "chain": head.chain,
        "events": head.events,
        "head_hash": head.hash,
        "head_position": head.position,
        "report_sha256": report_sha256,
    }


async def json_chunks(source: ReportSource, settings: Settings) -> AsyncIterator[bytes]:
    digest = hashlib.sha256()
    yield b'{"report":'
    pending: list[bytes] = []
    size = 0
    async for chunk in encode_streaming(await report_sections(source)):
        digest.update(chunk)
        pending.append(chunk)
        size += len(chunk)
        if size >= 64 * 1024:
            yield b"".join(pending)
            pending, size = [], 0
    yield b"".join(pending)
    seal = seal_of(source.head, digest.hexdigest())
    key = settings.audit_signing_key
    signature = sign(load_private_key(key), seal) if key else None
    yield b',"seal":' + canonical({**seal, "signature": signature}) + b"}"


async def csv_chunks(source: ReportSource, settings: Settings) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    people = await actor_directory(source)
    count = 0
    async for event in source.events():
        values = {
            **event,
            "details": canonical(event["details"]).decode(),
            **people.get((event["actor_type"], event["actor_id"]), {}),
        }
        writer.writerow(csv_row(values.get(name) for name in CSV_COLUMNS))
        count += 1
        if count % report_data.BATCH == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


async def actor_directory(source: ReportSource) -> dict[tuple[str, str], dict[str, Any]]:
    """``(actor_type, actor_id)`` to the actor's name, email and role: the staff directory and
    the two participants."""
    people: dict[tuple[str, str], dict[str, Any]] = {}
    for member in await source.staff():
        people[("staff", member["id"])] = {
            "actor_name": member["name"],
            "actor_email": member["email"],
            "actor_role": member["role"],
        }
    for participant in await source.participants():
        people[("user", participant["id"])] = {
            "actor_name": participant["display_name"],
            "actor_email": participant["email"],
            "actor_role": participant["role"],
        }
    return people
