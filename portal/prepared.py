"""Hot statements: SQLAlchemy Core statements run on the session's connection.

A hot path's statement is a Core statement (not an ORM query: no identity map, no entity
loading), built once per shape and kept (``functools.cache`` or a module constant), and run with
``AsyncConnection.execute`` on the session's connection: in the session's transaction (begun if
need be), or by itself on a request session in autocommit. So it is one of SQLAlchemy's
statements like any other: logged by ``echo`` (``PORTAL_DATABASE_ECHO``, the
``sqlalchemy.engine`` logger), seen by SQLAlchemy's cursor events (tracing), its errors
SQLAlchemy's, and a connection the server ended is invalidated by SQLAlchemy's disconnect
handling. SQLAlchemy's compiled cache gives the same SQL text every time, which psycopg prepares
server-side after a few runs (its ``prepare_threshold``).

This module once ran the statements on psycopg's connection past SQLAlchemy, with SQLAlchemy's
private compiler APIs; measured against this path (issue 16's note), it saved about 0.1 ms of
CPU per statement, which ``make bench`` does not tell from its noise.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import CompileError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select

from portal.database import in_autocommit, read_transaction

# A SELECT, or an INSERT, UPDATE or DELETE (with RETURNING or not).
Statement = Select[Any] | UpdateBase


class Prepared:
    """A Core statement and the names of the parameters it binds."""

    __slots__ = ("_bind_names", "statement")
    _bind_names: frozenset[str]

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._bind_names = _checked_bind_names(statement)

    async def all(self, session: AsyncSession, params: dict[str, Any] | None = None) -> list[Any]:
        """The rows (SQLAlchemy's Row), in the session's transaction (begun if need be), or by
        itself on a request session in autocommit."""
        connection = await _connection(session)
        result = await connection.execute(self.statement, self._own(params or {}))
        return list(result.all()) if result.returns_rows else []

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
