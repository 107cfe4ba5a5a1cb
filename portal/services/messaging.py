"""Sending a message and marking it read: the rules of SPEC §4 that keep threads, unread
counters and the rate limit exact on SQLite and PostgreSQL under concurrency."""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import String, bindparam, exists, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, claim_head_cte, claimed_head, message_digest, record_event
from portal.database import get_or_insert, write_transaction
from portal.errors import Blocked, Forbidden, InvalidInput, NotFound, PayloadTooLarge, Suspended
from portal.events import publish as events
from portal.models import Application, Message, MessageThread, StoredAttachment, User
from portal.models.base import insert_row, insert_values, new_id, utcnow
from portal.models.messaging import BODY_FORMATS, MESSAGE_TYPES
from portal.models.rows import ReceiptRow, ThreadRow, UserRow
from portal.prepared import Prepared
from portal.principals import Participant
from portal.services import (
    attachments,
    idempotency,
    inbox_totals,
    notifications,
    public_hosts,
    rate_limit,
    validation,
)
from portal.services.applications import application_facts
from portal.services.blocks import block_between
from portal.services.compliance.chain import chain_key
from portal.services.sanitize import sanitize_html
from portal.services.suspensions import suspended_now
from portal.services.threads import ThreadView, access_message, totals_share
from portal.settings import Settings

log = logging.getLogger(__name__)

MAX_BODY_LENGTH: Final = 10_000
MAX_SUBJECT_LENGTH: Final = 500
MAX_ATTACHMENTS: Final = 5
# 25 MB as the product promises it: decimal megabytes, 25,000,000 bytes (not 25 MiB).
MAX_ATTACHMENTS_TOTAL_BYTES: Final = 25_000_000
# An html body is limited as written (MAX_BODY_LENGTH); sanitising escapes text (& becomes &amp;)
# and adds rel="noopener noreferrer" to links, so what is stored is bounded separately.
MAX_STORED_HTML_LENGTH: Final = 20_000
MAX_FILENAME_LENGTH: Final = 255
MAX_URL_LENGTH: Final = 2048
ATTACHMENT_CONTENT_TYPES: Final = (
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.oasis.opendocument.text",
    "application/rtf",
    "text/rtf",
    "text/plain",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
)

# The API schema publishes these patterns, so they are written to mean the same in Python's and
# ECMAScript's regex dialects: their \s differ, and Python's $ also matches before a final newline.
WHITE_SPACE: Final = r"[\s\x1c-\x1f\x85\ufeff]"  # white space in either dialect
_VISIBLE: Final = r"[^\s\x00\x1c-\x1f\x85\ufeff]"
_END: Final = r"(?![\s\S])"
_MIDDLE: Final = rf"[^\x00]{{0,{MAX_BODY_LENGTH - 2}}}"
BODY_PATTERN: Final = rf"^{WHITE_SPACE}*{_VISIBLE}(?:{_MIDDLE}{_VISIBLE})?{WHITE_SPACE}*{_END}"
NO_NUL_PATTERN: Final = rf"^[^\x00]*{_END}"
NOT_BLANK_PATTERN: Final = rf"^[^\x00]*{_VISIBLE}[^\x00]*{_END}"
# Characters that reorder the text around them (U+202E makes "cv\u202efdp.exe" show as
# "cvexe.pdf"): never in a name or link shown to a recipient.
BIDI_CONTROLS: Final = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
FILENAME_PATTERN: Final = (
    rf"^[^\x00{BIDI_CONTROLS}]*[^\s\x00\x1c-\x1f\x85\ufeff{BIDI_CONTROLS}]"
    rf"[^\x00{BIDI_CONTROLS}]*{_END}"
)
_URL_REST: Final = (
    rf"(?::[0-9]{{1,5}})?(?:[/?#][^\s\x00-\x20\x7f-\x9f\ufeff{BIDI_CONTROLS}]*)?{_END}"
)
# An absolute http(s) URL whose host is a public host name (portal.services.public_hosts).
ATTACHMENT_URL_PATTERN: Final = rf"^https?://{public_hosts.PUBLIC_HOST_PATTERN}{_URL_REST}"
_ATTACHMENT_URL = re.compile(ATTACHMENT_URL_PATTERN)
# The same with any host, to tell a bad host from a URL that is wrong altogether.
_ANY_HOST_URL = re.compile(rf"^https?://(\[[^\]/]*\]|[^\[\]/?#:]*){_URL_REST}")
_BIDI_CONTROL = re.compile(f"[{BIDI_CONTROLS}]")
_WHITE_SPACE_CHARS: Final = "".join(c for c in map(chr, range(0x3001)) if c.isspace()) + "\ufeff"


