"""Uploaded files (issue 19): received in chunks into a spool file while hashed and counted,
their type sniffed from the bytes, scanned by clamd, stored under a random key; attached to one
message by its sender; served only to the thread's participants, and only when clean.

An upload's row is written ``quarantined`` as soon as its bytes are stored, and the scan's
verdict is written after: a file whose scan never finished (clamd went away) stays quarantined
and is never attached or served. An infected file is kept for staff (its row and bytes, with
the signature clamd named), recorded in the audit log, and refused to its uploader.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import Actor, record_event
from portal.database import read_transaction, write_transaction
from portal.errors import Conflict, Gone, InvalidInput, NotFound, PayloadTooLarge, PortalError
from portal.models import Message, StoredAttachment, User
from portal.models.attachments import SERVABLE_STATUSES
from portal.models.base import new_id, utcnow
from portal.permissions import Capability, Who
from portal.principals import Participant
from portal.services import attachment_types
from portal.services.attachment_scan import Verdict, scan_file
from portal.settings import Settings
from portal.storage import (
    AttachmentStore,
    StoredObjectMissing,
    attachment_store,
    new_storage_key,
)

log = logging.getLogger(__name__)

MAX_FILES_PER_MESSAGE: Final = 5
# 25 MB as the product promises it: decimal megabytes (portal.services.messaging says the same).
MAX_TOTAL_BYTES: Final = 25_000_000
MAX_NAME_LENGTH: Final = 255
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class UnsupportedFileType(PortalError):
    """The file's bytes are not of an accepted type, or not of the type its name says."""

    status_code = 415
    code = "unsupported_media_type"


class InfectedFile(PortalError):
    """The virus scanner found something in the file: it is kept for staff, never served."""

    status_code = 422
    code = "infected"


@dataclass(frozen=True)
class Download:
    """What a participant may download: the row, and the store its bytes are in."""

    attachment: StoredAttachment
    store: AttachmentStore

    @property
    def inline(self) -> bool:
        return self.attachment.content_type in attachment_types.INLINE_TYPES

    def headers(self, *, inline: bool | None = None) -> dict[str, str]:
        """The download's headers: never sniffed, never run in the service's origin."""
        shown = self.inline if inline is None else inline
        return {
            "Content-Disposition": content_disposition(self.attachment.original_name, inline=shown),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, no-store",
        }

    async def body(self) -> AsyncIterator[bytes]:
        """The stored bytes, chunk by chunk; NotFound, before any byte is answered, when the
        store no longer has the file."""
        chunks = self.store.chunks(self.attachment.storage_key)
        try:
            first = await anext(chunks, b"")
        except StoredObjectMissing:
            raise NotFound(f"attachment {self.attachment.id}: its stored file is missing") from None
        return _continued(first, chunks)


async def _continued(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


def content_disposition(filename: str, *, inline: bool) -> str:
    """RFC 6266: a plain ASCII ``filename`` for old clients and the exact name as RFC 8187
    ``filename*``; nothing of the name can end the header or add a parameter."""
    fallback = "".join(
        c if 0x20 <= ord(c) < 0x7F and c not in '"\\;%' else "_" for c in filename
    ).strip()
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback or 'file'}\"; filename*=UTF-8''{quote(filename, safe='')}"


