"""The platform's people and job applications, as this service knows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, IdMixin, TimestampsMixin, one_of

USER_ROLES: Final = ("employer", "candidate")
APPLICATION_STATUSES: Final = (
    "submitted",
    "reviewing",
    "interviewing",
    "offered",
    "hired",
    "rejected",
    "withdrawn",
)


class User(IdMixin, TimestampsMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(one_of("role", USER_ROLES), name="role"),)

    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    last_active_at: Mapped[datetime | None]
    is_suspended: Mapped[bool] = mapped_column(default=False)
    suspended_at: Mapped[datetime | None]
    suspended_until: Mapped[datetime | None]
    suspended_reason: Mapped[str | None] = mapped_column(Text)


class Application(IdMixin, TimestampsMixin, Base):
    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint(one_of("status", APPLICATION_STATUSES), name="status"),
        Index("ix_applications_employer_id_requisition_id", "employer_id", "requisition_id"),
    )

    employer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    candidate_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    job_title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(32), default="submitted")
    # The platform's id for the job: a legal hold on it covers every candidate for the position.
    requisition_id: Mapped[str | None] = mapped_column(String(200))
    # When the status was last set (created or changed): the last personnel action, which the
    # retention period counts from. Nullable only because SQLite cannot add a NOT NULL column
    # without rebuilding the table (migration 0007 dated older rows by their last update).
    status_changed_at: Mapped[datetime | None]