# Core statements built once for the hot writes: no unit of work, no per-call cache key.
_messages = Message.__table__
_RECEIPT_COLUMNS: Final = (_messages.c.id, _messages.c.is_read, _messages.c.read_at)
_RECEIPT: Final = Prepared(
    select(*_RECEIPT_COLUMNS).where(_messages.c.id == bindparam("message_id"))
)
_users = User.__table__
_threads = MessageThread.__table__
_recipients = _users.alias("recipient")
_USER_COLUMNS: Final = tuple(column.key for column in _users.c)
# The sender, locked until the send commits: a sender's sends, a suspension and its lifting
# serialise here (NO KEY UPDATE, as suspensions.lock_user explains; SQLite renders no lock, its
# write transaction serialises already). In the same statement (one round trip fewer while the
# lock is held), the recipient, prefixed ``recipient_`` (NULLs for no such user), and whether
# either of the pair has blocked the other: checked only once the sender may send at all.
_LOCK_SENDER: Final = Prepared(
    select(
        *_users.c,
        *(_recipients.c[name].label(f"recipient_{name}") for name in _USER_COLUMNS),
        block_between(_users.c.id, _recipients.c.id).exists().label("blocked"),
    )
    .select_from(_users.outerjoin(_recipients, _recipients.c.id == bindparam("recipient_id")))
    .where(_users.c.id == bindparam("sender_id"))
    .with_for_update(of=_users, key_share=True)
)


@dataclass(frozen=True, slots=True)
class _Recipient:
    """The recipient's columns of the sender's row (``_LOCK_SENDER``): a UserRow."""

    id: uuid.UUID
    email: str
    display_name: str
    role: str
    last_active_at: datetime | None
    is_suspended: bool
    suspended_at: datetime | None
    suspended_until: datetime | None
    suspended_reason: str | None
    created_at: datetime
    updated_at: datetime


def _recipient_of(row: Any) -> _Recipient | None:
    if row.recipient_id is None:
        return None
    return _Recipient(**{name: getattr(row, f"recipient_{name}") for name in _USER_COLUMNS})


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size_bytes: int
    url: str

    def as_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size_bytes": self.size_bytes,
            "url": self.url,
        }


@dataclass(frozen=True)
class MessageDraft:
    """What a sender asks to send, before any rule has looked at it."""

    recipient_id: uuid.UUID
    body: str
    body_format: str = "plain"
    message_type: str = "general"
    subject: str | None = None
    application_id: uuid.UUID | None = None
    attachments: Sequence[Attachment] = field(default_factory=tuple)
    # uploaded files (POST /api/v1/attachments) to attach, by id
    attachment_ids: Sequence[uuid.UUID] = field(default_factory=tuple)


@dataclass(frozen=True)
class SentMessage:
    message: Message
    thread: ThreadView  # as the sender sees it
    thread_created: bool
    sender: UserRow
    recipient: UserRow


def _text(field_name: str, value: str, *, max_length: int, required: bool = True) -> str:
    """``value`` with white space trimmed from both ends (as either regex dialect sees it)."""
    if "\x00" in value:
        raise InvalidInput(field_name, "must not contain NUL characters")
    value = value.strip(_WHITE_SPACE_CHARS)
    if required and not value:
        raise InvalidInput(field_name, "must not be empty")
    if len(value) > max_length:
        raise InvalidInput(field_name, f"must be at most {max_length} characters")
    return value


def _attachments(attachments: Sequence[Attachment]) -> list[Attachment]:
    if len(attachments) > MAX_ATTACHMENTS:
        raise InvalidInput("attachments", f"at most {MAX_ATTACHMENTS} attachments per message")
    checked = []
    for index, item in enumerate(attachments):
        where = f"attachments[{index}]"
        filename = _text(f"{where}.filename", item.filename, max_length=MAX_FILENAME_LENGTH)
        if _BIDI_CONTROL.search(filename):
            raise InvalidInput(
                f"{where}.filename",
                "must not contain bidirectional control characters (U+061C, U+200E, U+200F, "
                "U+202A to U+202E, U+2066 to U+2069)",
            )
        content_type = validation.one_of(
            f"{where}.content_type", item.content_type, ATTACHMENT_CONTENT_TYPES
        )
        if item.size_bytes < 0:
            raise InvalidInput(f"{where}.size_bytes", "must not be negative")
        if len(item.url) > MAX_URL_LENGTH or not _ATTACHMENT_URL.match(item.url):
            raise InvalidInput(f"{where}.url", _url_problem(item.url))
        checked.append(Attachment(filename, content_type, item.size_bytes, item.url))
    return checked


