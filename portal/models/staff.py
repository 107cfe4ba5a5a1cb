"""Staff accounts: separate from end users, argon2 password hashes."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, IdMixin, TimestampsMixin, one_of

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
