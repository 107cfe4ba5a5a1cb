"""thread pages by index: messages by (thread_id, created_at, id), threads by participant and
last activity

A thread's page (first, last, or after a cursor) and an inbox page are read in order straight
from these indexes instead of sorting every message of the thread or every thread of the user.
Plain CREATE/DROP INDEX: no table is rebuilt, so SQLite keeps its audit triggers.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_thread_id_created_at_id", "messages", ["thread_id", "created_at", "id"]
    )
    op.drop_index("ix_messages_thread_id", table_name="messages")
    op.create_index(
        "ix_message_threads_employer_id_last_message_at",
        "message_threads",
        ["employer_id", "last_message_at"],
    )
    op.drop_index("ix_message_threads_employer_id", table_name="message_threads")
    op.create_index(
        "ix_message_threads_candidate_id_last_message_at",
        "message_threads",
        ["candidate_id", "last_message_at"],
    )
    op.drop_index("ix_message_threads_candidate_id", table_name="message_threads")


def downgrade() -> None:
    op.create_index("ix_message_threads_candidate_id", "message_threads", ["candidate_id"])
    op.drop_index("ix_message_threads_candidate_id_last_message_at", table_name="message_threads")
    op.create_index("ix_message_threads_employer_id", "message_threads", ["employer_id"])
    op.drop_index("ix_message_threads_employer_id_last_message_at", table_name="message_threads")
    op.create_index("ix_messages_thread_id", "messages", ["thread_id"])
    op.drop_index("ix_messages_thread_id_created_at_id", table_name="messages")