def _url_problem(url: str) -> str:
    if _BIDI_CONTROL.search(url):
        return "must not contain bidirectional control characters"
    any_host = _ANY_HOST_URL.match(url)
    problem = (
        public_hosts.host_problem(any_host[1]) if any_host and len(url) <= MAX_URL_LENGTH else None
    )
    if problem is not None:
        return f"must link to a public host name: {problem}"
    return f"must be an absolute http or https URL of at most {MAX_URL_LENGTH} characters"


def normalise_draft(draft: MessageDraft) -> MessageDraft:
    """The draft with its text trimmed and ``html`` sanitised, or InvalidInput naming the field."""
    body = _text("body", draft.body, max_length=MAX_BODY_LENGTH)
    body_format = validation.one_of("body_format", draft.body_format, BODY_FORMATS)
    if body_format == "html":
        body = sanitize_html(body).strip(_WHITE_SPACE_CHARS)
        if not body:
            raise InvalidInput("body", "has no content left once unsafe HTML is removed")
        if len(body) > MAX_STORED_HTML_LENGTH:
            raise InvalidInput(
                "body",
                f"is {len(body):,} characters once sanitised (text is stored HTML-escaped, so "
                f"& becomes &amp;); at most {MAX_STORED_HTML_LENGTH:,} are stored",
            )
    subject = None
    if draft.subject is not None:
        subject = _text("subject", draft.subject, max_length=MAX_SUBJECT_LENGTH, required=False)
    return MessageDraft(
        recipient_id=draft.recipient_id,
        body=body,
        body_format=body_format,
        message_type=validation.one_of("message_type", draft.message_type, MESSAGE_TYPES),
        subject=subject or None,
        application_id=draft.application_id,
        attachments=tuple(_attachments(draft.attachments)),
        attachment_ids=_attachment_ids(draft),
    )


def _attachment_ids(draft: MessageDraft) -> tuple[uuid.UUID, ...]:
    ids = tuple(draft.attachment_ids)
    if len(ids) > MAX_ATTACHMENTS:
        raise InvalidInput("attachment_ids", f"at most {MAX_ATTACHMENTS} files per message")
    return ids


def _check_attachment_count(draft: MessageDraft) -> None:
    """Files and links together: checked once the files are known to be the sender's, so that
    a send naming files that do not exist is told that first."""
    if len(draft.attachment_ids) + len(draft.attachments) > MAX_ATTACHMENTS:
        raise InvalidInput(
            "attachment_ids",
            f"at most {MAX_ATTACHMENTS} attachments per message (files and links together)",
        )


def _refuse_if_suspended(sender: UserRow, now: datetime) -> None:
    if not suspended_now(sender, now):
        return
    if sender.suspended_until is None:
        raise Suspended("your account is suspended; you cannot send messages")
    until = sender.suspended_until.isoformat(timespec="seconds")
    raise Suspended(f"your account is suspended until {until}; you cannot send messages")


def _recipient(sender: Any, recipient_id: uuid.UUID) -> tuple[UserRow, bool]:
    """The recipient, and whether either of the pair has blocked the other, from the sender's
    row (``_LOCK_SENDER``)."""
    if recipient_id == sender.id:
        raise InvalidInput("recipient_id", "you cannot send a message to yourself")
    recipient = _recipient_of(sender)
    if recipient is None:
        raise NotFound(f"recipient_id: user {recipient_id} does not exist", field="recipient_id")
    if recipient.role == sender.role:
        # Says nothing of the recipient's role: that is theirs to tell.
        raise InvalidInput("recipient_id", "messages go between an employer and a candidate")
    return recipient, bool(sender.blocked)


