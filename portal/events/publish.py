"""What the services call, inside their write transaction, to tell users (or the staff's queue)
of a change once it has committed; nothing is published for a change that is rolled back.

Each event carries only what its user could read through the API: a new message's preview goes
to its two participants, a read receipt to its sender, an archive or a deletion to the one who
did it; reports, reporters and flags are never in an event (the staff stream says only that the
queue changed).
"""

from __future__ import annotations

import html
import re
import uuid
from datetime import datetime
from typing import Any

import nh3
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import on_commit
from portal.events.hub import Pending, UnreadRefresh, UserEvent, hub_of
from portal.events.model import (
    MESSAGE_CREATED,
    MESSAGE_READ,
    MESSAGE_REMOVED,
    THREAD_ARCHIVED,
    THREAD_DELETED,
    timestamp,
)
from portal.principals import Participant

PREVIEW_LENGTH = 140
_SPACES = re.compile(r"\s+")


def preview(body: str, body_format: str) -> str:
    """A message's first words as plain text (an HTML body's tags dropped)."""
    text = html.unescape(nh3.clean(body, tags=set())) if body_format == "html" else body
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= PREVIEW_LENGTH else text[: PREVIEW_LENGTH - 1].rstrip() + "…"


def _after_commit(session: AsyncSession, *pending: Pending) -> None:
    hub = hub_of(session)
    if hub is None:
        return

    def hand_on() -> None:
        for item in pending:
            hub.enqueue(item)

    on_commit(session, hand_on)


def _user_event(user_ids: tuple[uuid.UUID, ...], type_: str, data: dict[str, Any]) -> UserEvent:
    # ts: when the change commits (the callback runs then), close enough to say "now"
    return UserEvent(user_ids, type_, timestamp(), data)


def message_created(
    session: AsyncSession,
    *,
    message_id: uuid.UUID,
    thread_id: uuid.UUID,
    sender_id: uuid.UUID,
    recipient: Participant,
    body: str,
    body_format: str,
    created_at: datetime,
) -> None:
    data = {
        "thread_id": str(thread_id),
        "message_id": str(message_id),
        "sender_id": str(sender_id),
        "preview": preview(body, body_format),
        "created_at": timestamp(created_at),
    }
    _after_commit(
        session,
        _user_event((recipient.id, sender_id), MESSAGE_CREATED, data),
        UnreadRefresh(recipient.id, recipient.role),
    )


def message_read(
    session: AsyncSession,
    *,
    message_id: uuid.UUID,
    thread_id: uuid.UUID,
    sender_id: uuid.UUID,
    reader: Participant,
    read_at: datetime,
) -> None:
    data = {
        "thread_id": str(thread_id),
        "message_id": str(message_id),
        "read_at": timestamp(read_at),
    }
    _after_commit(
        session,
        _user_event((sender_id, reader.id), MESSAGE_READ, data),
        UnreadRefresh(reader.id, reader.role),
    )


def thread_archived(
    session: AsyncSession, *, user: Participant, thread_id: uuid.UUID, archived: bool
) -> None:
    data = {"thread_id": str(thread_id), "archived": archived}
    _after_commit(
        session,
        _user_event((user.id,), THREAD_ARCHIVED, data),
        UnreadRefresh(user.id, user.role),
    )


def thread_deleted(session: AsyncSession, *, user: Participant, thread_id: uuid.UUID) -> None:
    _after_commit(
        session,
        _user_event((user.id,), THREAD_DELETED, {"thread_id": str(thread_id)}),
        UnreadRefresh(user.id, user.role),
    )


def message_removed(
    session: AsyncSession,
    *,
    message_id: uuid.UUID,
    thread_id: uuid.UUID,
    sender_id: uuid.UUID,
    recipient_id: uuid.UUID,
) -> None:
    """A moderator withheld the message: both participants' views of it change."""
    data = {"thread_id": str(thread_id), "message_id": str(message_id)}
    _after_commit(session, _user_event((recipient_id, sender_id), MESSAGE_REMOVED, data))


def queue_changed(session: AsyncSession, kind: str) -> None:
    """The moderation queue changed (``report``, ``claim``, ``decision``): the staff's pages
    refresh their counts. Says nothing of whom."""
    hub = hub_of(session)
    if hub is not None:
        on_commit(session, lambda: hub.staff_event(kind))
