"""Engines and sessions for SQLite (embedded default) and PostgreSQL (psycopg 3).

SQLite has no ``SELECT … FOR UPDATE``: a transaction that must serialise with other writers asks
for it with :func:`write_transaction`, which starts it with ``BEGIN IMMEDIATE``. On PostgreSQL the
same call is a plain transaction and callers lock rows themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

T = TypeVar("T")

_IMMEDIATE = "portal_begin_immediate"
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy so that BEGIN can be chosen per transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(_IMMEDIATE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


async def end_read_snapshot(session: AsyncSession) -> None:
    """Ends a transaction the session began on its own for earlier reads.

    Committed rather than rolled back so that objects already loaded stay usable (sessions here
    do not expire on commit); a caller must not leave unflushed changes before a new transaction.
    """
    if session.in_transaction():
        await session.commit()


@asynccontextmanager
async def write_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """One transaction that takes SQLite's write lock up front; commits, or rolls back on error."""
    await end_read_snapshot(session)
    async with session.begin():
        await session.connection(execution_options={_IMMEDIATE: True})
        yield session


@asynccontextmanager
async def read_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A short read-only transaction: one consistent snapshot, released at the end."""
    await end_read_snapshot(session)
    async with session.begin():
        yield session


async def get_or_insert(
    session: AsyncSession,
    find: Callable[[], Awaitable[T | None]],
    make: Callable[[], T],
) -> tuple[T, bool]:
    """The row ``find`` returns, or ``make()``'s new row inserted; (row, created).

    The insert runs in a savepoint: when a concurrent transaction committed the same row first,
    the unique constraint refuses ours and the winner's row is returned instead. Call it inside
    a transaction; an IntegrityError that is not such a race propagates.
    """
    existing = await find()
    if existing is not None:
        return existing, False
    row = make()
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = await find()
        if existing is None:
            raise
        return existing, False
    return row, True
