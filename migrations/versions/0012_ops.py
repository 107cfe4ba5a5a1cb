"""ops: indexes for the overview's trends (reports by the day they were made and decided)

The overview's charts read the last 90 days of flag reports by ``created_at`` (reports per day,
the queue's daily changes) and by ``decided_at`` (decisions per day, handling times per week);
without these each page view read the whole table.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_flag_reports_created_at", "flag_reports", ["created_at"])
    op.create_index("ix_flag_reports_decided_at", "flag_reports", ["decided_at"])


def downgrade() -> None:
    op.drop_index("ix_flag_reports_decided_at", table_name="flag_reports")
    op.drop_index("ix_flag_reports_created_at", table_name="flag_reports")
