"""What a per-thread audit report holds, read from one database snapshot in batches, so that a
thread of any length is exported without holding it in memory."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, event_fields
from portal.models import (
    Application,
    AuditChainHead,
    AuditEvent,
    EmailOutbox,
    FlagReport,
    LegalHold,
    Message,
    MessageBlock,
    MessageThread,
    ModeratorNote,
    StaffUser,
    User,
)
from portal.models.base import utcnow
from portal.models.rows import MessageRecordRow
from portal.services.compliance.chain import (
    CONTENT_FIELDS,
    GENESIS_HASH,
    chain_key,
    content_digest,
    timestamp,
)
from portal.services.compliance.holds import hold_basis, holds_on_thread

BATCH = 500
REPORT_FORMAT = "portal-audit-report/2"


@dataclass(frozen=True)
class Head:
    chain: str
    position: int  # -1 for a chain with no events
    hash: str

    @property
    def events(self) -> int:
        return self.position + 1


def _iso(value: datetime | None) -> str | None:
    return None if value is None else timestamp(value)


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


@dataclass
class ReportSource:
    """One thread's records, read in the caller's (snapshot) transaction."""

    session: AsyncSession
    thread: MessageThread
    head: Head
    actor: Actor
    generated_at: datetime

    @classmethod
    async def load(cls, session: AsyncSession, thread: MessageThread, actor: Actor) -> ReportSource:
        key = chain_key(thread.id)
        row = await session.get(AuditChainHead, key)
        head = Head(key, row.position, row.hash) if row else Head(key, -1, GENESIS_HASH)
        return cls(session, thread, head, actor, utcnow())

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """The thread's chain up to the head, each event with its hashes."""
        after = -1
        while after < self.head.position:
            batch = (
                await self.session.execute(
                    select(AuditEvent.__table__)
                    .where(
                        AuditEvent.chain_key == self.head.chain,
                        AuditEvent.position > after,
                        AuditEvent.position <= self.head.position,
                    )
                    .order_by(AuditEvent.position)
                    .limit(BATCH)
                )
            ).all()
            if not batch:
                return
            for event in batch:
                # Core rows, not ORM objects: a long chain streams with far fewer allocations.
                yield {**event_fields(event), "prev_hash": event.prev_hash, "hash": event.hash}
            after = batch[-1].position

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        removals = await self._removals()
        last: tuple[datetime, uuid.UUID] | None = None
        while True:
            query = select(Message.__table__).where(Message.thread_id == self.thread.id)
            if last is not None:
                query = query.where(
                    or_(
                        Message.created_at > last[0],
                        and_(Message.created_at == last[0], Message.id > last[1]),
                    )
                )
            batch = (
                await self.session.execute(
                    query.order_by(Message.created_at, Message.id).limit(BATCH)
                )
            ).all()
            if not batch:
                return
            for message in batch:
                yield message_entry(message, removals.get(message.id))
            last = (batch[-1].created_at, batch[-1].id)

    async def _removals(self) -> dict[uuid.UUID, dict[str, Any]]:
        """Who removed which message, from the chain's last ``message.removed`` event of each
        message that no later ``message.restored`` (an appeal's reversal) undid."""
        rows = await self.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.chain_key == self.head.chain,
                AuditEvent.action.in_(("message.removed", "message.restored")),
                AuditEvent.position <= self.head.position,
            )
            .order_by(AuditEvent.position)
        )
        removals: dict[uuid.UUID, dict[str, Any]] = {}
        for event in rows:
            if event.subject_id is None:
                continue
            if event.action == "message.restored":
                removals.pop(event.subject_id, None)
                continue
            removals[event.subject_id] = {
                "actor_type": event.actor_type,
                "actor_id": _text(event.actor_id),
                "at": timestamp(event.occurred_at),
                "details": event.details,
            }
        return removals

    async def emails(self) -> AsyncIterator[dict[str, Any]]:
        last: uuid.UUID | None = None
        while True:
            query = (
                select(EmailOutbox)
                .join(Message, Message.id == EmailOutbox.message_id)
                .where(Message.thread_id == self.thread.id)
            )
            if last is not None:
                query = query.where(EmailOutbox.id > last)
            batch = (await self.session.scalars(query.order_by(EmailOutbox.id).limit(BATCH))).all()
            if not batch:
                return
            for outbox in batch:
                yield {
                    "id": str(outbox.id),
                    "message_id": _text(outbox.message_id),
                    "recipient_id": _text(outbox.recipient_id),
                    "status": outbox.status,
                    "attempts": outbox.attempts,
                    "queued_at": _iso(outbox.created_at),
                    "sent_at": _iso(outbox.sent_at),
                    "last_error": outbox.last_error,
                }
            last = batch[-1].id
            self.session.expunge_all()

    async def flags(self) -> list[dict[str, Any]]:
        rows = await self.session.scalars(
            select(FlagReport)
            .join(Message, Message.id == FlagReport.message_id)
            .where(Message.thread_id == self.thread.id)
            .order_by(FlagReport.created_at, FlagReport.id)
        )
        return [
            {
                "id": str(flag.id),
                "message_id": str(flag.message_id),
                "reporter_id": str(flag.reporter_id),
                "reason": flag.reason,
                "note": flag.note,
                "status": flag.status,
                "decision": flag.decision,
                "decided_by_id": _text(flag.decided_by_id),
                "decided_at": _iso(flag.decided_at),
                "reported_at": _iso(flag.created_at),
            }
            for flag in rows
        ]

    async def notes(self) -> list[dict[str, Any]]:
        thread_messages = select(Message.id).where(Message.thread_id == self.thread.id)
        rows = await self.session.scalars(
            select(ModeratorNote)
            .where(
                or_(
                    ModeratorNote.message_id.in_(thread_messages),
                    ModeratorNote.flag_report_id.in_(
                        select(FlagReport.id).where(FlagReport.message_id.in_(thread_messages))
                    ),
                )
            )
            .order_by(ModeratorNote.created_at, ModeratorNote.id)
        )
        return [
            {
                "id": str(note.id),
                "author_id": str(note.author_id),
                "message_id": _text(note.message_id),
                "flag_report_id": _text(note.flag_report_id),
                "user_id": _text(note.user_id),
                "body": note.body,
                "at": _iso(note.created_at),
            }
            for note in rows
        ]

    async def holds(self) -> list[dict[str, Any]]:
        return [
            hold_entry(hold)
            for hold in await holds_on_thread(self.session, self.thread, include_lifted=True)
        ]

    async def participants(self) -> list[dict[str, Any]]:
        people = []
        for user_id in (self.thread.employer_id, self.thread.candidate_id):
            user = await self.session.get(User, user_id)
            people.append(
                {
                    "id": str(user_id),
                    "role": user.role if user else None,
                    "display_name": user.display_name if user else None,
                    "email": user.email if user else None,
                }
            )
        return people

    async def application(self) -> dict[str, Any] | None:
        if self.thread.application_id is None:
            return None
        application = await self.session.get(Application, self.thread.application_id)
        if application is None:
            return None
        return {
            "id": str(application.id),
            "employer_id": str(application.employer_id),
            "candidate_id": str(application.candidate_id),
            "job_title": application.job_title,
            "status": application.status,
            "requisition_id": application.requisition_id,
            "created_at": _iso(application.created_at),
        }

    async def period(self) -> dict[str, str | None]:
        first, last = (
            await self.session.execute(
                select(func.min(AuditEvent.occurred_at), func.max(AuditEvent.occurred_at)).where(
                    AuditEvent.chain_key == self.head.chain,
                    AuditEvent.position <= self.head.position,
                )
            )
        ).one()
        return {
            "from": _iso(first or self.thread.created_at),
            "to": _iso(last or self.thread.updated_at),
        }

    def thread_entry(self) -> dict[str, Any]:
        thread = self.thread
        return {
            "id": str(thread.id),
            "subject": thread.subject,
            "employer_id": str(thread.employer_id),
            "candidate_id": str(thread.candidate_id),
            "application_id": _text(thread.application_id),
            "created_at": _iso(thread.created_at),
            "last_message_at": _iso(thread.last_message_at),
            "is_deleted": thread.is_deleted,
            "deleted_at": _iso(thread.deleted_at),
            "deleted_by_employer_at": _iso(thread.deleted_by_employer_at),
            "deleted_by_candidate_at": _iso(thread.deleted_by_candidate_at),
        }

    def generated_by(self) -> dict[str, str | None]:
        return {"type": self.actor.type, "id": _text(self.actor.id)}

    async def staff(self) -> list[dict[str, Any]]:
        """Every staff member the report names (actors of the chain's events, flag deciders,
        note authors, hold placers and lifters, the exporter), with their name, email and role
        as they are at the export: the portal keeps no history of staff roles outside the
        global chain's ``staff.role_changed`` events."""
        chain_actors = select(AuditEvent.actor_id).where(
            AuditEvent.chain_key == self.head.chain,
            AuditEvent.position <= self.head.position,
            AuditEvent.actor_type == "staff",
        )
        thread_messages = select(Message.id).where(Message.thread_id == self.thread.id)
        thread_flags = select(FlagReport.id).where(FlagReport.message_id.in_(thread_messages))
        named = (
            select(FlagReport.decided_by_id).where(FlagReport.id.in_(thread_flags)),
            select(ModeratorNote.author_id).where(
                or_(
                    ModeratorNote.message_id.in_(thread_messages),
                    ModeratorNote.flag_report_id.in_(thread_flags),
                )
            ),
        )
        ids: set[uuid.UUID | None] = set(await self.session.scalars(chain_actors))
        for query in named:
            ids.update(await self.session.scalars(query))
        for hold in await holds_on_thread(self.session, self.thread, include_lifted=True):
            if hold.placed_by_type == "staff" and hold.placed_by_id is not None:
                ids.add(hold.placed_by_id)
            if hold.lifted_by_type == "staff" and hold.lifted_by_id is not None:
                ids.add(hold.lifted_by_id)
        if self.actor.type == "staff" and self.actor.id is not None:
            ids.add(self.actor.id)
        ids.discard(None)
        if not ids:
            return []
        rows = await self.session.scalars(select(StaffUser).where(StaffUser.id.in_(ids)))
        found = {staff.id: staff for staff in rows}
        return [
            {
                "id": str(staff_id),
                "name": found[staff_id].display_name if staff_id in found else None,
                "email": found[staff_id].email if staff_id in found else None,
                "role": found[staff_id].role if staff_id in found else None,
            }
            for staff_id in sorted(ids, key=str)
        ]

    async def blocks(self) -> list[dict[str, Any]]:
        """Blocks and unblocks between the thread's two parties, oldest first. An unblock deletes
        the blocklist row, so past blocks come from the global chain's ``user.blocked`` and
        ``user.unblocked`` events; a standing block takes its time from its row."""
        parties = (self.thread.employer_id, self.thread.candidate_id)
        pair = and_(
            AuditEvent.actor_type == "user",
            AuditEvent.actor_id.in_(parties),
            AuditEvent.subject_type == "user",
            AuditEvent.subject_id.in_(parties),
            AuditEvent.actor_id != AuditEvent.subject_id,
        )
        events = (
            await self.session.execute(
                select(
                    AuditEvent.action,
                    AuditEvent.actor_id,
                    AuditEvent.subject_id,
                    AuditEvent.occurred_at,
                    AuditEvent.details,
                )
                .where(AuditEvent.action.in_(("user.blocked", "user.unblocked")), pair)
                .order_by(AuditEvent.occurred_at, AuditEvent.chain_key, AuditEvent.position)
            )
        ).all()
        rows = {
            (block.blocker_id, block.blocked_id): block
            for block in await self.session.scalars(
                select(MessageBlock).where(
                    MessageBlock.blocker_id.in_(parties), MessageBlock.blocked_id.in_(parties)
                )
            )
        }
        blocks: list[dict[str, Any]] = []
        standing: dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]] = {}
        for action, blocker, blocked, at, details in events:
            key = (blocker, blocked)
            details = details if isinstance(details, dict) else {}
            if action == "user.blocked":
                if key in standing:
                    standing[key]["reason"] = details.get("reason", standing[key]["reason"])
                    continue
                standing[key] = {
                    "blocker_id": str(blocker),
                    "blocked_id": str(blocked),
                    "reason": details.get("reason"),
                    "created_at": _iso(at),
                    "removed_at": None,
                }
                blocks.append(standing[key])
            elif key in standing:
                standing.pop(key)["removed_at"] = _iso(at)
        for key, row in rows.items():
            entry = standing.get(key)
            if entry is None:  # a block older than the audit log
                entry = {"blocker_id": str(key[0]), "blocked_id": str(key[1]), "removed_at": None}
                blocks.append(entry)
            entry.update(reason=row.reason, created_at=_iso(row.created_at))
        return sorted(blocks, key=lambda block: (block["created_at"] or "", block["blocker_id"]))


