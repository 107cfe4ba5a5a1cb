"""per-participant thread deletion

Each participant deletes a thread for themselves: ``deleted_by_employer_at`` and
``deleted_by_candidate_at``. Threads deleted before this revision were deleted for both, so both
columns take their ``deleted_at``.

Downgrading drops the two columns: a thread deleted by one participant only is live again for
both (the old schema cannot say otherwise); the audit log still records who deleted it and when.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message_threads", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "deleted_by_employer_at",
                advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "deleted_by_candidate_at",
                advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
                nullable=True,
            )
        )
    threads = sa.table(
        "message_threads",
        sa.column("is_deleted", sa.Boolean()),
        sa.column("deleted_at"),
        sa.column("updated_at"),
        sa.column("deleted_by_employer_at"),
        sa.column("deleted_by_candidate_at"),
    )
    when = sa.func.coalesce(threads.c.deleted_at, threads.c.updated_at)
    op.execute(
        threads.update()
        .where(threads.c.is_deleted == sa.true())
        .values(deleted_by_employer_at=when, deleted_by_candidate_at=when)
    )


def downgrade() -> None:
    with op.batch_alter_table("message_threads", schema=None) as batch_op:
        batch_op.drop_column("deleted_by_candidate_at")
        batch_op.drop_column("deleted_by_employer_at")
