"""Core statements compiled once and, on PostgreSQL, run straight on psycopg's connection.

A hot path's statement goes through SQLAlchemy's execution machinery on every call (execution
context, cache lookup, cursor result, Row objects), which costs more than the round trip itself
on this service's short statements. A :class:`Prepared` statement is compiled once; a call then
fills in the parameters, runs the SQL on the session's own psycopg connection (in the session's
transaction, or in autocommit on a request session that has none) and applies the same type
processing SQLAlchemy would. On SQLite it runs through SQLAlchemy, on the session's connection.

Errors are SQLAlchemy's, as from ``session.execute`` (``DBAPIError.instance``), so callers and the
503 mapping see no difference.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import in_autocommit, is_sqlite, read_transaction
from portal.models.base import python_default


class Prepared:
    """A Core statement (not an ORM query) with its compiled form, made on first use."""

    __slots__ = ("_bind_names", "_compiled", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None
        self._bind_names: frozenset[str] | None = None

    async def all(self, session: AsyncSession, params: dict[str, Any] | None = None) -> list[Any]:
        """The rows (attribute access by column name, like SQLAlchemy's Row), in the session's
        transaction (begun if need be), or on its own on a request session in autocommit."""
        params = params or {}
        raw = await _driver_connection(session)
        if raw is None:
            # Only the statement's own parameters: SQLAlchemy would take any other key that
            # names a column of an INSERT or UPDATE as one more column to set.
            names = self._bind_names
            if names is None:
                names = self._bind_names = frozenset(self.statement.compile().binds)  # type: ignore[attr-defined]
            own = {key: value for key, value in params.items() if key in names}
            connection = await session.connection()
            result = await connection.execute(self.statement, own)
            return list(result.all()) if result.returns_rows else []
        return await self._for(session).run(raw, params)

    async def all_standalone(
        self, session: AsyncSession, params: dict[str, Any] | None = None
    ) -> list[Any]:
        """The rows of a read that sees one snapshot by itself: on a request session in
        autocommit one round trip with no transaction; elsewhere (SQLite, a session of the CLI
        or a test) in a short read transaction."""
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

    def _for(self, session: AsyncSession) -> _Compiled:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = _Compiled(self.statement, session.get_bind().dialect)
        return compiled


async def _driver_connection(session: AsyncSession) -> psycopg.AsyncConnection[Any] | None:
    """The psycopg connection to run on, or None when the session is not on PostgreSQL.

    A request session in autocommit with no transaction of its own runs the statement as it is
    (one statement sees one snapshot); otherwise the session's transaction is begun or joined,
    exactly as ``session.execute`` would.
    """
    autocommit = in_autocommit(session)
    if autocommit is not None and not session.in_transaction():
        assert autocommit.sync_connection is not None
        return autocommit.sync_connection.connection.driver_connection
    if is_sqlite(session):
        return None
    connection = await session.connection()
    assert connection.sync_connection is not None
    return connection.sync_connection.connection.driver_connection


class _Compiled:
    """One compiled form: the SQL, how to turn parameters into psycopg's, how to build rows."""

    __slots__ = (
        "_bind_processors",
        "_compiled",
        "_defaults",
        "_make_row",
        "_result_processors",
        "sql",
    )

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        # No column keys from the parameters: an INSERT names its values (models.base.insert_row)
        # and an UPDATE its SET clause, so a parameter never adds a column by its name.
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
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
        self._bind_processors: list[tuple[str, Callable[[Any], Any]]] = [
            (name, processor)
            for name, processor in compiled._bind_processors.items()
            if callable(processor)
        ]
        columns = compiled._result_columns or []
        names = [column.keyname for column in columns]
        if len(set(names)) != len(names):
            raise TypeError(f"Prepared needs distinct result column names, got {names}")
        self._make_row: Callable[[Sequence[Any]], Any] = namedtuple("Row", names)._make  # type: ignore[attr-defined]  # a namedtuple made at run time
        processors = [column.type._cached_result_processor(dialect, None) for column in columns]
        self._result_processors: list[tuple[int, Callable[[Any], Any]]] = [
            (index, processor) for index, processor in enumerate(processors) if processor
        ]

    def parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        if self._defaults:
            params = {**params, **{key: default() for key, default in self._defaults}}
        values: dict[str, Any] = self._compiled.construct_params(params)
        for name, processor in self._bind_processors:
            values[name] = processor(values[name])
        return values

    async def run(self, raw: psycopg.AsyncConnection[Any], params: dict[str, Any]) -> list[Any]:
        values = self.parameters(params)
        try:
            cursor = await raw.execute(self.sql, values)
            rows = await cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as exc:
            raise DBAPIError.instance(self.sql, values, exc, psycopg.Error) from exc
        make_row = self._make_row
        processors = self._result_processors
        if not processors:
            return [make_row(row) for row in rows]
        result = []
        for row in rows:
            row = list(row)
            for index, processor in processors:
                row[index] = processor(row[index])
            result.append(make_row(row))
        return result