async def _check_application(
    session: AsyncSession,
    application_id: uuid.UUID,
    employer_id: uuid.UUID,
    candidate_id: uuid.UUID,
) -> Application:
    """The application, locked FOR SHARE until the send commits: a provisioning change (FOR
    UPDATE) waits for this send, and so finds the thread this send may create and records the
    change on its chain; or this send waits for the change, and records the new facts."""
    application = await session.get(
        Application,
        application_id,
        with_for_update={"read": True},
        populate_existing=True,
    )
    if application is None:
        raise NotFound(
            f"application_id: application {application_id} does not exist", field="application_id"
        )
    if (application.employer_id, application.candidate_id) != (employer_id, candidate_id):
        raise InvalidInput(
            "application_id",
            f"application {application_id} is not between this employer and this candidate",
        )
    return application


@functools.cache
def _live_thread_statement(by_application: bool) -> Prepared:
    """The pair's live thread (of the application bound as ``application_id``, or of none),
    locked on PostgreSQL so that a delete committing meanwhile is seen: PostgreSQL re-checks the
    row (is_deleted) once the lock is granted, and this message then starts a new thread instead
    of landing in the deleted one."""
    t = _threads
    application = (
        t.c.application_id == bindparam("application_id")
        if by_application
        else t.c.application_id.is_(None)
    )
    return Prepared(
        select(*t.c)
        .where(
            t.c.employer_id == bindparam("employer_id"),
            t.c.candidate_id == bindparam("candidate_id"),
            application,
            t.c.is_deleted.is_(False),
        )
        .with_for_update(key_share=True)
    )


async def _find_or_create_thread(
    session: AsyncSession,
    *,
    employer_id: uuid.UUID,
    candidate_id: uuid.UUID,
    application_id: uuid.UUID | None,
    subject: str | None,
    now: datetime,
) -> tuple[ThreadRow, bool]:
    statement = _live_thread_statement(application_id is not None)
    params = {
        "employer_id": employer_id,
        "candidate_id": candidate_id,
        "application_id": application_id,
    }
    # A concurrent first message of the pair may win the unique index; this one then joins it.
    return await get_or_insert(
        session,
        find=lambda: statement.first(session, params),
        make=lambda: MessageThread(
            id=new_id(),
            employer_id=employer_id,
            candidate_id=candidate_id,
            application_id=application_id,
            subject=subject,
            created_at=now,
            updated_at=now,
        ),
    )


def _after_thread_history(thread: ThreadRow, now: datetime) -> datetime:
    """``now``, or just after the thread's last message or deletion if that is later (another
    process's clock, or a send that waited for the thread's lock): a new message must come after
    a participant's deletion to be in their view, and last_message_at must only move forward."""
    marks = [
        mark
        for mark in (
            thread.last_message_at,
            thread.deleted_by_employer_at,
            thread.deleted_by_candidate_at,
        )
        if mark is not None
    ]
    latest = max(marks, default=None)
    if latest is not None and latest >= now:
        return latest + timedelta(microseconds=1)
    return now


async def send_message(
    session: AsyncSession,
    *,
    sender_id: uuid.UUID,
    draft: MessageDraft,
    settings: Settings,
    on_sent: Callable[[AsyncSession, SentMessage], Awaitable[None]] | None = None,
    keyed: idempotency.KeyedRequest | None = None,
    now: datetime | None = None,
) -> SentMessage:
    """Sends ``draft`` from ``sender_id``, creating the thread on the pair's first message.

    ``now`` is the clock (tests pass their own); a suspension refuses the send only while it is
    in force, so one that has ended lets the sender send again without anything lifting it.

    ``on_sent`` runs inside the send's transaction, after the message is written, so whatever it
    records commits together with the message or not at all. With ``keyed``, a key used before
    raises idempotency.Replay before anything else is checked.

    Raises InvalidInput, NotFound, Forbidden (suspended sender, blocked pair), PayloadTooLarge
    and RateLimited; a refusal changes nothing except that a rate-limit refusal is recorded.
    """
    draft = normalise_draft(draft)
    async with write_transaction(session):
        sender = await _LOCK_SENDER.first(
            session, {"sender_id": sender_id, "recipient_id": draft.recipient_id}
        )
        if sender is None:
            raise NotFound(f"user {sender_id} does not exist")
        if keyed is not None:
            await idempotency.replay_if_used(session, keyed)
        now = now or utcnow()
        _refuse_if_suspended(sender, now)
        # Checked before anything else about the send, so that a flood of refused attempts stays
        # cheap, and every attempt past the limit is on record for staff.
        refusal = await rate_limit.refuse_if_over_limit(
            session, sender.id, settings=settings, now=now
        )
        if refusal is None:
            sent = await _deliver(session, sender, draft, now=now, settings=settings)
            if on_sent is not None:
                await on_sent(session, sent)
    if refusal is not None:
        raise refusal
    return sent


