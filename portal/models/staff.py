"""Staff accounts: separate from end users, argon2 password hashes."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, IdMixin, TimestampsMixin, one_of, utcnow

STAFF_ROLES: Final = ("moderator", "compliance", "admin")


class StaffUser(IdMixin, TimestampsMixin, Base):
    __tablename__ = "staff_users"
    __table_args__ = (CheckConstraint(one_of("role", STAFF_ROLES), name="role"),)

    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]


class StaffSignInFailure(IdMixin, Base):
    """A failed staff sign-in, counted by the sign-in throttle (per account and per address).

    Kept in the database so that every app process sees the same count; the audit log has the
    matching ``staff.sign_in_failed`` event.
    """

    __tablename__ = "staff_sign_in_failures"
    __table_args__ = (
        Index("ix_staff_sign_in_failures_email_occurred_at", "email", "occurred_at"),
        Index("ix_staff_sign_in_failures_address_occurred_at", "address", "occurred_at"),
    )

    email: Mapped[str] = mapped_column(String(320))
    address: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