def message_entry(message: MessageRecordRow, removal: dict[str, Any] | None) -> dict[str, Any]:
    """A message as the report shows it; ``content`` is null once purged, and otherwise proven
    by the ``content_sha256`` of the chain's last content event about it."""
    purged = message.purged_at is not None
    content = None if purged else {name: getattr(message, name) for name in CONTENT_FIELDS}
    return {
        "id": str(message.id),
        "sender_id": str(message.sender_id),
        "recipient_id": str(message.recipient_id),
        "sent_at": _iso(message.created_at),
        "message_type": message.message_type,
        "content": content,
        "content_sha256": None if content is None else content_digest(content),
        "read_at": _iso(message.read_at),
        "email_sent_at": _iso(message.email_sent_at),
        "email_opened_at": _iso(message.email_opened_at),
        "flagged": {"reason": message.flagged_reason, "at": _iso(message.flagged_at)}
        if message.is_flagged
        else None,
        "removed": {
            "at": _iso(message.removed_at),
            "reason": message.removed_reason,
            "by": removal,
        }
        if message.is_removed
        else None,
        "deleted_at": _iso(message.deleted_at) if message.is_deleted else None,
        "purged_at": _iso(message.purged_at),
    }


def hold_entry(hold: LegalHold) -> dict[str, Any]:
    return {
        "id": str(hold.id),
        "scope": hold.scope,
        "thread_id": _text(hold.thread_id),
        "user_id": _text(hold.user_id),
        "employer_id": _text(hold.employer_id),
        "requisition_id": hold.requisition_id,
        "reason": hold.reason,
        "case_reference": hold.case_reference,
        "basis": hold_basis(hold),
        "placed_by": {"type": hold.placed_by_type, "id": _text(hold.placed_by_id)},
        "placed_at": _iso(hold.placed_at),
        "lifted_by": {"type": hold.lifted_by_type, "id": _text(hold.lifted_by_id)}
        if hold.lifted_at
        else None,
        "lifted_at": _iso(hold.lifted_at),
        "lifted_reason": hold.lifted_reason,
    }
