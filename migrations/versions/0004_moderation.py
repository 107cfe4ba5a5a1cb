"""moderation: staff sign-in failures for the throttle, an index of removed messages by sender

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_sign_in_failures",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column(
            "occurred_at",
            advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
            nullable=False,
        ),
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sign_in_failures")),
    )
    with op.batch_alter_table("staff_sign_in_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_staff_sign_in_failures_email_occurred_at", ["email", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_staff_sign_in_failures_address_occurred_at",
            ["address", "occurred_at"],
            unique=False,
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_removed_sender_id",
            ["sender_id"],
            unique=False,
            sqlite_where=sa.text("is_removed = 1"),
            postgresql_where=sa.text("is_removed = true"),
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_removed_sender_id")
    with op.batch_alter_table("staff_sign_in_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_sign_in_failures_address_occurred_at")
        batch_op.drop_index("ix_staff_sign_in_failures_email_occurred_at")
    op.drop_table("staff_sign_in_failures")
