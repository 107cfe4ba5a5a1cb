"""inbox_totals: each participant's inbox figures in one row, kept by the writes (issue 21)

Backfilled from the threads: every participant's threads in their view (not deleted for both,
and not deleted by them with nothing new since), counted in the inbox or the archive, with
their unread counters.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIGURES = (
    "inbox_threads",
    "archived_threads",
    "unread_inbox_threads",
    "unread_archived_threads",
    "unread_messages",
)


def _side(role: str) -> str:
    return (
        f"SELECT {role}_id AS user_id, archived_by_{role} AS archived,"
        f" unread_count_{role} AS unread FROM message_threads"
        f" WHERE is_deleted = false AND (deleted_by_{role}_at IS NULL"
        f" OR last_message_at > deleted_by_{role}_at)"
    )


# ``= false`` / ``= true`` read the same on both databases (SQLite's true and false are 1, 0).
BACKFILL = (
    f"INSERT INTO inbox_totals (user_id, {', '.join(FIGURES)})"
    " SELECT user_id,"
    " sum(CASE WHEN archived = false THEN 1 ELSE 0 END),"
    " sum(CASE WHEN archived = true THEN 1 ELSE 0 END),"
    " sum(CASE WHEN archived = false AND unread > 0 THEN 1 ELSE 0 END),"
    " sum(CASE WHEN archived = true AND unread > 0 THEN 1 ELSE 0 END),"
    " sum(unread)"
    f" FROM ({_side('employer')} UNION ALL {_side('candidate')}) AS sides"
    " GROUP BY user_id"
)


def upgrade() -> None:
    op.create_table(
        "inbox_totals",
        sa.Column("user_id", GUID(length=16), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in FIGURES),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_inbox_totals_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_inbox_totals")),
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("inbox_totals")
