"""``portal audit check``'s second half: every stored message against what its chain recorded.

The chain proves a message's content by digest (``content_sha256`` on ``message.sent``,
``message.edited`` and ``message.removed``); a purge leaves a ``message.purged`` tombstone with
the digest of what was there. A message whose content differs from the latest digest its
thread's chain recorded was changed behind the application's back. Messages are read in
batches, each batch with its events in one snapshot, so memory does not grow with the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import CONTENT_ACTIONS
from portal.database import read_transaction, snapshot_transaction
from portal.models import AuditEvent, Message
from portal.services.compliance.chain import CONTENT_FIELDS, chain_key, content_digest
from portal.services.compliance.integrity import CheckResult

BATCH: Final = 1000
PURGED: Final = "message.purged"
_ACTIONS: Final = (*sorted(CONTENT_ACTIONS), PURGED)
# What a purge leaves of a message's content.
_EMPTIED: Final[dict[str, object]] = {"subject": None, "body": "", "attachments": []}


@dataclass
class _Recorded:
    """What a message's chain says about its content."""

    sent: bool = False
    latest: tuple[str, dict[str, Any], int] | None = None  # action, details, position
    digest_before_purge: str | None = None


async def count_messages(session: AsyncSession) -> int:
    async with read_transaction(session):
        return (await session.scalar(select(func.count()).select_from(Message))) or 0


async def check_message_contents(
    session: AsyncSession,
    result: CheckResult,
    progress: Callable[[int], None] | None = None,
) -> CheckResult:
    """Adds a problem naming each message (id, thread) whose content its chain does not prove;
    counts as unproven those whose events predate content digests."""
    columns = (Message.id, Message.thread_id, Message.purged_at, *_content_columns())
    after: uuid.UUID | None = None
    while True:
        async with snapshot_transaction(session):
            query = select(*columns)
            if after is not None:
                query = query.where(Message.id > after)
            rows = (await session.execute(query.order_by(Message.id).limit(BATCH))).all()
            recorded = await _recorded(session, [row.id for row in rows]) if rows else {}
        for row in rows:
            problem = _content_problem(row, recorded.get(row.id, _Recorded()), result)
            if problem:
                result.problems.append(f"message {row.id} (thread {row.thread_id}): {problem}")
        result.messages += len(rows)
        if progress is not None:
            progress(len(rows))
        if len(rows) < BATCH:
            return result
        after = rows[-1].id


def _content_columns() -> tuple[Any, ...]:
    return tuple(getattr(Message, name) for name in CONTENT_FIELDS)


async def _recorded(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, _Recorded]:
    """The content events of these messages, in chain order, each in its own thread's chain
    only (a digest appended to another chain proves nothing about this message)."""
    events = await session.execute(
        select(
            AuditEvent.subject_id,
            AuditEvent.chain_key,
            AuditEvent.thread_id,
            AuditEvent.action,
            AuditEvent.details,
            AuditEvent.position,
        )
        .where(
            AuditEvent.subject_type == "message",
            AuditEvent.subject_id.in_(ids),
            AuditEvent.action.in_(_ACTIONS),
        )
        .order_by(AuditEvent.position)
    )
    recorded: dict[uuid.UUID, _Recorded] = {}
    for subject_id, key, thread_id, action, details, position in events:
        if thread_id is None or key != chain_key(thread_id):
            continue
        entry = recorded.setdefault(subject_id, _Recorded())
        details = details if isinstance(details, dict) else {}
        if action == "message.sent":
            entry.sent = True
        if action != PURGED and "content_sha256" in details:
            entry.digest_before_purge = details["content_sha256"]
        entry.latest = (action, details, position)
    return recorded


def _content_problem(row: Any, recorded: _Recorded, result: CheckResult) -> str | None:
    if not recorded.sent:
        return "stored, but its thread's chain has no message.sent for it"
    assert recorded.latest is not None
    action, details, position = recorded.latest
    content = {name: getattr(row, name) for name in CONTENT_FIELDS}
    if row.purged_at is not None:
        if action != PURGED:
            return "marked purged, but its chain has no message.purged tombstone after its content"
        if any(content[name] != value for name, value in _EMPTIED.items()):
            return "purged (its chain has the tombstone), yet content is stored again"
        before = recorded.digest_before_purge
        if before is not None and details.get("content_sha256") != before:
            return (
                f"its tombstone (position {position}) records content_sha256 "
                f"{details.get('content_sha256')}, but the chain recorded {before} before it"
            )
        return None
    if action == PURGED:
        return f"its chain says it was purged (position {position}), yet content is stored"
    recorded_digest = details.get("content_sha256")
    if recorded_digest is None:
        result.unproven_messages += 1  # its events predate content digests
        return None
    if content_digest(content) != recorded_digest:
        return (
            f"its content does not match the content_sha256 its chain recorded ({action} at "
            f"position {position}): altered since"
        )
    return None
