"""Migration 0002 (deletion per participant) carries threads deleted before it over as deleted
by both participants, leaves live threads live, and unwinds."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic.script import ScriptDirectory

from portal import migrate
from portal.database import create_engine

WHEN = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

users = sa.table(
    "users",
    sa.column("id", GUID()),
    sa.column("email", sa.String()),
    sa.column("display_name", sa.String()),
    sa.column("role", sa.String()),
    sa.column("is_suspended", sa.Boolean()),
    sa.column("created_at", DateTimeUTC(timezone=True)),
    sa.column("updated_at", DateTimeUTC(timezone=True)),
)
THREAD_COLUMNS = [
    sa.column("id", GUID()),
    sa.column("employer_id", GUID()),
    sa.column("candidate_id", GUID()),
    sa.column("unread_count_employer", sa.Integer()),
    sa.column("unread_count_candidate", sa.Integer()),
    sa.column("archived_by_employer", sa.Boolean()),
    sa.column("archived_by_candidate", sa.Boolean()),
    sa.column("is_deleted", sa.Boolean()),
    sa.column("deleted_at", DateTimeUTC(timezone=True)),
    sa.column("created_at", DateTimeUTC(timezone=True)),
    sa.column("updated_at", DateTimeUTC(timezone=True)),
]
threads_before = sa.table("message_threads", *THREAD_COLUMNS)
threads_after = sa.table(
    "message_threads",
    *[sa.column(c.name, c.type) for c in THREAD_COLUMNS],
    sa.column("deleted_by_employer_at", DateTimeUTC(timezone=True)),
    sa.column("deleted_by_candidate_at", DateTimeUTC(timezone=True)),
)


async def _run(url: str, work: Any) -> Any:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            return await work(connection)
    finally:
        await engine.dispose()


def _seed(url: str) -> tuple[uuid.UUID, uuid.UUID]:
    employer, candidate = uuid.uuid4(), uuid.uuid4()
    deleted, live = uuid.uuid4(), uuid.uuid4()

    async def work(connection: Any) -> None:
        for user_id, role in ((employer, "employer"), (candidate, "candidate")):
            await connection.execute(
                users.insert().values(
                    id=user_id,
                    email=f"{role}@example.com",
                    display_name=role,
                    role=role,
                    is_suspended=False,
                    created_at=WHEN,
                    updated_at=WHEN,
                )
            )
        for thread_id, is_deleted in ((deleted, True), (live, False)):
            await connection.execute(
                threads_before.insert().values(
                    id=thread_id,
                    employer_id=employer,
                    candidate_id=candidate,
                    unread_count_employer=0,
                    unread_count_candidate=0,
                    archived_by_employer=False,
                    archived_by_candidate=False,
                    is_deleted=is_deleted,
                    deleted_at=WHEN + timedelta(hours=1) if is_deleted else None,
                    created_at=WHEN,
                    updated_at=WHEN,
                )
            )

    asyncio.run(_run(url, work))
    return deleted, live


def test_existing_deletions_become_deletions_by_both(empty_database_url: str) -> None:
    url = empty_database_url
    before = ScriptDirectory.from_config(migrate.alembic_config(url)).get_revision("0002")
    assert before is not None
    migrate.upgrade(url, str(before.down_revision))
    deleted, live = _seed(url)
    migrate.upgrade(url, "0002")

    async def read(connection: Any) -> dict[uuid.UUID, tuple[Any, ...]]:
        rows = await connection.execute(
            sa.select(
                threads_after.c.id,
                threads_after.c.is_deleted,
                threads_after.c.deleted_by_employer_at,
                threads_after.c.deleted_by_candidate_at,
            )
        )
        return {row[0]: tuple(row[1:]) for row in rows}

    after = asyncio.run(_run(url, read))
    assert after == {
        deleted: (True, WHEN + timedelta(hours=1), WHEN + timedelta(hours=1)),
        live: (False, None, None),
    }

    migrate.downgrade(url, str(before.down_revision))

    async def columns(connection: Any) -> set[str]:
        return await connection.run_sync(
            lambda c: {col["name"] for col in sa.inspect(c).get_columns("message_threads")}
        )

    remaining = asyncio.run(_run(url, columns))
    assert "deleted_by_employer_at" not in remaining
    assert {"is_deleted", "deleted_at"} <= remaining

    async def still_there(connection: Any) -> int:
        return await connection.scalar(sa.select(sa.func.count()).select_from(threads_before))

    assert asyncio.run(_run(url, still_there)) == 2
