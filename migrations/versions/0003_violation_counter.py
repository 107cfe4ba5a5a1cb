"""rate-limit violations: one row per user and window with a counter, not one per attempt

Existing rows are merged: a user's rows with the same limit and window, whose attempts fall
within ``window_seconds`` of the first one, become one row counting them. The downgrade keeps
one row per merged violation (at its first attempt); the per-attempt rows are not rebuilt.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 13:30:00
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "rate_limit_violations"


def _violations(*extra: sa.Column) -> sa.TableClause:
    return sa.table(
        TABLE,
        sa.column("id", GUID(length=16)),
        sa.column("user_id", GUID(length=16)),
        sa.column("count_in_window", sa.Integer()),
        sa.column("limit", sa.Integer()),
        sa.column("window_seconds", sa.Integer()),
        sa.column("status", sa.String(16)),
        sa.column("reviewed_by_id", GUID(length=16)),
        sa.column("reviewed_at", DateTimeUTC(timezone=True)),
        *extra,
    )


def _merge_attempts(connection: sa.Connection) -> None:
    table = _violations(
        sa.column("occurred_at", DateTimeUTC(timezone=True)),
        sa.column("first_attempt_at", DateTimeUTC(timezone=True)),
        sa.column("last_attempt_at", DateTimeUTC(timezone=True)),
        sa.column("attempts", sa.Integer()),
    )
    rows = connection.execute(
        sa.select(table).order_by(table.c.user_id, table.c.occurred_at, table.c.id)
    ).all()
    groups: list[list[sa.Row]] = []
    for row in rows:
        current = groups[-1] if groups else None
        if (
            current is not None
            and (current[0].user_id, current[0].limit, current[0].window_seconds)
            == (row.user_id, row.limit, row.window_seconds)
            and row.occurred_at < current[0].occurred_at + timedelta(seconds=row.window_seconds)
        ):
            current.append(row)
        else:
            groups.append([row])
    for group in groups:
        keep, merged = group[0], group[1:]
        reviewed = [row for row in group if row.reviewed_at is not None]
        latest_review = max(reviewed, key=lambda row: row.reviewed_at) if reviewed else None
        connection.execute(
            table.update()
            .where(table.c.id == keep.id)
            .values(
                first_attempt_at=keep.occurred_at,
                last_attempt_at=group[-1].occurred_at,
                attempts=len(group),
                count_in_window=max(row.count_in_window for row in group),
                status="open" if any(row.status == "open" for row in group) else "reviewed",
                reviewed_by_id=latest_review.reviewed_by_id if latest_review else None,
                reviewed_at=latest_review.reviewed_at if latest_review else None,
            )
        )
        if merged:
            connection.execute(table.delete().where(table.c.id.in_([row.id for row in merged])))


def upgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_attempt_at", DateTimeUTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_attempt_at", DateTimeUTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=True))

    _merge_attempts(op.get_bind())

    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index("ix_rate_limit_violations_user_id_occurred_at")
        batch_op.drop_index(batch_op.f("ix_rate_limit_violations_occurred_at"))
        batch_op.drop_column("occurred_at")
        batch_op.alter_column(
            "first_attempt_at", existing_type=DateTimeUTC(timezone=True), nullable=False
        )
        batch_op.alter_column(
            "last_attempt_at", existing_type=DateTimeUTC(timezone=True), nullable=False
        )
        batch_op.alter_column("attempts", existing_type=sa.Integer(), nullable=False)
        batch_op.create_check_constraint(
            batch_op.f("ck_rate_limit_violations_attempts_positive"), "attempts >= 1"
        )
        batch_op.create_index(
            batch_op.f("ix_rate_limit_violations_last_attempt_at"),
            ["last_attempt_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_rate_limit_violations_user_id_first_attempt_at",
            ["user_id", "first_attempt_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.add_column(sa.Column("occurred_at", DateTimeUTC(timezone=True), nullable=True))

    table = sa.table(
        TABLE,
        sa.column("occurred_at", DateTimeUTC(timezone=True)),
        sa.column("first_attempt_at", DateTimeUTC(timezone=True)),
    )
    op.get_bind().execute(table.update().values(occurred_at=table.c.first_attempt_at))

    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index("ix_rate_limit_violations_user_id_first_attempt_at")
        batch_op.drop_index(batch_op.f("ix_rate_limit_violations_last_attempt_at"))
        batch_op.drop_constraint(
            batch_op.f("ck_rate_limit_violations_attempts_positive"), type_="check"
        )
        batch_op.drop_column("attempts")
        batch_op.drop_column("last_attempt_at")
        batch_op.drop_column("first_attempt_at")
        batch_op.alter_column("occurred_at", existing_type=DateTimeUTC(timezone=True), nullable=False)
        batch_op.create_index(
            batch_op.f("ix_rate_limit_violations_occurred_at"), ["occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_rate_limit_violations_user_id_occurred_at", ["user_id", "occurred_at"], unique=False
        )
