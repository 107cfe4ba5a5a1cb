"""Engines and sessions for SQLite (embedded default) and PostgreSQL (psycopg 3).

SQLite has no ``SELECT … FOR UPDATE``: a transaction that must serialise with other writers asks
for it with :func:`write_transaction`, which starts it with ``BEGIN IMMEDIATE``. On PostgreSQL the
same call is a plain transaction and callers lock rows themselves.
"""

from __future__ import annotations

import select as _select
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from portal.errors import NotFound
from portal.settings import UNBOUNDED, DatabaseBounds

T = TypeVar("T")

_IMMEDIATE = "portal_begin_immediate"
APPLICATION_NAME = "portal"


def create_engine(
    url: str,
    *,
    echo: bool = False,
    bounds: DatabaseBounds = UNBOUNDED,
) -> AsyncEngine:
    """An engine whose waits are bounded by ``bounds``.

    The default has no statement or lock bound, for migrations and one-off commands; the app
    passes the configured bounds so that a stuck database gives a prompt error, never a pile-up.
    """
    pool = {
        "pool_size": bounds.pool_size,
        "max_overflow": bounds.max_overflow,
        "pool_timeout": bounds.pool_timeout_ms / 1000,
    }
    if url.startswith("sqlite"):
        busy_seconds = bounds.sqlite_busy_timeout_ms / 1000
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": busy_seconds}, **pool)
        _configure_sqlite(engine, bounds.sqlite_busy_timeout_ms)
        return engine
    engine = create_async_engine(
        url, echo=echo, connect_args=_postgres_connect_args(url, bounds), **pool
    )
    event.listen(engine.sync_engine.pool, "checkout", _discard_if_ended_by_server)
    return engine


