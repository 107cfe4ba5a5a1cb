"""Migration 0003 turns one rate-limit-violation row per refused attempt into one row per user
and window with a counter, keeping what staff need, and unwinds to the old shape."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from portal import migrate
from portal.database import create_engine
from portal.schema_check import schema_differences

REVISION = "0003"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
DAY = 86400


def _previous_revision() -> str:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    down = script.get_revision(REVISION).down_revision
    assert isinstance(down, str)
    return down


_users = sa.table(
    "users",
    sa.column("id", GUID(length=16)),
    sa.column("email", sa.String),
    sa.column("display_name", sa.String),
    sa.column("role", sa.String),
    sa.column("is_suspended", sa.Boolean),
    sa.column("created_at", DateTimeUTC(timezone=True)),
    sa.column("updated_at", DateTimeUTC(timezone=True)),
)
_old_violations = sa.table(
    "rate_limit_violations",
    sa.column("id", GUID(length=16)),
    sa.column("user_id", GUID(length=16)),
    sa.column("occurred_at", DateTimeUTC(timezone=True)),
    sa.column("count_in_window", sa.Integer),
    sa.column("limit", sa.Integer),
    sa.column("window_seconds", sa.Integer),
    sa.column("status", sa.String),
    sa.column("reviewed_at", DateTimeUTC(timezone=True)),
)


async def _run(url: str, work: Any) -> Any:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            return await work(connection)
    finally:
        await engine.dispose()


def _on(url: str, work: Any) -> Any:
    return asyncio.run(_run(url, work))


def _seed(ada: uuid.UUID, bob: uuid.UUID) -> Any:
    async def work(connection: AsyncConnection) -> None:
        for user_id, name in ((ada, "ada"), (bob, "bob")):
            await connection.execute(
                _users.insert().values(
                    id=user_id,
                    email=f"{name}@example.com",
                    display_name=name,
                    role="employer",
                    is_suspended=False,
                    created_at=T0,
                    updated_at=T0,
                )
            )
        rows = [
            # Ada: 3 attempts in one day, one reviewed; then 2 attempts two days later.
            (ada, T0, 10, "reviewed", T0 + timedelta(hours=5)),
            (ada, T0 + timedelta(hours=1), 10, "open", None),
            (ada, T0 + timedelta(hours=2), 11, "open", None),
            (ada, T0 + timedelta(days=2), 10, "open", None),
            (ada, T0 + timedelta(days=2, minutes=1), 10, "open", None),
            # Bob: one attempt, reviewed.
            (bob, T0, 10, "reviewed", T0 + timedelta(hours=1)),
        ]
        for user_id, at, count, status, reviewed_at in rows:
            await connection.execute(
                _old_violations.insert().values(
                    id=uuid.uuid4(),
                    user_id=user_id,
                    occurred_at=at,
                    count_in_window=count,
                    limit=10,
                    window_seconds=DAY,
                    status=status,
                    reviewed_at=reviewed_at,
                )
            )

    return work


async def _violations(connection: AsyncConnection) -> list[Any]:
    return list(
        (
            await connection.execute(
                sa.text(
                    "SELECT user_id, attempts, first_attempt_at, last_attempt_at, "
                    "count_in_window, status FROM rate_limit_violations"
                ).columns(
                    user_id=GUID(length=16),
                    first_attempt_at=DateTimeUTC(timezone=True),
                    last_attempt_at=DateTimeUTC(timezone=True),
                )
            )
        ).all()
    )


async def _count(connection: AsyncConnection) -> int:
    return int(
        (await connection.execute(sa.text("SELECT count(*) FROM rate_limit_violations"))).scalar()
        or 0
    )


def test_existing_rows_become_one_counted_row_per_user_and_window(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url, _previous_revision())
    ada, bob = uuid.uuid4(), uuid.uuid4()
    _on(url, _seed(ada, bob))

    migrate.upgrade(url, REVISION)

    rows = _on(url, _violations)
    assert len(rows) == 3
    names = {ada: "ada", bob: "bob"}
    summary = sorted(
        (
            names[row.user_id],
            row.attempts,
            row.first_attempt_at,
            row.last_attempt_at,
            row.count_in_window,
            row.status,
        )
        for row in rows
    )
    assert summary == [
        ("ada", 2, T0 + timedelta(days=2), T0 + timedelta(days=2, minutes=1), 10, "open"),
        ("ada", 3, T0, T0 + timedelta(hours=2), 11, "open"),
        ("bob", 1, T0, T0, 10, "reviewed"),
    ]

    migrate.downgrade(url, _previous_revision())
    assert _on(url, _count) == 3
    migrate.upgrade(url, "head")
    assert _on(url, lambda c: c.run_sync(schema_differences)) == []
