"""Append-only audit events and their chain heads, the email outbox and send idempotency keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, CreatedMixin, IdMixin, TimestampsMixin, one_of, utcnow

ACTOR_TYPES: Final = ("user", "staff", "service", "system")
OUTBOX_STATUSES: Final = ("pending", "sending", "sent", "failed", "skipped")
IDEMPOTENCY_STATUSES: Final = ("in_progress", "completed")


class AuditEvent(IdMixin, Base):
    """One thing that happened. Never updated or deleted by the application.

    Actor and subject ids carry no foreign keys: the record must outlive what it names.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint(one_of("actor_type", ACTOR_TYPES), name="actor_type"),
        Index("ix_audit_events_thread_id_occurred_at", "thread_id", "occurred_at"),
        Index("ix_audit_events_subject_type_subject_id", "subject_type", "subject_id"),
        # A chain never forks: one event per position, whatever a bug or a race attempts.
        UniqueConstraint("chain_key", "position"),
    )

    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[uuid.UUID | None]
    thread_id: Mapped[uuid.UUID | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The hash chain (portal.services.compliance.chain): one chain per thread, one global.
    chain_key: Mapped[str] = mapped_column(String(64))
    position: Mapped[int]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The last position and hash of each audit chain; its row is locked by every append so that
    concurrent appends queue up instead of forking the chain."""

    __tablename__ = "audit_chain_heads"

    chain_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))


class EmailOutbox(IdMixin, TimestampsMixin, Base):
    """A notification email to deliver; at most one per message."""

    __tablename__ = "email_outbox"
    __table_args__ = (
        UniqueConstraint("message_id"),
        CheckConstraint(one_of("status", OUTBOX_STATUSES), name="status"),
        Index("ix_email_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL")
    )
    # "message": a new message's notification (skipped once the message is read or gone);
    # "notice": a moderation notice, whose text is the email itself.
    kind: Mapped[str] = mapped_column(String(16), default="message", server_default="message")
    recipient_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]


class IdempotencyKey(IdMixin, CreatedMixin, Base):
    """A client's ``Idempotency-Key`` for a send, with the response it got."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        CheckConstraint(one_of("status", IDEMPOTENCY_STATUSES), name="status"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    locked_until: Mapped[datetime | None]
    response_status: Mapped[int | None]
    response_body: Mapped[dict[str, Any] | None] = mapped_column()
