"""The SQL statements an engine sends while a block runs, for tests that count or inspect them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """On PostgreSQL they are taken where every statement goes, psycopg's cursor (the pool's
    pings skip SQLAlchemy's events); psycopg's own BEGIN and COMMIT are not counted. On SQLite, from
    SQLAlchemy's cursor events (its BEGIN included)."""
    seen: list[str] = []
    sync_engine = engine.sync_engine
    if sync_engine.dialect.name == "postgresql":
        execute = psycopg.AsyncCursor.execute

        async def traced(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(str(query))
            return await execute(cursor, query, *args, **kwargs)

        psycopg.AsyncCursor.execute = traced  # type: ignore[method-assign]
        try:
            yield seen
        finally:
            psycopg.AsyncCursor.execute = execute  # type: ignore[method-assign]
        return

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
