"""search: a full-text index on message bodies (PostgreSQL)

Staff search message text with ``to_tsvector('simple', body) @@ to_tsquery('simple', ...)``;
this GIN index answers it without reading every message. 'simple' (no stemming, no stop words)
because messages are in many languages and moderators search for the words they saw. SQLite
searches with a plain LIKE and gets nothing here.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_messages_body_search"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE INDEX {INDEX} ON messages USING gin (to_tsvector('simple'::regconfig, body))"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
