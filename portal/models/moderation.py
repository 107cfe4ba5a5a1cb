"""What the moderation queue works on: flag reports, rate-limit violations, moderator notes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, CreatedMixin, IdMixin, TimestampsMixin, one_of, utcnow
from portal.models.messaging import Message

FLAG_REASONS: Final = (
    "spam",
    "harassment",
    "inappropriate_content",
    "discrimination",
    "scam",
    "other",
)
FLAG_STATUSES: Final = ("open", "claimed", "escalated", "dismissed", "actioned")
VIOLATION_STATUSES: Final = ("open", "reviewed")


class FlagReport(IdMixin, TimestampsMixin, Base):
    """One reporter's report on one message; flagging again updates it."""

    __tablename__ = "flag_reports"
    __table_args__ = (
        UniqueConstraint("message_id", "reporter_id"),
        CheckConstraint(one_of("reason", FLAG_REASONS), name="reason"),
        CheckConstraint(one_of("status", FLAG_STATUSES), name="status"),
        Index("ix_flag_reports_status_created_at", "status", "created_at"),
        # the overview's trends read reports by the day they were made and decided (migration 0012)
        Index("ix_flag_reports_created_at", "created_at"),
        Index("ix_flag_reports_decided_at", "decided_at"),
    )

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    reporter_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    assigned_to_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]
    decision: Mapped[str | None] = mapped_column(String(32))
    # The decision (with its statement) that closed this report: the reporter's outcome.
    decision_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("moderation_decisions.id", ondelete="SET NULL"), index=True
    )
    # A notice that the content is illegal (DSA Art. 16): the law it breaks, and the reporter's
    # statement that the notice is made in good faith.
    legal_ground: Mapped[str | None] = mapped_column(Text)
    good_faith: Mapped[bool | None]


class RateLimitViolation(IdMixin, Base):
    """A user's refused sends in one window, kept for staff even though the sends changed nothing.

    One row per user and window, not per attempt: the first refused send opens it, and later ones
    within ``window_seconds`` of ``first_attempt_at`` count into it, so a flood of refused sends
    updates one row instead of writing thousands.
    """

    __tablename__ = "rate_limit_violations"
    __table_args__ = (
        CheckConstraint(one_of("status", VIOLATION_STATUSES), name="status"),
        CheckConstraint("attempts >= 1", name="attempts_positive"),
        Index("ix_rate_limit_violations_user_id_first_attempt_at", "user_id", "first_attempt_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    first_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(default=1)
    # Messages the user had sent in the window at the latest refused attempt.
    count_in_window: Mapped[int]
    limit: Mapped[int]
    window_seconds: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="open")
    reviewed_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None]


class ModeratorNote(IdMixin, CreatedMixin, Base):
    __tablename__ = "moderator_notes"

    author_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    flag_report_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("flag_reports.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(Text)


# The queue's priority counts each sender's removed messages on every render; this small partial
# index keeps that from scanning all messages. Declared here, with the moderation that needs it.
# Queries must say ``Message.is_removed == true()`` for PostgreSQL to match the predicate.
Index(
    "ix_messages_removed_sender_id",
    Message.sender_id,
    sqlite_where=Message.is_removed == true(),
    postgresql_where=Message.is_removed == true(),
)