def clean_filename(filename: str | None) -> str:
    """The name to keep: the last part of what the client sent (no directories), checked."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in (".", ".."):
        raise InvalidInput("file", "the file part must have a file name (filename=...)")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput("file", f"the file name must be at most {MAX_NAME_LENGTH} characters")
    if _BAD_NAME.search(name):
        raise InvalidInput(
            "file",
            "the file name must not contain control characters or bidirectional controls "
            "(U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069)",
        )
    return name


def check_extension(filename: str) -> None:
    """A name whose extension no accepted type has is refused before any byte is read."""
    if attachment_types.extension(filename) not in attachment_types.ALLOWED_EXTENSIONS:
        accepted = ", ".join(sorted(attachment_types.ALLOWED_EXTENSIONS))
        raise UnsupportedFileType(
            f"file: {filename!r} is not an accepted kind of file; accepted: {accepted}",
            field="file",
        )


@dataclass
class _Received:
    size: int
    sha256: str


async def _receive(chunks: AsyncIterator[bytes], spool: Path, max_bytes: int) -> _Received:
    """Writes ``chunks`` to ``spool``, hashing and counting; PayloadTooLarge past ``max_bytes``
    (no more is read or written)."""
    digest = hashlib.sha256()
    size = 0
    handle = await asyncio.to_thread(spool.open, "wb")
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"file: larger than {max_bytes:,} bytes, the most one file may be",
                    field="file",
                )
            digest.update(chunk)
            await asyncio.to_thread(handle.write, chunk)
    finally:
        await asyncio.to_thread(handle.close)
    if size == 0:
        raise InvalidInput("file", "the file is empty")
    return _Received(size, digest.hexdigest())


async def upload_attachment(
    session: AsyncSession,
    *,
    uploader_id: uuid.UUID,
    filename: str | None,
    chunks: AsyncIterator[bytes],
    settings: Settings,
) -> StoredAttachment:
    """Receives one file from ``uploader_id`` and returns its row, clean (or ``unscanned`` with
    no scanner configured). Refusals: InvalidInput (no name, empty), PayloadTooLarge (over the
    per-file cap), UnsupportedFileType (415: sniffed type not accepted, or not the name's),
    InfectedFile (the row and bytes are kept for staff, marked infected), ScannerUnavailable
    (503: the upload stays quarantined)."""
    name = clean_filename(filename)
    check_extension(name)
    async with read_transaction(session):
        if await session.get(User, uploader_id) is None:
            raise NotFound(f"user {uploader_id} does not exist")
    store = attachment_store(settings)
    cap = min(settings.attachment_max_file_bytes, MAX_TOTAL_BYTES)
    with store.spool() as spool:
        received = await _receive(chunks, spool, cap)
        sniffed = await asyncio.to_thread(attachment_types.sniff, str(spool))
        problem = attachment_types.refusal(name, sniffed)
        if problem is not None:
            raise UnsupportedFileType(f"file: {problem}", field="file")
        row = StoredAttachment(
            id=new_id(),
            uploader_id=uploader_id,
            original_name=name,
            size_bytes=received.size,
            sha256=received.sha256,
            content_type=sniffed,
            storage_key=new_storage_key(),
            scan_status="quarantined",
            created_at=utcnow(),
        )
        await store.put(row.storage_key, spool)
        async with write_transaction(session):
            session.add(row)
        session.expunge(row)  # a record of what was written; the verdict is written by statement
        verdict: Verdict | None = None
        if settings.clamd_url is not None:
            # The spool file has moved into a local store; scan what the store holds then.
            scanned = _local_path(store, row.storage_key) or spool
            verdict = await scan_file(
                settings.clamd_url, scanned, timeout_seconds=settings.clamd_timeout_seconds
            )
    await _record_verdict(session, row, verdict)
    if verdict is not None and verdict.infected:
        raise InfectedFile(
            f"file: the virus scanner found {verdict.signature} in it; it was not accepted",
            field="file",
        )
    return row


def _local_path(store: AttachmentStore, key: str) -> Path | None:
    path = getattr(store, "path", None)
    return path(key) if callable(path) else None


async def _record_verdict(
    session: AsyncSession, row: StoredAttachment, verdict: Verdict | None
) -> None:
    now = utcnow()
    status = "unscanned" if verdict is None else "infected" if verdict.infected else "clean"
    async with write_transaction(session):
        await session.execute(
            update(StoredAttachment)
            .where(StoredAttachment.id == row.id)
            .values(
                scan_status=status,
                scan_signature=verdict.signature if verdict else None,
                scanned_at=now if verdict else None,
            )
        )
        if verdict is not None and verdict.infected:
            await record_event(
                session,
                actor=Actor.user(row.uploader_id),
                action="attachment.infected",
                subject_type="attachment",
                subject_id=row.id,
                details={
                    "uploader_id": str(row.uploader_id),
                    "filename": row.original_name,
                    "content_type": row.content_type,
                    "size_bytes": row.size_bytes,
                    "sha256": row.sha256,
                    "signature": verdict.signature,
                    "scanned_at": now,
                },
            )
    row.scan_status = status
    row.scan_signature = verdict.signature if verdict else None
    row.scanned_at = now if verdict else None


async def claim_for_message(
    session: AsyncSession, sender_id: uuid.UUID, attachment_ids: Sequence[uuid.UUID]
) -> list[StoredAttachment]:
    """The sender's uploads to attach, locked until the send commits (in its transaction):
    each must be the sender's, attached to no message yet, and clean (or unscanned)."""
    if not attachment_ids:
        return []
    rows = {
        row.id: row
        for row in await session.scalars(
            select(StoredAttachment)
            .where(StoredAttachment.id.in_(attachment_ids))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    claimed = []
    for index, attachment_id in enumerate(attachment_ids):
        where = f"attachment_ids[{index}]"
        row = rows.get(attachment_id)
        if row is None or row.uploader_id != sender_id:
            raise NotFound(f"{where}: attachment {attachment_id} does not exist", field=where)
        if row.message_id is not None:
            raise Conflict(f"{where}: attachment {attachment_id} is attached already", field=where)
        if row.scan_status == "infected":
            raise InfectedFile(
                f"{where}: the virus scanner found {row.scan_signature} in this file", field=where
            )
        if row.scan_status not in SERVABLE_STATUSES:
            raise Conflict(
                f"{where}: attachment {attachment_id} has not passed the virus scan", field=where
            )
        claimed.append(row)
    if len({row.id for row in claimed}) != len(claimed):
        raise InvalidInput("attachment_ids", "names a file more than once")
    return claimed


def message_entry(row: StoredAttachment, settings: Settings) -> dict[str, Any]:
    """The file as the message's ``attachments`` list holds it: the content digest (and so the
    audit chain) covers its SHA-256 and size."""
    return {
        "id": str(row.id),
        "filename": row.original_name,
        "content_type": row.content_type,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "url": f"{settings.base_url}/api/v1/attachments/{row.id}",
    }


def evidence(row: StoredAttachment) -> dict[str, Any]:
    """What the audit events say of a file: its id, SHA-256 and size."""
    return {"id": str(row.id), "sha256": row.sha256, "size_bytes": row.size_bytes}


async def attach(
    session: AsyncSession, rows: Sequence[StoredAttachment], message_id: uuid.UUID
) -> None:
    """Binds the claimed uploads to their message (in the send's transaction)."""
    if rows:
        await session.execute(
            update(StoredAttachment)
            .where(StoredAttachment.id.in_([row.id for row in rows]))
            .values(message_id=message_id)
        )


async def access_attachment(
    session: AsyncSession, user: Participant, attachment_id: uuid.UUID, settings: Settings
) -> Download:
    """A file the user may download: their own upload not attached yet, or a file of a message
    in their view of a thread they take part in; clean (or unscanned) and not withheld. A file
    that is not theirs to see is "does not exist", as a message would be."""
    from portal.services.threads import access_message

    missing = NotFound(f"attachment {attachment_id} does not exist")
    async with read_transaction(session):
        row = await session.get(StoredAttachment, attachment_id, populate_existing=True)
        if row is None:
            raise missing
        if row.message_id is None:
            if row.uploader_id != user.id:
                raise missing
        else:
            try:
                message, _ = await access_message(session, user, row.message_id)
            except PortalError as exc:
                if exc.status_code in (403, 404):
                    raise missing from None
                raise
            if message.is_removed:
                raise Gone(
                    f"attachment {attachment_id}: its message was removed by a moderator; "
                    "its files are withheld"
                )
    _refuse_unservable(row)
    return Download(row, attachment_store(settings))


def _refuse_unservable(row: StoredAttachment) -> None:
    """A stored file is served to no one, participants or staff, once purged, when infected, or
    before its scan has passed."""
    if row.purged_at is not None:
        raise Gone(f"attachment {row.id} was deleted under the retention policy")
    if row.scan_status == "infected":
        raise InfectedFile(f"attachment {row.id}: the virus scanner found something in it")
    if row.scan_status not in SERVABLE_STATUSES:
        raise Conflict(f"attachment {row.id} has not passed the virus scan")


async def stored_files_of(
    session: AsyncSession, message_ids: Sequence[uuid.UUID]
) -> list[StoredAttachment]:
    """The stored (not yet purged) files of these messages."""
    if not message_ids:
        return []
    return list(
        await session.scalars(
            select(StoredAttachment).where(
                StoredAttachment.message_id.in_(message_ids), StoredAttachment.purged_at.is_(None)
            )
        )
    )


async def mark_purged(
    session: AsyncSession, rows: Sequence[StoredAttachment], now: datetime
) -> None:
    """Records that these files are deleted under the retention policy (in the purge's
    transaction; :func:`delete_stored` deletes their bytes once it has committed)."""
    if rows:
        await session.execute(
            update(StoredAttachment)
            .where(StoredAttachment.id.in_([row.id for row in rows]))
            .values(purged_at=now)
        )


async def delete_stored(settings: Settings, rows: Sequence[StoredAttachment]) -> None:
    """Deletes the files' bytes from the store. A file that cannot be deleted now is logged
    and left: its row says it is purged, and it is never served again."""
    store = attachment_store(settings)
    for row in rows:
        try:
            await store.delete(row.storage_key)
        except Exception:
            log.exception("could not delete the stored file of attachment %s", row.id)


@dataclass(frozen=True)
class FileLink:
    """An uploaded file of a message, as staff pages list it (a link to the staff download)."""

    id: uuid.UUID
    filename: str
    size_bytes: int
    sha256: str


def file_links(entries: Sequence[Any] | None) -> tuple[FileLink, ...]:
    """The uploaded files among a message's ``attachments`` entries (links have no id)."""
    links = []
    for item in entries or ():
        if isinstance(item, dict) and "id" in item:
            links.append(
                FileLink(
                    id=uuid.UUID(str(item["id"])),
                    filename=str(item.get("filename", "")),
                    size_bytes=int(item.get("size_bytes", 0)),
                    sha256=str(item.get("sha256", "")),
                )
            )
    return tuple(links)


async def staff_download(
    session: AsyncSession, attachment_id: uuid.UUID, *, actor: Who, settings: Settings
) -> Download:
    """A file of a message for a staff member who may read the queue (the report and thread
    pages link to it). Every download is recorded on the thread's chain
    (``attachment.downloaded_by_staff``). Infected files are never served, to staff either;
    uploads not attached to a message are not staff's to open."""
    async with write_transaction(session):
        audit_actor = await permissions.authorize(session, actor, Capability.READ_QUEUE)
        row = await session.get(StoredAttachment, attachment_id, populate_existing=True)
        if row is None or row.message_id is None:
            raise NotFound(f"attachment {attachment_id} does not exist")
        message = await session.get(Message, row.message_id)
        if message is None:
            raise NotFound(f"attachment {attachment_id} does not exist")
        _refuse_unservable(row)
        await record_event(
            session,
            actor=audit_actor,
            action="attachment.downloaded_by_staff",
            subject_type="attachment",
            subject_id=row.id,
            thread_id=message.thread_id,
            details={"message_id": str(message.id), "sha256": row.sha256},
        )
    session.expunge(row)
    return Download(row, attachment_store(settings))
