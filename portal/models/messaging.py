"""Threads, messages and the per-user blocklist (the original design's tables, names kept)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, CreatedMixin, IdMixin, TimestampsMixin, one_of, utcnow

BODY_FORMATS: Final = ("plain", "html")
MESSAGE_TYPES: Final = (
    "general",
    "interview_invitation",
    "interview_reschedule",
    "offer_letter",
    "rejection",
    "application_update",
    "other",
)
BLOCK_REASONS: Final = ("spam", "harassment", "inappropriate_content", "other")


class MessageThread(IdMixin, TimestampsMixin, Base):
    __tablename__ = "message_threads"
    __table_args__ = (
        # At most one live thread per (employer, candidate, application-or-none). Two partial
        # indexes, because NULLs never collide in a unique index on either backend.
        Index(
            "uq_message_threads_live_with_application",
            "employer_id",
            "candidate_id",
            "application_id",
            unique=True,
            sqlite_where=text("application_id IS NOT NULL AND is_deleted = 0"),
            postgresql_where=text("application_id IS NOT NULL AND is_deleted = false"),
        ),
        Index(
            "uq_message_threads_live_without_application",
            "employer_id",
            "candidate_id",
            unique=True,
            sqlite_where=text("application_id IS NULL AND is_deleted = 0"),
            postgresql_where=text("application_id IS NULL AND is_deleted = false"),
        ),
        # Each participant's inbox, newest activity first (migration 0006).
        Index("ix_message_threads_employer_id_last_message_at", "employer_id", "last_message_at"),
        Index("ix_message_threads_candidate_id_last_message_at", "candidate_id", "last_message_at"),
        CheckConstraint("unread_count_employer >= 0", name="unread_employer_nonnegative"),
        CheckConstraint("unread_count_candidate >= 0", name="unread_candidate_nonnegative"),
    )

    application_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("applications.id", ondelete="SET NULL"), index=True
    )
    employer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subject: Mapped[str | None] = mapped_column(String(500))
    last_message_at: Mapped[datetime | None] = mapped_column(index=True)
    unread_count_employer: Mapped[int] = mapped_column(default=0)
    unread_count_candidate: Mapped[int] = mapped_column(default=0)
    archived_by_employer: Mapped[bool] = mapped_column(default=False)
    archived_by_candidate: Mapped[bool] = mapped_column(default=False)
    # Deletion is per participant: each column is when that participant last deleted the thread;
    # their view then holds only messages sent after it. ``is_deleted``/``deleted_at`` are set
    # once both have deleted, and only then does the thread stop being the pair's live thread.
    deleted_by_employer_at: Mapped[datetime | None]
    deleted_by_candidate_at: Mapped[datetime | None]
    is_deleted: Mapped[bool] = mapped_column(default=False)
    deleted_at: Mapped[datetime | None]


class Message(IdMixin, TimestampsMixin, Base):
    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(one_of("body_format", BODY_FORMATS), name="body_format"),
        CheckConstraint(one_of("message_type", MESSAGE_TYPES), name="message_type"),
        Index("ix_messages_sender_id_created_at", "sender_id", "created_at"),
        # A thread's messages in page order (migration 0006).
        Index("ix_messages_thread_id_created_at_id", "thread_id", "created_at", "id"),
    )

    thread_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("message_threads.id", ondelete="CASCADE")
    )
    sender_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    body_format: Mapped[str] = mapped_column(String(8), default="plain")
    message_type: Mapped[str] = mapped_column(String(32), default="general")
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    is_read: Mapped[bool] = mapped_column(default=False, index=True)
    read_at: Mapped[datetime | None]
    email_sent: Mapped[bool] = mapped_column(default=False)
    email_sent_at: Mapped[datetime | None]
    email_opened: Mapped[bool] = mapped_column(default=False)
    email_opened_at: Mapped[datetime | None]
    is_flagged: Mapped[bool] = mapped_column(default=False)
    flagged_reason: Mapped[str | None] = mapped_column(String(64))
    flagged_at: Mapped[datetime | None]
    is_removed: Mapped[bool] = mapped_column(default=False)
    removed_at: Mapped[datetime | None]
    removed_reason: Mapped[str | None] = mapped_column(Text)
    is_deleted: Mapped[bool] = mapped_column(default=False)
    deleted_at: Mapped[datetime | None]
    # Set by the retention purge, which empties the body and the attachment metadata.
    purged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(index=True, default=utcnow)


class MessageBlock(IdMixin, CreatedMixin, Base):
    __tablename__ = "message_blocklist"
    __table_args__ = (
        UniqueConstraint("blocker_id", "blocked_id"),
        CheckConstraint(one_of("reason", BLOCK_REASONS), name="reason"),
    )

    blocker_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    blocked_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)


# Staff search of message text (portal.services.search; migration 0011): PostgreSQL only, where
# the search is full-text; SQLite searches with LIKE and has no such index.
Index(
    "ix_messages_body_search",
    func.to_tsvector(text("'simple'::regconfig"), Message.body),
    postgresql_using="gin",
).ddl_if(dialect="postgresql")


class InboxTotals(Base):
    """One participant's inbox figures over every thread in their view (migration 0015): kept
    by each write that changes a thread's visibility, archive flag or unread counter for them
    (portal.services.inbox_totals), so that the list page and the unread count read one row
    instead of aggregating the user's whole history. A user with no row has all zeros."""

    __tablename__ = "inbox_totals"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    inbox_threads: Mapped[int] = mapped_column(default=0)
    archived_threads: Mapped[int] = mapped_column(default=0)
    # threads with an unread counter above zero, in the inbox and in the archive
    unread_inbox_threads: Mapped[int] = mapped_column(default=0)
    unread_archived_threads: Mapped[int] = mapped_column(default=0)
    # the sum of the user's unread counters
    unread_messages: Mapped[int] = mapped_column(default=0)
