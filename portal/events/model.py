"""An event as a client sees it: ``{"id", "type", "ts", "data"}``.

Ids are a user's history ids, ``<milliseconds>-<sequence>`` (Redis stream ids, and the same shape
in memory), increasing per user, so that ``Last-Event-ID`` says where a client stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MESSAGE_CREATED = "message.created"
MESSAGE_READ = "message.read"
UNREAD_CHANGED = "unread.changed"
THREAD_ARCHIVED = "thread.archived"
THREAD_DELETED = "thread.deleted"
MESSAGE_REMOVED = "message.removed"
RESYNC = "resync"
USER_EVENT_TYPES = (
    MESSAGE_CREATED,
    MESSAGE_READ,
    UNREAD_CHANGED,
    THREAD_ARCHIVED,
    THREAD_DELETED,
    MESSAGE_REMOVED,
    RESYNC,
)
# The staff's stream: the moderation queue changed (a report, a claim, a decision).
QUEUE_CHANGED = "queue.changed"

EventKey = tuple[int, int]
NO_EVENT_ID = "0-0"


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    ts: str
    data: dict[str, Any]

    def as_json(self) -> str:
        return json.dumps(
            {"id": self.id, "type": self.type, "ts": self.ts, "data": self.data},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        value = json.loads(raw)
        return cls(id=value["id"], type=value["type"], ts=value["ts"], data=value["data"])

    @property
    def key(self) -> EventKey:
        key = event_key(self.id)
        return key if key is not None else (0, 0)


def event_key(event_id: str | None) -> EventKey | None:
    """The order of an event id (``ms-seq``), or None for anything else."""
    if not event_id:
        return None
    ms, dash, seq = event_id.strip().partition("-")
    if not dash or not ms.isdigit() or not seq.isdigit() or len(event_id) > 40:
        return None
    return int(ms), int(seq)


def timestamp(when: datetime | None = None) -> str:
    """An event's ``ts``: when the change committed, UTC, to the millisecond."""
    moment = when or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
