"""The one way to append to the audit log. Callers pass the session of the change they record,
so the event commits or rolls back with it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import AuditEvent
from portal.models.base import utcnow


@dataclass(frozen=True)
class Actor:
    type: str
    id: uuid.UUID | None = None

    @classmethod
    def user(cls, user_id: uuid.UUID) -> Actor:
        return cls("user", user_id)

    @classmethod
    def staff(cls, staff_id: uuid.UUID) -> Actor:
        return cls("staff", staff_id)

    @classmethod
    def service(cls) -> Actor:
        return cls("service")

    @classmethod
    def system(cls) -> Actor:
        return cls("system")


async def record_event(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: uuid.UUID | None,
    thread_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        occurred_at=utcnow(),
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        thread_id=thread_id,
        details=details or {},
    )
    session.add(event)
    return event


def apply_changes(row: object, values: dict[str, Any]) -> dict[str, Any]:
    """Sets the attributes of ``row`` that differ from ``values``; returns just those, which is
    what an ``*.updated`` event records."""
    changes = {name: value for name, value in values.items() if getattr(row, name) != value}
    for name, value in changes.items():
        setattr(row, name, value)
    return changes
