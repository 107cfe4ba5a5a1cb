"""Staff accounts: separate from end users, argon2 password hashes."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, IdMixin, TimestampsMixin, one_of

STAFF_ROLES: Final = ("moderator", "compliance", "admin")
SIGN_IN_SCOPES: Final = ("account_address", "account", "address")


class StaffUser(IdMixin, TimestampsMixin, Base):
    __tablename__ = "staff_users"
    __table_args__ = (CheckConstraint(one_of("role", STAFF_ROLES), name="role"),)

    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    # Sessions carry the epoch they began in; deactivation and sign-out move it on, which ends
    # every session issued before, copied cookies included, for good (reactivation does not).
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")


class StaffSignInWindow(IdMixin, Base):
    """Failed staff sign-ins, counted in one row per scope, key and fixed window.

    ``scope`` says what is counted: ``account_address`` (one account from one address: the
    lockout a person notices), ``account`` (one account from every address: a ceiling against
    guessing from many addresses) or ``address`` (one address against every account); the key
    column a scope does not use is ''. ``failures`` counts the password checks that failed or
    are being made (a check is counted before it starts, so concurrent attempts cannot all be
    evaluated; a success takes its count back), ``refused`` the attempts turned away without a
    check. ``locked_until`` is set, and one ``staff.sign_in_locked`` event recorded, when the
    row reaches its limit: anonymous failures never write to the audit chain one by one.
    """

    __tablename__ = "staff_sign_in_windows"
    __table_args__ = (
        UniqueConstraint("scope", "email", "address", "window_started_at"),
        CheckConstraint(one_of("scope", SIGN_IN_SCOPES), name="scope"),
        CheckConstraint("failures >= 0 AND refused >= 0", name="counts"),
        Index("ix_staff_sign_in_windows_email_window_started_at", "email", "window_started_at"),
        Index("ix_staff_sign_in_windows_address_window_started_at", "address", "window_started_at"),
    )

    scope: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(320))
    address: Mapped[str] = mapped_column(String(64))
    window_started_at: Mapped[datetime]
    failures: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    first_attempt_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
