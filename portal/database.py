"""Engines and sessions for SQLite (embedded default) and PostgreSQL (psycopg 3).

SQLite has no ``SELECT … FOR UPDATE``: a transaction that must serialise with other writers asks
for it with :func:`write_transaction`, which starts it with ``BEGIN IMMEDIATE``. On PostgreSQL the
same call is a plain transaction and callers lock rows themselves.

The lifecycle, in one place each:

- A request has one session (:func:`request_session`), opened on its first use on one pooled
  connection and closed by the app's request-session middleware (server/request_session.py) as
  the response starts; the API, the /mod pages and the admin panels (through
  :data:`request_sessions`) share it. Handlers neither commit nor roll back.
- Services own their transactions: :func:`write_transaction` is the one way to write
  (:func:`read_transaction` and :func:`snapshot_transaction` are its read-only kin). Each commits
  at the end of its block and rolls back on any error; a refusal (PortalError) rolls back too.
- What others should learn of a change is queued with :func:`on_commit` and runs once the
  transaction has committed, never after a rollback.
"""

from __future__ import annotations

import asyncio
import logging
import select as _select
import sqlite3
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
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
from sqlalchemy.orm import Session

from portal.errors import NotFound, PortalError
from portal.settings import UNBOUNDED, DatabaseBounds, Settings, get_settings

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
    _SQLITE_WRITERS[engine.sync_engine] = _SqliteWriters(busy_timeout_ms / 1000)

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


_SETTINGS = "portal.settings"  # the key of the app's settings in a session's info


