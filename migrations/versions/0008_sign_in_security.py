"""sign-in security: failed sign-ins counted per scope and window, a session epoch per staff account

``staff_sign_in_windows`` replaces ``staff_sign_in_failures`` (one row per failed attempt, each
with its own audit event): failures are now counted in one row per account and address, account,
or address, and fixed window, and only the start of a lockout is an audit event. The old rows
are not carried over (they only fed a 15-minute throttle; their events stay in the audit log).

``staff_users.session_epoch``: a session carries the epoch it began in; deactivation and
sign-out move it on, so no session issued before comes back (a reactivation included).

Revision ID: 0008
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WINDOWS = "staff_sign_in_windows"


def upgrade() -> None:
    op.create_table(
        WINDOWS,
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("window_started_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("first_attempt_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("last_attempt_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("locked_until", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("id", GUID(length=16), nullable=False),
        sa.CheckConstraint(
            "scope IN ('account_address', 'account', 'address')",
            name=op.f("ck_staff_sign_in_windows_scope"),
        ),
        sa.CheckConstraint(
            "failures >= 0 AND refused >= 0", name=op.f("ck_staff_sign_in_windows_counts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sign_in_windows")),
        sa.UniqueConstraint(
            "scope",
            "email",
            "address",
            "window_started_at",
            name=op.f("uq_staff_sign_in_windows_scope_email_address_window_started_at"),
        ),
    )
    with op.batch_alter_table(WINDOWS, schema=None) as batch_op:
        batch_op.create_index(
            "ix_staff_sign_in_windows_email_window_started_at",
            ["email", "window_started_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_staff_sign_in_windows_address_window_started_at",
            ["address", "window_started_at"],
            unique=False,
        )
    op.drop_index("ix_staff_sign_in_failures_address_occurred_at", "staff_sign_in_failures")
    op.drop_index("ix_staff_sign_in_failures_email_occurred_at", "staff_sign_in_failures")
    op.drop_table("staff_sign_in_failures")
    # ADD COLUMN with a constant default: no table rewrite on either database
    op.add_column(
        "staff_users",
        sa.Column("session_epoch", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
    op.create_table(
        "staff_sign_in_failures",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("id", GUID(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sign_in_failures")),
    )
    op.create_index(
        "ix_staff_sign_in_failures_email_occurred_at",
        "staff_sign_in_failures",
        ["email", "occurred_at"],
        unique=False,
    )
    op.create_index(
        "ix_staff_sign_in_failures_address_occurred_at",
        "staff_sign_in_failures",
        ["address", "occurred_at"],
        unique=False,
    )
    op.drop_table(WINDOWS)
