"""Hot statements: SQLAlchemy Core statements compiled once and, on PostgreSQL, run on psycopg's
own connection.

A hot path's statement is a Core statement (not an ORM query: no identity map, no entity
loading), built once per shape and kept (``functools.cache`` or a module constant). Its SQL is
compiled once per dialect, through SQLAlchemy's public compiler API (``statement.compile``); a
call fills in the parameters (with the column types' own bind processing and Python-side column
defaults) and runs the SQL on the session's connection, reached through SQLAlchemy's public
``get_raw_connection``: in the session's transaction (begun if need be), or by itself on a request
session in autocommit. psycopg prepares it server-side after a few runs (``prepare_threshold``)
and builds the rows (named tuples: attribute access by column name, like SQLAlchemy's Row).
SQLAlchemy's execution context and result wrapping, which cost more than the round trip on this
service's short statements (issue 16's bench), are left out; what they would give is kept:

- every statement reaches the one statement hook (portal.database.add_statement_hook) and, with
  the engine's ``echo`` on (``PORTAL_DATABASE_ECHO``), the ``sqlalchemy.engine`` SQL log;
- errors are SQLAlchemy's (``DBAPIError.instance``), and a connection the server ended is
  invalidated (``AsyncConnection.invalidate``) so the pool replaces it and the 503 mapping sees
  the same error as from ``session.execute``.

On SQLite a statement runs through SQLAlchemy (``AsyncConnection.execute``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, cast

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import CompileError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select

from portal.database import in_autocommit, read_transaction, statement_hooks
from portal.models.base import python_default

# A SELECT, or an INSERT, UPDATE or DELETE (with RETURNING or not).
Statement = Select[Any] | UpdateBase


class Prepared:
    """A Core statement and the names of the parameters it binds."""

    __slots__ = ("_bind_names", "_compiled", "statement")
    _bind_names: frozenset[str]

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._bind_names = _checked_bind_names(statement)
        self._compiled: _Compiled | None = None

    async def all(self, session: AsyncSession, params: dict[str, Any] | None = None) -> list[Any]:
        """The rows (named tuples: attribute access by column name, as SQLAlchemy's Row; its
        Row on SQLite), in the session's transaction (begun if need be), or by itself on a
        request session in autocommit."""
        connection = await _connection(session)
        dialect = connection.dialect
        if dialect.name == "sqlite":
            result = await connection.execute(self.statement, self._own(params or {}))
            return list(result.all()) if result.returns_rows else []
        compiled = self._compiled
        if compiled is None or compiled.dialect is not dialect:
            compiled = self._compiled = _Compiled(self.statement, dialect)
        return await compiled.run(connection, params or {})

    async def all_standalone(
        self, session: AsyncSession, params: dict[str, Any] | None = None
    ) -> list[Any]:
        """The rows of a read that sees one snapshot by itself, outside any transaction the
        caller had (one it had is ended first): on a request session in autocommit one round
        trip with no transaction; elsewhere (SQLite, a session of the CLI or a test) in a short
        read transaction."""
        if in_autocommit(session) is not None and not session.in_transaction():
            return await self.all(session, params)
        async with read_transaction(session):
            return await self.all(session, params)

    async def first(self, session: AsyncSession, params: dict[str, Any] | None = None) -> Any:
        rows = await self.all(session, params)
        return rows[0] if rows else None

    async def one(self, session: AsyncSession, params: dict[str, Any] | None = None) -> Any:
        rows = await self.all(session, params)
        if len(rows) != 1:
            raise LookupError(f"expected one row, got {len(rows)}")
        return rows[0]

    def _own(self, params: dict[str, Any]) -> dict[str, Any]:
        """Only the statement's own parameters: callers pass one dict to several statements,
        and SQLAlchemy takes any other key that names a column of an INSERT or UPDATE as one
        more column to set."""
        names = self._bind_names
        return {key: value for key, value in params.items() if key in names}


def _checked_bind_names(statement: Statement) -> frozenset[str]:
    """The names of the parameters the statement binds, after checking (once, when it is built)
    that SQLAlchemy runs it as written: no parameter of its own names a column that an INSERT
    or UPDATE in it would then set too, and no column default is left for nobody to fill
    (SQLAlchemy computes none for DML in a CTE: an ``onupdate`` there would write NULL)."""
    compiled = statement.compile()
    names = frozenset(compiled.binds)
    try:
        as_columns = statement.compile(column_keys=list(names)).string
    except CompileError:
        as_columns = None
    if as_columns != compiled.string:
        raise TypeError(
            f"Prepared: a parameter of {sorted(names)} names a column SQLAlchemy would also "
            "set; rename it"
        )
    defaults = {c.key for c in compiled.insert_prefetch} | {c.key for c in compiled.update_prefetch}
    unfilled = [
        name
        for name, bind in compiled.binds.items()
        if not bind.required and bind.value is None and bind.callable is None
        if name not in defaults
    ]
    if unfilled:
        raise TypeError(f"Prepared cannot fill {unfilled}: give those columns values")
    return names


async def _connection(session: AsyncSession) -> AsyncConnection:
    """The connection to run on: a request session's own in autocommit when it has no
    transaction (one statement sees one snapshot); otherwise the session's transaction is begun
    or joined, exactly as ``session.execute`` would."""
    autocommit = in_autocommit(session)
    if autocommit is not None and not session.in_transaction():
        return autocommit
    return await session.connection()


_sql_log = logging.getLogger("sqlalchemy.engine.Engine")


class _Compiled:
    """The statement compiled for one dialect (public API: ``statement.compile``): its SQL (the
    psycopg dialect's ``%(name)s`` style), how to fill its parameters, and the run."""

    __slots__ = ("_bind_processors", "_compiled", "_defaults", "dialect", "sql")

    def __init__(self, statement: Statement, dialect: Dialect) -> None:
        # No column keys from the parameters: _checked_bind_names made sure none would add one.
        compiled = statement.compile(dialect=dialect)
        if compiled.positional or any(bind.expanding for bind in compiled.binds.values()):
            raise TypeError("Prepared takes statements with named, non-expanding parameters")
        self.dialect = dialect
        self._compiled = compiled
        self.sql: str = compiled.string
        # Column defaults computed in Python per execution (an ``onupdate=utcnow``, say), as
        # SQLAlchemy's execution context would.
        defaults = [(c.key, c.default) for c in compiled.insert_prefetch]
        defaults += [(c.key, c.onupdate) for c in compiled.update_prefetch]
        self._defaults: list[tuple[str, Callable[[], Any]]] = [
            (key, functools.partial(python_default, default)) for key, default in defaults
        ]
        # The column types' own conversions (a dict to psycopg's Jsonb, say), from their public
        # TypeEngine.bind_processor.
        processors = [
            (name, bind.type.dialect_impl(dialect).bind_processor(dialect))
            for bind, name in compiled.bind_names.items()
        ]
        self._bind_processors: list[tuple[str, Callable[[Any], Any]]] = [
            (name, processor) for name, processor in processors if processor is not None
        ]

    def parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        if self._defaults:
            params = {**params, **{key: default() for key, default in self._defaults}}
        values = cast("dict[str, Any]", self._compiled.construct_params(params))
        for name, processor in self._bind_processors:
            values[name] = processor(values[name])
        return values

    async def run(self, connection: AsyncConnection, params: dict[str, Any]) -> list[Any]:
        values = self.parameters(params)
        sql = self.sql
        hooks = statement_hooks(connection)
        if hooks:
            for hook in hooks:
                hook(sql, values)
        if connection.sync_engine.echo:
            _log_statement(sql, values)
        # The pooled connection: Connection.connection while it is valid (no I/O then), else
        # get_raw_connection, which reconnects an invalidated one as SQLAlchemy would.
        sync = connection.sync_connection
        if sync is not None and not sync.invalidated:
            fairy = sync.connection
        else:
            fairy = await connection.get_raw_connection()
        raw = cast("psycopg.AsyncConnection[Any]", fairy.driver_connection)
        try:
            async with raw.cursor(row_factory=namedtuple_row) as cursor:
                await cursor.execute(sql, values)
                return await cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as exc:
            gone = raw.closed or raw.broken  # what the psycopg dialect's is_disconnect asks
            if gone:
                await connection.invalidate(exc)
            raise DBAPIError.instance(
                sql, values, exc, psycopg.Error, connection_invalidated=gone, dialect=self.dialect
            ) from exc


def _log_statement(sql: str, values: dict[str, Any]) -> None:
    """The statement in SQLAlchemy's SQL log, as its echo would put it (echo logs whatever the
    logger's level, through the logger's handlers)."""
    for message, args in ((sql, ()), ("[prepared] %r", (values,))):
        record = _sql_log.makeRecord(_sql_log.name, logging.INFO, __file__, 0, message, args, None)
        _sql_log.handle(record)