async def send_message_once(
    session: AsyncSession,
    *,
    sender_id: uuid.UUID,
    draft: MessageDraft,
    settings: Settings,
    idempotency_key: str,
    request_hash: str,
    response_body: Callable[[SentMessage], dict[str, Any]],
) -> SentMessage | idempotency.StoredResponse:
    """A send under a client's Idempotency-Key: the first request with the key sends, and its
    answer (``response_body`` of it, stored with the message) is what a retry gets back.

    Unprocessable for the key reused with another request. The key is stored only with a sent
    message, so a send that was refused or failed can be retried with the same key.
    """
    keyed = idempotency.KeyedRequest(
        user_id=sender_id, key=idempotency_key, request_hash=request_hash
    )

    async def remember(session: AsyncSession, sent: SentMessage) -> None:
        await idempotency.remember(session, keyed, status=201, body=response_body(sent))

    try:
        return await send_message(
            session,
            sender_id=sender_id,
            draft=draft,
            settings=settings,
            on_sent=remember,
            keyed=keyed,
        )
    except idempotency.Replay as replay:
        return replay.response


async def _deliver(
    session: AsyncSession,
    sender: UserRow,
    draft: MessageDraft,
    *,
    now: datetime,
    settings: Settings,
) -> SentMessage:
    recipient, blocked = _recipient(sender, draft.recipient_id)
    employer, candidate = (sender, recipient) if sender.role == "employer" else (recipient, sender)
    application = None
    if draft.application_id is not None:
        application = await _check_application(
            session, draft.application_id, employer.id, candidate.id
        )
    if blocked:
        raise Blocked("you cannot message this user: one of you has blocked the other")
    files = await attachments.claim_for_message(session, sender.id, draft.attachment_ids)
    _check_attachment_count(draft)
    total_bytes = sum(item.size_bytes for item in draft.attachments)
    total_bytes += sum(row.size_bytes for row in files)
    if total_bytes > MAX_ATTACHMENTS_TOTAL_BYTES:
        raise PayloadTooLarge(
            f"attachments: {total_bytes:,} bytes in total; at most "
            f"{MAX_ATTACHMENTS_TOTAL_BYTES:,} bytes (25 MB) per message",
            field="attachments",
        )
    return await _write_message(
        session,
        sender=sender,
        recipient=recipient,
        employer=employer,
        candidate=candidate,
        draft=draft,
        application=application,
        now=now,
        settings=settings,
        files=files,
    )


