"""Every staff action in a period (sign-ins, decisions, edits, exports, holds, threads read, and
what was done at the console), as CSV or JSON for the compliance and admin roles. The export is
itself audited.

Beside each id stand the name and email of whom it names (the staff member who acted; the user
or staff member it was done to), as they are at the export: two lookups per batch of events."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import event_fields, record_event
from portal.database import SessionSource, read_transaction, write_transaction
from portal.errors import InvalidInput
from portal.models import AuditEvent, StaffUser, User
from portal.permissions import Capability, Who
from portal.services.compliance.chain import canonical, timestamp
from portal.services.compliance.reports import encode_streaming
from portal.services.compliance.spooled import new_spool, read_spooled, spool
from portal.services.csv_cells import csv_row

FORMATS = ("csv", "json")
BATCH = 1000
CSV_COLUMNS = (
    "occurred_at",
    "actor_id",
    "actor_name",
    "actor_email",
    "action",
    "subject_type",
    "subject_id",
    "subject_name",
    "subject_email",
    "thread_id",
    "details",
    "chain",
    "position",
    "hash",
)


def staff_action() -> ColumnElement[bool]:
    """An event a person on staff did: at the dashboard or the console as a staff account, or
    at the console as the system with an operator recorded (development's unnamed operator)."""
    return or_(
        AuditEvent.actor_type == "staff",
        and_(
            AuditEvent.actor_type == "system",
            AuditEvent.details["operator"].as_string().is_not(None),
        ),
    )


Named = dict[uuid.UUID, tuple[str | None, str | None]]


async def people_named(session: AsyncSession, events: Sequence[AuditEvent]) -> tuple[Named, Named]:
    """The staff members and the users ``events`` name (actors, subjects): id to (name, email)."""
    staff_ids = {e.actor_id for e in events if e.actor_type == "staff" and e.actor_id}
    staff_ids |= {e.subject_id for e in events if e.subject_type == "staff" and e.subject_id}
    user_ids = {e.subject_id for e in events if e.subject_type == "user" and e.subject_id}
    staff: Named = {}
    users: Named = {}
    if staff_ids:
        rows = await session.execute(
            select(StaffUser.id, StaffUser.display_name, StaffUser.email).where(
                StaffUser.id.in_(staff_ids)
            )
        )
        staff = {row.id: (row.display_name or row.email, row.email) for row in rows}
    if user_ids:
        rows = await session.execute(
            select(User.id, User.display_name, User.email).where(User.id.in_(user_ids))
        )
        users = {row.id: (row.display_name, row.email) for row in rows}
    return staff, users


def names_of(event: AuditEvent, staff: Named, users: Named) -> dict[str, str | None]:
    nobody: tuple[str | None, str | None] = (None, None)
    actor = staff.get(event.actor_id, nobody) if event.actor_id else nobody
    subject = nobody
    if event.subject_id is not None and event.subject_type in ("staff", "user"):
        subject = (staff if event.subject_type == "staff" else users).get(event.subject_id, nobody)
    return {
        "actor_name": actor[0],
        "actor_email": actor[1],
        "subject_name": subject[0],
        "subject_email": subject[1],
    }


@dataclass(frozen=True)
class ActivityExport:
    filename: str
    media_type: str
    chunks: AsyncIterator[bytes]


async def export_staff_activity(
    sessions: SessionSource,
    *,
    start: datetime,
    end: datetime,
    fmt: str,
    actor: Who,
) -> ActivityExport:
    """Staff events with ``start <= occurred_at < end``; ``chunks`` reads the finished file."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise InvalidInput("format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("period", "start and end need a time zone")
    if end <= start:
        raise InvalidInput("period", "the end must come after the start")

    async def events(session: AsyncSession) -> AsyncIterator[dict[str, Any]]:
        after: tuple[datetime, Any] | None = None
        while True:
            query = select(AuditEvent).where(
                staff_action(),
                AuditEvent.occurred_at >= start,
                AuditEvent.occurred_at < end,
            )
            if after is not None:
                query = query.where(
                    (AuditEvent.occurred_at > after[0])
                    | ((AuditEvent.occurred_at == after[0]) & (AuditEvent.id > after[1]))
                )
            batch = (
                await session.scalars(
                    query.order_by(AuditEvent.occurred_at, AuditEvent.id).limit(BATCH)
                )
            ).all()
            if not batch:
                return
            staff, users = await people_named(session, batch)
            for event in batch:
                yield {**event_fields(event), **names_of(event, staff, users), "hash": event.hash}
            after = (batch[-1].occurred_at, batch[-1].id)
            session.expunge_all()

    async def as_json(session: AsyncSession) -> AsyncIterator[bytes]:
        document = {
            "period": {"from": timestamp(start), "to": timestamp(end)},
            "events": events(session),
        }
        async for chunk in encode_streaming(document):
            yield chunk

    async def as_csv(session: AsyncSession) -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        async for event in events(session):
            values = {**event, "details": canonical(event["details"]).decode()}
            writer.writerow(csv_row(values[c] for c in CSV_COLUMNS))
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()

    # Produced whole in one read transaction, recorded once complete, then sent from the file
    # at the client's pace (see ``spooled``): the file holds the staff events committed before
    # it, its own export event shows in the next one.
    file = new_spool()
    try:
        async with sessions() as session, read_transaction(session):
            actor = await permissions.authorize(session, actor, Capability.EXPORT)
            await spool((as_json if fmt == "json" else as_csv)(session), file)
        async with sessions() as session, write_transaction(session):
            await record_event(
                session,
                actor=actor,
                action="staff_activity.exported",
                subject_type="audit_log",
                subject_id=None,
                details={"from": start, "to": end, "format": fmt},
            )
    except BaseException:
        file.close()
        raise
    name = f"staff-activity-{start.date()}-{end.date()}.{fmt}"
    media_type = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
    return ActivityExport(name, media_type, read_spooled(file))
