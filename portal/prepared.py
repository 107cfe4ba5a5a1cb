"""Hot statements: SQLAlchemy Core statements compiled once, run through SQLAlchemy's connection.

A hot path's statement run with ``session.execute`` is looked up in SQLAlchemy's compiled cache
(its cache key built from the whole statement), and its rows go through the ORM's result
machinery, on every call; on this service's short statements that costs more than the round
trip. A :class:`Prepared` statement is compiled once per dialect; a call fills in the
parameters (with the types' own bind processing and the columns' Python-side defaults) and
runs the SQL text with ``AsyncConnection.exec_driver_sql`` on the session's connection, so it is
one of SQLAlchemy's statements like any other:

- it is logged by ``echo`` (``PORTAL_DATABASE_ECHO``, the ``sqlalchemy.engine`` logger) and
  passes SQLAlchemy's ``before_cursor_execute``/``after_cursor_execute`` events (tracing);
- its errors are SQLAlchemy's (``DBAPIError`` and subclasses), and a connection the server
  ended is invalidated by SQLAlchemy's disconnect handling, so the pool replaces it;
- on PostgreSQL psycopg prepares it server-side after a few runs (``prepare_threshold``), as
  the same SQL text comes every time.

Only public APIs: the compiled statement's ``string``, ``construct_params``, ``binds``,
``bind_names``, ``insert_prefetch`` and ``update_prefetch``; ``TypeEngine.dialect_impl`` with
``bind_processor`` and ``result_processor``; the statement's ``selected_columns`` (a SELECT) or
``exported_columns`` (RETURNING).

On SQLite, whose driver takes positional parameters, a statement runs with
``AsyncConnection.execute`` (SQLAlchemy compiles it, from its cache).
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select

from portal.database import in_autocommit, read_transaction
from portal.models.base import python_default

# A SELECT, or an INSERT, UPDATE or DELETE (with RETURNING or not).
Statement = Select[Any] | UpdateBase


class Prepared:
    """A Core statement (not an ORM query) with its compiled form, made on first use."""

    __slots__ = ("_bind_names", "_compiled", "statement")

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None
        self._bind_names: frozenset[str] | None = None

    async def all(self, session: AsyncSession, params: dict[str, Any] | None = None) -> list[Any]:
        """The rows (attribute access by column name, like SQLAlchemy's Row), in the session's
        transaction (begun if need be), or on its own on a request session in autocommit."""
        params = params or {}
        connection = await _connection(session)
        if connection.dialect.name == "sqlite":
            # Only the statement's own parameters: SQLAlchemy would take any other key that
            # names a column of an INSERT or UPDATE as one more column to set.
            names = self._bind_names
            if names is None:
                names = self._bind_names = frozenset(self.statement.compile().binds)
            own = {key: value for key, value in params.items() if key in names}
            result = await connection.execute(self.statement, own)
            return list(result.all()) if result.returns_rows else []
        compiled = self._for(connection.dialect)
        result = await connection.exec_driver_sql(compiled.sql, compiled.parameters(params))
        return compiled.rows(result.all()) if result.returns_rows else []

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

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = _Compiled(self.statement, dialect)
        return compiled


async def _connection(session: AsyncSession) -> AsyncConnection:
    """The connection to run on: a request session's own in autocommit when it has no
    transaction (one statement sees one snapshot); otherwise the session's transaction is begun
    or joined, exactly as ``session.execute`` would."""
    autocommit = in_autocommit(session)
    if autocommit is not None and not session.in_transaction():
        return autocommit
    return await session.connection()


def _result_columns(statement: Statement) -> list[tuple[str, Any]]:
    """The names and types of the statement's result columns (none for DML without
    RETURNING)."""
    columns = (
        statement.selected_columns if isinstance(statement, Select) else statement.exported_columns
    )
    return [(str(key), column.type) for key, column in columns.items()]


class _Compiled:
    """One compiled form: the SQL, how to turn parameters into the driver's, how to build rows."""

    __slots__ = (
        "_bind_processors",
        "_compiled",
        "_defaults",
        "_make_row",
        "_result_processors",
        "sql",
    )

    def __init__(self, statement: Statement, dialect: Dialect) -> None:
        # No column keys from the parameters: an INSERT names its values (models.base.insert_row)
        # and an UPDATE its SET clause, so a parameter never adds a column by its name.
        compiled = statement.compile(dialect=dialect)
        if compiled.positional or any(b.expanding for b in compiled.binds.values()):
            raise TypeError("Prepared takes statements with named, non-expanding parameters")
        self._compiled = compiled
        self.sql: str = compiled.string
        # Column defaults computed in Python per execution (an ``onupdate=utcnow``, say), as
        # SQLAlchemy's execution context would.
        defaults = [(c.key, c.default) for c in compiled.insert_prefetch]
        defaults += [(c.key, c.onupdate) for c in compiled.update_prefetch]
        self._defaults: list[tuple[str, Callable[[], Any]]] = [
            (key, functools.partial(python_default, default)) for key, default in defaults
        ]
        unfilled = [
            name
            for name, bind in compiled.binds.items()
            if not bind.required and bind.value is None and bind.callable is None
            if name not in dict(defaults)
        ]
        if unfilled:
            # SQLAlchemy leaves the defaults of DML in a CTE (an onupdate) to nobody.
            raise TypeError(f"Prepared cannot fill {unfilled}: give those columns values")
        # One processor per parameter name (a name bound in several places is one value).
        bind_processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for bind, name in compiled.bind_names.items()
        }
        self._bind_processors: list[tuple[str, Callable[[Any], Any]]] = [
            (name, processor)
            for name, processor in bind_processors.items()
            if processor is not None
        ]
        columns = _result_columns(statement)
        names = [name for name, _type in columns]
        if len(set(names)) != len(names):
            raise TypeError(f"Prepared needs distinct result column names, got {names}")
        self._make_row: Callable[[Sequence[Any]], Any] = namedtuple("Row", names)._make  # type: ignore[attr-defined]
        processors = [
            type_.dialect_impl(dialect).result_processor(dialect, None) for _name, type_ in columns
        ]
        self._result_processors: list[tuple[int, Callable[[Any], Any]]] = [
            (index, processor) for index, processor in enumerate(processors) if processor
        ]

    def parameters(self, params: dict[str, Any]) -> MutableMapping[str, Any]:
        if self._defaults:
            params = {**params, **{key: default() for key, default in self._defaults}}
        values = self._compiled.construct_params(params)
        for name, processor in self._bind_processors:
            values[name] = processor(values[name])
        return values

    def rows(self, raw_rows: Sequence[Sequence[Any]]) -> list[Any]:
        make_row = self._make_row
        processors = self._result_processors
        if not processors:
            return [make_row(row) for row in raw_rows]
        result = []
        for raw in raw_rows:
            row = list(raw)
            for index, processor in processors:
                row[index] = processor(row[index])
            result.append(make_row(row))
        return result