async def _write_message(
    session: AsyncSession,
    *,
    sender: UserRow,
    recipient: UserRow,
    employer: UserRow,
    candidate: UserRow,
    draft: MessageDraft,
    application: Application | None,
    now: datetime,
    settings: Settings,
    files: Sequence[StoredAttachment] = (),
) -> SentMessage:
    thread, created = await _find_or_create_thread(
        session,
        employer_id=employer.id,
        candidate_id=candidate.id,
        application_id=draft.application_id,
        subject=draft.subject,
        now=now,
    )
    if not created:
        now = _after_thread_history(thread, now)
    totals = inbox_totals.upsert_params(_totals_change(thread, created, recipient.role))
    message = Message(
        id=new_id(),
        thread_id=thread.id,
        sender_id=sender.id,
        recipient_id=recipient.id,
        subject=draft.subject,
        body=draft.body,
        body_format=draft.body_format,
        message_type=draft.message_type,
        attachments=[item.as_json() for item in draft.attachments]
        + [attachments.message_entry(row, settings) for row in files],
        created_at=now,
        updated_at=now,
    )
    # A Core insert, not the unit of work: the message object is the record of what was written
    # (for the answer, the audit digest and the email), not attached to the session.
    params = insert_values(message, prefix="message_")
    chain = chain_key(thread.id)
    params.update(thread_id=thread.id, now=now, subject=draft.subject, claim_chain=chain)
    assert totals is not None  # the recipient's unread messages always change
    params.update(totals)
    totals_rows = len(totals) // (len(inbox_totals.FIGURES) + 1)
    dialect = session.get_bind().dialect.name
    insert_first, bump, then = _write_statements(dialect, recipient.role, totals_rows)
    for statement in insert_first:
        await statement.all(session, params)
    thread = await bump.one(session, params)
    for statement in then:
        await statement.all(session, params)
    if dialect == "postgresql":  # the bump took the thread's audit chain head too
        claimed_head(session, chain, thread.head_position, thread.head_hash)
    await attachments.attach(session, files, message.id)
    actor = Actor.user(sender.id)
    if created:
        await record_event(
            session,
            actor=actor,
            action="thread.created",
            subject_type="thread",
            subject_id=thread.id,
            thread_id=thread.id,
            details={
                "employer_id": str(employer.id),
                "candidate_id": str(candidate.id),
                "application_id": str(thread.application_id) if thread.application_id else None,
                # The application's facts, bound to the report's ``application`` section.
                **({"application": application_facts(application)} if application else {}),
            },
        )
    await record_event(
        session,
        actor=actor,
        action="message.sent",
        subject_type="message",
        subject_id=message.id,
        thread_id=thread.id,
        details={
            "recipient_id": str(recipient.id),
            "message_type": message.message_type,
            "body_format": message.body_format,
            "attachments": len(message.attachments),
            "content_sha256": message_digest(message),
            "sent_at": now,
            # each uploaded file's SHA-256 and size (the content digest covers them too)
            **({"files": [attachments.evidence(row) for row in files]} if files else {}),
        },
    )
    await notifications.queue_offline_notification(
        session, message=message, sender=sender, recipient=recipient, settings=settings
    )
    events.message_created(
        session,
        message_id=message.id,
        thread_id=thread.id,
        sender_id=sender.id,
        recipient=recipient,
        body=message.body,
        body_format=message.body_format,
        created_at=now,
    )
    return SentMessage(
        message=message,
        thread=ThreadView(thread=thread, viewer_id=sender.id, other=recipient),
        thread_created=created,
        sender=sender,
        recipient=recipient,
    )


def _totals_change(
    thread: ThreadRow, created: bool, recipient_role: str
) -> dict[uuid.UUID, inbox_totals.Share]:
    """What a new message changes in the pair's inbox totals: the thread in view for both
    (whatever either had deleted: the message comes after), back in the recipient's inbox with
    one more unread message; the sender's archive flag and counter as they were."""
    sender_role = "candidate" if recipient_role == "employer" else "employer"
    changes = {}
    for role in (recipient_role, sender_role):
        before = inbox_totals.NOTHING if created else totals_share(thread, role)
        unread = 0 if created else getattr(thread, f"unread_count_{role}")
        archived = False if created else getattr(thread, f"archived_by_{role}")
        if role == recipient_role:
            unread, archived = unread + 1, False
        after = inbox_totals.share(visible=True, archived=archived, unread=unread)
        changes[getattr(thread, f"{role}_id")] = after.minus(before)
    return changes


async def mark_read(session: AsyncSession, user: Participant, message_id: uuid.UUID) -> ReceiptRow:
    """Marks a message read by its recipient; the thread's counter drops exactly once. Returns
    the message's receipt (``id``, ``is_read``, ``read_at``)."""
    async with write_transaction(session):
        message, thread = await access_message(session, user, message_id, lock_thread=True)
        if message.recipient_id != user.id:
            raise Forbidden("only the recipient can mark a message read")
        now = utcnow()
        chain = chain_key(thread.id)
        params = {
            "message_id": message_id,
            "now": now,
            "read_thread_id": thread.id,
            "reader_id": user.id,
            "claim_chain": chain,
        }
        mark, *then = _mark_read_statements(session.get_bind().dialect.name, user.role)
        changed: ReceiptRow | None = await mark.first(session, params)
        if changed is None:
            # Already read (perhaps a moment ago by a concurrent request): nothing to change.
            receipt: ReceiptRow = await _RECEIPT.one(session, params)
            return receipt
        if not then:  # PostgreSQL: the statement took the thread's audit chain head too
            claimed_head(session, chain, changed.head_position, changed.head_hash)  # type: ignore[attr-defined]
        for statement in then:  # SQLite: the counter, then the totals from what it became
            dropped = await statement.one(session, params)
            last = 1 if dropped.unread == 0 else 0
            change = inbox_totals.Share(
                0, 0, 0 if dropped.archived else -last, -last if dropped.archived else 0, -1
            )
            await inbox_totals.apply(session, {user.id: change})
        await record_event(
            session,
            actor=Actor.user(user.id),
            action="message.read",
            subject_type="message",
            subject_id=message_id,
            thread_id=thread.id,
            details={"read_at": params["now"]},
        )
        events.message_read(
            session,
            message_id=message_id,
            thread_id=thread.id,
            sender_id=message.sender_id,
            reader=user,
            read_at=now,
        )
    return changed


