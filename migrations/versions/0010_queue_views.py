"""queue views: a staff member's saved filter sets of the moderation queue

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "queue_views",
        sa.Column("staff_id", GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("query", sa.String(length=500), nullable=False),
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_queue_views_staff_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_views")),
        sa.UniqueConstraint("staff_id", "name", name=op.f("uq_queue_views_staff_id_name")),
    )
    with op.batch_alter_table("queue_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_queue_views_staff_id"), ["staff_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("queue_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_queue_views_staff_id"))
    op.drop_table("queue_views")
