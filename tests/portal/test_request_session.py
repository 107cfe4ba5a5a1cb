"""The request's session holds one connection across its transactions; a write transaction's
SQLite write-lock option must not outlive it; a refusal rolls back; on_commit callbacks run
after a commit only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.database import (
    REQUEST_SESSION,
    close_request_session,
    create_sessionmaker,
    on_commit,
    open_request_session,
    read_transaction,
    write_transaction,
)
from portal.errors import Conflict
from portal.models import User
from tests.people import person


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


async def test_a_refusal_rolls_back_and_keeps_what_was_only_read(session: AsyncSession) -> None:
    """A PortalError raised in a write transaction undoes everything it wrote (even a statement
    the ORM never saw), and the objects it only read stay readable."""
    user = await person(session, "candidate", "Rolled Back")
    name = user.display_name
    try:
        async with write_transaction(session):
            await session.execute(
                update(User)
                .where(User.id == user.id)
                .values(display_name="changed")
                .execution_options(synchronize_session=False)
            )
            raise Conflict("refused")
    except Conflict:
        pass
    assert user.display_name == name  # no query: still loaded
    async with read_transaction(session):
        stored = await session.scalar(select(User.display_name).where(User.id == user.id))
    assert stored == name


async def test_on_commit_runs_after_the_commit_and_never_after_a_rollback(
    session: AsyncSession,
) -> None:
    ran: list[str] = []
    async with write_transaction(session):
        on_commit(session, lambda: ran.append("committed"))
        assert ran == []
    assert ran == ["committed"]
    try:
        async with write_transaction(session):
            on_commit(session, lambda: ran.append("refused"))
            raise Conflict("refused")
    except Conflict:
        pass
    try:
        async with write_transaction(session):
            on_commit(session, lambda: ran.append("failed"))
            raise RuntimeError("failed")
    except RuntimeError:
        pass
    async with write_transaction(session):
        pass
    assert ran == ["committed"]
    on_commit(session, lambda: ran.append("at once"))  # no transaction: runs now
    assert ran == ["committed", "at once"]
