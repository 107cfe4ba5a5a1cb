"""List exports from the admin panels: only compliance officers and administrators export, and
every export is an audit event (who, which panel, which format, how many rows) committed before
the file is produced."""

from __future__ import annotations

from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import Actor, record_event
from portal.database import write_transaction
from portal.errors import InvalidInput
from portal.models import StaffUser

EXPORT_FORMATS: Final = ("csv", "json")


async def record_panel_export(
    session: AsyncSession, *, actor: StaffUser, panel: str, export_format: str, rows: int
) -> None:
    """Records ``panel.exported``; Forbidden for roles that may not export."""
    permissions.require(actor, permissions.Capability.EXPORT)
    if export_format not in EXPORT_FORMATS:
        raise InvalidInput("export_type", f"{export_format!r} is not one of csv, json")
    async with write_transaction(session):
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="panel.exported",
            subject_type="admin_panel",
            subject_id=None,
            details={"panel": panel, "format": export_format, "rows": rows},
        )
