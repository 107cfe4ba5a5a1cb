"""``portal audit check``'s third part: every stored file against its digest.

A file attached to a message is proven by the chain: the message's ``attachments`` list holds
its SHA-256 and size, the content digest its chain recorded covers that list (the second part
checks it), and ``message.sent`` names them again (``details.files``). Each stored file is read
back from the store in chunks and hashed: bytes changed in the store (or a row changed to
match them) are reported, as is a file the store no longer has. Files purged under the
retention policy are gone by design; their digests stay in the tombstones.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import Message, StoredAttachment
from portal.services.compliance.integrity import CheckResult
from portal.storage import AttachmentStore, StoredObjectMissing

BATCH: Final = 200


async def count_files(session: AsyncSession) -> int:
    async with read_transaction(session):
        return (
            await session.scalar(
                select(func.count())
                .select_from(StoredAttachment)
                .where(StoredAttachment.purged_at.is_(None))
            )
        ) or 0


async def check_stored_files(
    session: AsyncSession,
    store: AttachmentStore,
    result: CheckResult,
    progress: Callable[[int], None] | None = None,
) -> CheckResult:
    """Adds a problem naming each stored file whose bytes do not match its recorded digest."""
    after: uuid.UUID | None = None
    while True:
        async with read_transaction(session):
            query = select(StoredAttachment).where(StoredAttachment.purged_at.is_(None))
            if after is not None:
                query = query.where(StoredAttachment.id > after)
            rows = list(await session.scalars(query.order_by(StoredAttachment.id).limit(BATCH)))
            message_ids = {row.message_id for row in rows if row.message_id is not None}
            listed = await _listed(session, message_ids)
        for row in rows:
            problem = await _file_problem(row, store, listed)
            if problem:
                where = f" (message {row.message_id})" if row.message_id else ""
                result.problems.append(f"attachment {row.id}{where}: {problem}")
        result.files += len(rows)
        if progress is not None:
            progress(len(rows))
        if len(rows) < BATCH:
            return result
        after = rows[-1].id


async def _listed(session: AsyncSession, message_ids: set[uuid.UUID]) -> dict[str, dict[str, Any]]:
    """The file entries of these messages' ``attachments`` lists, by attachment id."""
    if not message_ids:
        return {}
    entries: dict[str, dict[str, Any]] = {}
    for (items,) in await session.execute(
        select(Message.attachments).where(Message.id.in_(message_ids))
    ):
        for item in items or []:
            if isinstance(item, dict) and "id" in item:
                entries[str(item["id"])] = item
    return entries


async def _file_problem(
    row: StoredAttachment, store: AttachmentStore, listed: dict[str, dict[str, Any]]
) -> str | None:
    expected, size = row.sha256, row.size_bytes
    if row.message_id is not None:
        entry = listed.get(str(row.id))
        if entry is None:
            return "its message's attachments do not list it"
        if (entry.get("sha256"), entry.get("size_bytes")) != (expected, size):
            return (
                f"its row records SHA-256 {expected} and {size} bytes, but its message (whose "
                f"content the chain proves) records {entry.get('sha256')} and "
                f"{entry.get('size_bytes')} bytes"
            )
    digest = hashlib.sha256()
    stored = 0
    try:
        async for chunk in store.chunks(row.storage_key):
            digest.update(chunk)
            stored += len(chunk)
    except StoredObjectMissing:
        return "its stored file is missing"
    if (digest.hexdigest(), stored) != (expected, size):
        return (
            f"its stored file has SHA-256 {digest.hexdigest()} and {stored} bytes, but "
            f"{expected} and {size} bytes were recorded: altered since"
        )
    return None