def create_sessionmaker(
    engine: AsyncEngine, settings: Settings | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine``; ``settings`` (the app's) ride along in each session's ``info``
    for the services that write email (see :func:`session_settings`)."""
    info = {_SETTINGS: settings} if settings is not None else None
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)


def session_settings(session: AsyncSession) -> Settings:
    """The settings of the app whose session this is; the environment's outside an app."""
    settings = session.info.get(_SETTINGS)
    return settings if isinstance(settings, Settings) else get_settings()


# The ASGI scope key of a request's session (see open_request_session).
REQUEST_SESSION = "portal.db_session"
AUTOCOMMIT = "AUTOCOMMIT"


async def open_request_session(
    scope: dict[str, Any], engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncSession:
    """The request's one session, on one pooled connection held until close_request_session.

    Whoever needs the database first in a request opens it (the API's auth middleware, the staff
    sign-in check, a handler's ``db_session``, an admin panel); all get the same session, so a
    request checks out one connection.

    On PostgreSQL the connection runs in autocommit between transactions: a read of one
    statement is one round trip, with no BEGIN and COMMIT around it (a single statement sees one
    snapshot anyway). :func:`write_transaction` (and the read transactions) open real ones.
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


@dataclass(frozen=True)
class _Request:
    scope: dict[str, Any]
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # Litestar resolves a level of dependencies concurrently: two first uses must not open two
    opening: asyncio.Lock = field(default_factory=asyncio.Lock)


# Where a service that runs more than one transaction of its own (an export: its snapshot, then
# its record) gets its session: a sessionmaker, or request_sessions in a request.
SessionSource = Callable[[], AbstractAsyncContextManager[AsyncSession]]

_current_request: ContextVar[_Request | None] = ContextVar("portal_request", default=None)


@asynccontextmanager
async def request_session_scope(
    scope: dict[str, Any], engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[None]:
    """The one place a request's session lives and ends (the app's request-session middleware
    runs each request in it): :func:`request_session` inside opens it on first use; it is
    closed when the block ends, if the middleware has not closed it before."""
    token = _current_request.set(_Request(scope, engine, sessionmaker))
    try:
        yield
    finally:
        _current_request.reset(token)
        await close_request_session(scope)


async def request_session() -> AsyncSession:
    """The current request's session (see :func:`request_session_scope`), opened on first use."""
    current = _current_request.get()
    if current is None:
        raise RuntimeError("no request is running: the request-session middleware is missing")
    session = current.scope.get(REQUEST_SESSION)
    if session is not None:
        return session  # type: ignore[no-any-return]
    async with current.opening:
        return await open_request_session(current.scope, current.engine, current.sessionmaker)


class RequestSessions:
    """The request's session, shaped like a sessionmaker for code written against one (SQLAdmin's
    views, the exports that run a snapshot and then record themselves): ``async with
    request_sessions() as session`` lends the request's session and leaves it open; a
    transaction the borrower left begun (a plain read) ends when the block does."""

    class_ = AsyncSession  # what SQLAdmin looks at to choose its async code path

    def configure(self, **_options: Any) -> None:
        """SQLAdmin configures the maker it is given; the request session is configured."""

    def __call__(self, **_options: Any) -> AbstractAsyncContextManager[AsyncSession]:
        return self._lend()

    @asynccontextmanager
    async def _lend(self) -> AsyncIterator[AsyncSession]:
        session = await request_session()
        try:
            yield session
        finally:
            if session.in_transaction():
                if _nothing_pending(session):
                    await session.commit()
                else:
                    await session.rollback()


request_sessions = RequestSessions()


# --- statement hooks ----------------------------------------------------------------------------
#
# One hook sees every statement an engine runs, whichever way it went: SQLAlchemy's own (through
# its ``before_cursor_execute`` event) and portal.prepared's hot statements, which run on
# psycopg's connection past SQLAlchemy's execution machinery and call the hooks themselves.

StatementHook = Callable[[str, Any], None]
_statement_hooks: dict[int, list[StatementHook]] = {}


def add_statement_hook(engine: AsyncEngine, hook: StatementHook) -> Callable[[], None]:
    """Calls ``hook(sql, params)`` before each statement ``engine`` runs (for tracing and
    counting); returns what removes it."""
    sync_engine = engine.sync_engine

    def on_cursor_execute(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any
    ) -> None:
        hook(statement, parameters)

    event.listen(sync_engine, "before_cursor_execute", on_cursor_execute)
    _statement_hooks.setdefault(id(sync_engine), []).append(hook)

    def remove() -> None:
        event.remove(sync_engine, "before_cursor_execute", on_cursor_execute)
        hooks = _statement_hooks.get(id(sync_engine), [])
        hooks.remove(hook)
        if not hooks:
            _statement_hooks.pop(id(sync_engine), None)

    return remove


def statement_hooks(connection: AsyncConnection) -> list[StatementHook] | None:
    """The hooks of the connection's engine, for a statement run past SQLAlchemy's execution."""
    return _statement_hooks.get(id(connection.sync_engine))


def is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _nothing_pending(session: AsyncSession) -> bool:
    return not (
        session.new or session.deleted or any(session.is_modified(o) for o in session.dirty)
    )


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


# --- transactions -------------------------------------------------------------------------------
#
# Every transaction a service opens is one of the three below, all run by _transaction: it ends a
# transaction the session began on its own for earlier reads, takes the request connection out of
# autocommit for its duration (and puts it back), commits when the block ends and rolls back on
# any error, a refusal (PortalError) included: a refused write writes nothing. A refusal that must
# leave a trace (a rate-limit violation, a failed sign-in) is returned from the block, or recorded
# in a write transaction of its own, and raised after it. Whatever others should hear of the
# change (an email, an event) is queued with on_commit and runs once the transaction commits.

_AFTER_COMMIT = "portal.after_commit"
_log = logging.getLogger(__name__)


def on_commit(session: AsyncSession, callback: Callable[[], object]) -> None:
    """Runs ``callback`` once the session's current (outermost) transaction commits, never if it
    rolls back (Zulip's ``send_event_on_commit``, Django's ``on_commit``): for what others should
    learn of a change (an email notification, a real-time event), which must not happen for a
    change that is then undone. Outside a transaction it runs at once. Callbacks are short and
    synchronous (they hand work on, e.g. to a queue or a task); one that raises is logged and the
    others still run."""
    if not session.in_transaction():
        _run_callbacks([callback])
        return
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _run_callbacks(callbacks: list[Callable[[], object]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:
            _log.exception("an after-commit callback failed")


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_FLUSHED, None)
    callbacks = session.info.pop(_AFTER_COMMIT, None)
    if callbacks:
        _run_callbacks(callbacks)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_FLUSHED, None)
    session.info.pop(_AFTER_COMMIT, None)


_FLUSHED = "portal.flushed"


@event.listens_for(Session, "after_flush")
def _remember_flushed(session: Session, _context: Any) -> None:
    flushed: set[int] = session.info.setdefault(_FLUSHED, set())
    flushed.update(id(obj) for obj in (*session.new, *session.dirty, *session.deleted))


def _keep_what_was_only_read(session: AsyncSession) -> None:
    """Before a refusal's rollback: the objects the transaction did not change leave the session
    as they are, so that the caller (the signed-in staff member, the page that shows the refusal)
    can still read them; a rollback would expire them, and an expired object cannot be read
    without a query (in async code not at all). What the transaction changed is rolled back and
    expired as usual."""
    changed = {id(obj) for obj in (*session.new, *session.dirty, *session.deleted)}
    changed.update(session.info.get(_FLUSHED, ()))
    for obj in list(session.identity_map.values()):
        if id(obj) not in changed:
            session.expunge(obj)


@dataclass
class _SqliteWriters:
    """The turn of this process's writers of one SQLite database. SQLite lets one writer in at a
    time and makes the others poll (its busy handler sleeps up to 100 ms between tries), so
    writers of the same process that queued on the file would mostly sleep; they queue here
    instead and enter in turn. The wait is bounded by the busy timeout, like SQLite's own, and
    ends in the same error ("database is locked": a 503). Writers of other processes still meet
    at the file's lock (so one that queued here may then wait up to the busy timeout again)."""

    busy_seconds: float
    loop: asyncio.AbstractEventLoop | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def for_loop(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a lock serves one event loop
            self.loop, self.lock = loop, asyncio.Lock()
        return self.lock


_SQLITE_WRITERS: weakref.WeakKeyDictionary[Any, _SqliteWriters] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def _sqlite_writer_turn(session: AsyncSession) -> AsyncIterator[None]:
    bind = session.get_bind()
    writers = _SQLITE_WRITERS.get(getattr(bind, "engine", bind))
    if writers is None:  # PostgreSQL, or an engine this module did not configure
        yield
        return
    lock = writers.for_loop()
    try:
        async with asyncio.timeout(writers.busy_seconds):
            await lock.acquire()
    except TimeoutError:
        raise OperationalError(
            "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
        ) from None
    try:
        yield
    finally:
        lock.release()


@asynccontextmanager
async def _transaction(
    session: AsyncSession, *, write: bool = False, snapshot: bool = False
) -> AsyncIterator[AsyncSession]:
    await end_read_snapshot(session)
    held = session.bind if isinstance(session.bind, AsyncConnection) else None
    autocommit = in_autocommit(session) is not None
    default_level: str | None = None
    if held is not None and held.sync_connection is not None:
        default_level = held.sync_connection.default_isolation_level
    if autocommit:
        assert held is not None
        await held.execution_options(isolation_level=default_level)
    postgres_snapshot = snapshot and session.get_bind().dialect.name == "postgresql"
    options: dict[str, Any] = {}
    if write:
        options[_IMMEDIATE] = True
    if postgres_snapshot:
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    failed = True
    try:
        async with session.begin():
            if options:
                await session.connection(execution_options=options)
            try:
                yield session
            except PortalError:
                _keep_what_was_only_read(session)
                raise
        failed = False
    finally:
        # A request session keeps its connection after this transaction: put it back as it was
        # (later reads must not take SQLite's write lock or run read-only or outside autocommit).
        restore: dict[str, Any] = {}
        if write:
            restore[_IMMEDIATE] = False
        if postgres_snapshot:
            restore.update(isolation_level=default_level, postgresql_readonly=False)
        if autocommit:
            restore["isolation_level"] = AUTOCOMMIT
        if held is not None and restore:
            try:
                await held.execution_options(**restore)
            except Exception:
                if not failed:
                    raise
                # the transaction's own error says more; the connection is discarded at close


@asynccontextmanager
async def write_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """The one way to write: a transaction that takes SQLite's write lock up front; commits
    (then runs its on_commit callbacks), or rolls back on any error, refusals included."""
    async with _sqlite_writer_turn(session), _transaction(session, write=True):
        yield session


@asynccontextmanager
async def read_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A short read-only transaction: one consistent snapshot over several statements, released
    at the end. A read of one statement needs none: on a request session it runs in
    autocommit."""
    async with _transaction(session):
        yield session


@asynccontextmanager
async def snapshot_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A read-only transaction in which every statement sees one snapshot of the database:
    REPEATABLE READ on PostgreSQL; on SQLite (WAL) a read transaction already sees one."""
    async with _transaction(session, snapshot=True):
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