@functools.cache
def _write_statements(
    dialect: str, recipient_role: str, totals_rows: int
) -> tuple[tuple[Prepared, ...], Prepared, tuple[Prepared, ...]]:
    """Inserts the message (parameters ``message_*``), bumps its thread (``thread_id``, ``now``,
    ``subject``) and adds to ``totals_rows`` users' inbox totals (``totals*``, see
    inbox_totals.upsert): the statements to run before, the one returning the thread's row, and
    those after. The thread: the recipient's unread counter up by one, the thread back in their
    inbox, its last activity now, and the first subject given if it had none. On PostgreSQL one
    statement (the insert, the totals and the claim of the thread's audit chain head (bound as
    ``claim_chain``: ``head_position``, ``head_hash`` returned) CTEs of the update), so the
    locked thread waits on one round trip fewer; on SQLite three."""
    t = _threads
    unread = t.c[f"unread_count_{recipient_role}"]
    bump = (
        update(t)
        .where(t.c.id == bindparam("thread_id"))
        .values(
            {
                unread: unread + 1,
                t.c[f"archived_by_{recipient_role}"]: False,
                t.c.last_message_at: bindparam("now"),
                t.c.updated_at: bindparam("now"),
                t.c.subject: func.coalesce(t.c.subject, bindparam("subject", type_=String)),
            }
        )
        .returning(*t.c)
    )
    insert_message = insert_row(_messages, prefix="message_")
    totals = inbox_totals.upsert(dialect, totals_rows)
    if dialect == "postgresql":
        head = claim_head_cte()
        bump = bump.returning(
            select(head.c.position).scalar_subquery().label("head_position"),
            select(head.c.hash).scalar_subquery().label("head_hash"),
        )
        bump = bump.add_cte(insert_message.cte("inserted_message"))
        return (), Prepared(bump.add_cte(totals.cte("added_totals")).add_cte(head)), ()
    return (Prepared(insert_message),), Prepared(bump), (Prepared(totals),)


@functools.cache
def _mark_read_statements(dialect: str, role: str) -> tuple[Prepared, ...]:
    """Marks the message (``message_id``) read at ``now`` if it is not yet, returning its
    receipt, and drops the unread counter of its thread (``read_thread_id``: SQLAlchemy's
    ``execute`` would take a ``thread_id`` for one more column of ``messages`` to set) for the
    participant in ``role``, and one unread message off their inbox totals (``reader_id``; one
    unread thread too if that was its last). One statement on PostgreSQL, whose counter and
    totals updates and the claim of the thread's audit chain head (``claim_chain``: returned as
    ``head_position``, ``head_hash``) happen only if the message changed (CTEs); on SQLite
    the caller runs the second statement only then, and the totals' from the counter it
    returns."""
    mark = (
        update(_messages)
        .where(_messages.c.id == bindparam("message_id"), _messages.c.is_read.is_(False))
        .values(is_read=True, read_at=bindparam("now"), updated_at=bindparam("now"))
        .returning(*_RECEIPT_COLUMNS)
    )
    unread = _threads.c[f"unread_count_{role}"]
    drop = (
        update(_threads)
        .where(_threads.c.id == bindparam("read_thread_id"))
        .values({unread: unread - 1, _threads.c.updated_at: bindparam("now")})
        .returning(unread.label("unread"), _threads.c[f"archived_by_{role}"].label("archived"))
    )
    if dialect == "postgresql":
        receipt = mark.cte("receipt")
        dropped = drop.where(exists(select(receipt.c.id))).cte("dropped_unread")
        totals = inbox_totals.read_drop_upsert(dialect, dropped, "reader_id")
        head = claim_head_cte(when=exists(select(receipt.c.id)))
        marked = select(
            *receipt.c, head.c.position.label("head_position"), head.c.hash.label("head_hash")
        ).select_from(receipt.outerjoin(head, true()))
        return (Prepared(marked.add_cte(dropped).add_cte(totals).add_cte(head)),)
    return (Prepared(mark), Prepared(drop))