def _discard_if_ended_by_server(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """The pool's liveness check, without the round trip of ``pool_pre_ping``.

    An idle connection has nothing to read unless the server ended it (a restart, a terminated
    backend, an idle timeout): it then sent its last error and closed the socket. So a pooled
    connection whose socket is readable, or that psycopg already knows is closed, is replaced by
    a fresh one (DisconnectionError makes the pool reconnect and retry the checkout).
    """
    connection = record.driver_connection
    if connection is None or connection.closed or connection.broken:
        raise DisconnectionError("the pooled connection is closed")
    poller = _select.poll()
    poller.register(connection.fileno(), _select.POLLIN | _select.POLLERR | _select.POLLHUP)
    if poller.poll(0):
        raise DisconnectionError("the server ended the pooled connection")


def _postgres_connect_args(url: str, bounds: DatabaseBounds) -> dict[str, Any]:
    """Connection parameters that set the bounds in the session's startup packet (no extra
    round-trip), keeping whatever the URL itself says."""
    query = make_url(url).query
    options = [
        f"-c statement_timeout={bounds.statement_timeout_ms}",
        f"-c lock_timeout={bounds.lock_timeout_ms}",
        f"-c idle_in_transaction_session_timeout={bounds.idle_in_transaction_timeout_ms}",
    ]
    if query.get("options"):
        options.insert(0, str(query["options"]))
    args: dict[str, Any] = {"options": " ".join(options)}
    if "connect_timeout" not in query:
        args["connect_timeout"] = bounds.connect_timeout_seconds
    if "application_name" not in query:
        args["application_name"] = APPLICATION_NAME
    return args


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy so that BEGIN can be chosen per transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(_IMMEDIATE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


# Retry-After for a database that is there but busy (a lock or statement bound ran out, the pool
# was full), and for one that cannot be reached at all.
RETRY_AFTER_BUSY_SECONDS = 1
RETRY_AFTER_UNREACHABLE_SECONDS = 5
_BUSY_SQLSTATES = frozenset({"57014", "55P03", "40001", "40P01"})  # canceled, lock, serialization


def unavailable_retry_after(exc: BaseException) -> int | None:
    """Seconds a client should wait when ``exc`` means the database is unavailable or too busy
    to answer in time (a 503), or None when it is some other failure.

    Connection failures, terminated sessions, statement and lock timeouts, a locked SQLite
    database and an exhausted pool count; constraint violations and bad SQL do not.
    """
    if isinstance(exc, PoolTimeout):
        return RETRY_AFTER_BUSY_SECONDS
    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _BUSY_SQLSTATES or "database is locked" in str(exc.orig):
        return RETRY_AFTER_BUSY_SECONDS
    return RETRY_AFTER_UNREACHABLE_SECONDS


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


# The ASGI scope key of a request's session (see open_request_session).
REQUEST_SESSION = "portal.db_session"
# Set by the API's auth middleware, which closes the request's session after the response: the
# handler's db_session is then the request session, opened on first use.
OWNS_REQUEST_SESSION = "portal.owns_db_session"
AUTOCOMMIT = "AUTOCOMMIT"


async def open_request_session(
    scope: dict[str, Any], engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncSession:
    """The request's one session, on one pooled connection held until close_request_session.

    Whoever needs the database first in an API request opens it (the auth middleware, or the
    handler's ``db_session``); both get the same session, so a request checks out one connection.

    On PostgreSQL the connection starts in autocommit: a read of one statement is one round trip,
    with no BEGIN and COMMIT around it (a single statement sees one snapshot anyway).
    :func:`read_transaction` and :func:`write_transaction` switch it to transactions first.
    """
    session: AsyncSession | None = scope.get(REQUEST_SESSION)
    if session is not None:
        return session
    connection = await engine.connect()
    if connection.dialect.name != "sqlite":
        try:
            await connection.execution_options(isolation_level=AUTOCOMMIT)
        except BaseException:
            await connection.close()
            raise
    session = sessionmaker(bind=connection)
    scope[REQUEST_SESSION] = session
    return session


async def close_request_session(scope: dict[str, Any]) -> None:
    """Closes the request's session, if it has one; its connection goes back to the pool with
    anything left uncommitted rolled back."""
    session: AsyncSession | None = scope.pop(REQUEST_SESSION, None)
    if session is None:
        return
    connection = session.bind
    try:
        await session.close()
    finally:
        assert isinstance(connection, AsyncConnection)
        await connection.close()


def is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


async def end_read_snapshot(session: AsyncSession) -> None:
    """Ends a transaction the session began on its own for earlier reads.

    Committed rather than rolled back so that objects already loaded stay usable (sessions here
    do not expire on commit); a caller must not leave unflushed changes before a new transaction.
    """
    if session.in_transaction():
        await session.commit()


def in_autocommit(session: AsyncSession) -> AsyncConnection | None:
    """The request session's connection when it is in autocommit, else None."""
    bind = session.bind
    if (
        isinstance(bind, AsyncConnection)
        and bind.sync_connection is not None
        and bind.sync_connection.get_execution_options().get("isolation_level") == AUTOCOMMIT
    ):
        return bind
    return None


async def _leave_autocommit(session: AsyncSession) -> None:
    """Puts a request session's autocommit connection back into transactions, for good: the
    rest of the request (rarely more than this one transaction) runs as before."""
    connection = in_autocommit(session)
    if connection is not None:
        assert connection.sync_connection is not None
        level = connection.sync_connection.default_isolation_level
        await connection.execution_options(isolation_level=level)


@asynccontextmanager
async def write_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """One transaction that takes SQLite's write lock up front; commits, or rolls back on error."""
    await end_read_snapshot(session)
    await _leave_autocommit(session)
    async with session.begin():
        connection = await session.connection(execution_options={_IMMEDIATE: True})
        try:
            yield session
        finally:
            # A session bound to one connection for the request keeps it (and its options in
            # place) after this transaction: later reads must not take the write lock.
            await connection.execution_options(**{_IMMEDIATE: False})


@asynccontextmanager
async def read_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A short read-only transaction: one consistent snapshot over several statements, released
    at the end. A read of one statement needs none: on a request session it runs in
    autocommit."""
    await end_read_snapshot(session)
    await _leave_autocommit(session)
    async with session.begin():
        yield session


@asynccontextmanager
async def snapshot_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A read-only transaction in which every statement sees one snapshot of the database:
    REPEATABLE READ on PostgreSQL; on SQLite (WAL) a read transaction already sees one."""
    await end_read_snapshot(session)
    await _leave_autocommit(session)
    async with session.begin():
        if session.get_bind().dialect.name == "postgresql":
            await session.connection(
                execution_options={
                    "isolation_level": "REPEATABLE READ",
                    "postgresql_readonly": True,
                }
            )
        yield session


async def lock_row(
    session: AsyncSession,
    model: type[T],
    row_id: Any,
    *,
    what: str,
    key_share: bool = False,
) -> T:
    """The row of ``model`` with primary key ``row_id``, read afresh and locked until the
    transaction ends, or NotFound ("{what} {row_id} does not exist").

    The lock is PostgreSQL's (SQLite renders none: its write transaction serialises writers
    already).
    ``key_share`` takes FOR NO KEY UPDATE, which leaves inserts of rows that reference this one
    (their key-share lock through the foreign key) free to go on.
    """
    # T is any mapped class, which the type system cannot say has a __mapper__
    query = select(model).where(model.__mapper__.primary_key[0] == row_id)  # type: ignore[attr-defined]
    query = query.execution_options(populate_existing=True).with_for_update(key_share=key_share)
    row = await session.scalar(query)
    if row is None:
        raise NotFound(f"{what} {row_id} does not exist")
    return row


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
