"""The request's session (opened by the API's auth middleware) holds one connection across its
transactions; a write transaction's SQLite write-lock option must not outlive it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.database import (
    REQUEST_SESSION,
    close_request_session,
    create_sessionmaker,
    open_request_session,
    read_transaction,
    write_transaction,
)
from portal.models import User


async def test_one_connection_across_transactions_and_no_lingering_write_lock(
    engine: AsyncEngine,
) -> None:
    scope: dict[str, Any] = {}
    session = await open_request_session(scope, engine, create_sessionmaker(engine))
    assert scope[REQUEST_SESSION] is session
    connection = session.bind
    try:
        await _transactions(session, connection, engine)
    finally:
        await close_request_session(scope)
    assert REQUEST_SESSION not in scope
    assert engine.pool.checkedout() == 0
    await close_request_session(scope)  # a request without a session: nothing to close


async def _transactions(session: AsyncSession, connection: Any, engine: AsyncEngine) -> None:
    async with write_transaction(session):
        await session.execute(select(User.id).limit(1))
    assert not connection.sync_connection.get_execution_options().get("portal_begin_immediate")
    async with read_transaction(session):
        assert (await session.connection()).sync_connection is connection.sync_connection
        await session.execute(select(User.id).limit(1))
    assert engine.pool.checkedout() == 1
