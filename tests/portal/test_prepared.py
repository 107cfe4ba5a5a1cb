"""Prepared statements (portal.prepared) read and write what SQLAlchemy would, on either
database: the same values of the same types, the same errors, the same column defaults; and
they are SQLAlchemy's statements like any other: logged, traced, their disconnects handled."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, record_event
from portal.database import add_statement_hook, write_transaction
from portal.models import AuditEvent, Message, MessageThread, User
from portal.models.base import insert_row, insert_values, utcnow
from portal.prepared import Prepared
from portal.services.users import create_user
from portal.settings import Settings
from server.app import create_app
from tests.api.helpers import auth, make_pair, send_ok
from tests.conftest import settings_with
from tests.portal.test_faults import admin

_events = AuditEvent.__table__
_users = User.__table__
_threads = MessageThread.__table__


async def test_rows_read_back_with_the_types_sqlalchemy_gives(session: AsyncSession) -> None:
    user = await create_user(
        session, email="ada@example.com", display_name="Ada", role="employer", actor=Actor.system()
    )
    async with write_transaction(session):
        event = await record_event(
            session,
            actor=Actor.user(user.id),
            action="test.recorded",
            subject_type="user",
            subject_id=user.id,
            details={"nested": {"list": [1, "two", None]}, "text": "naïve ✓"},
        )
    statement = select(*_events.c).where(_events.c.id == bindparam("event_id"))
    async with write_transaction(session):
        prepared = await Prepared(statement).one(session, {"event_id": event.id})
        expected = (await session.execute(statement, {"event_id": event.id})).one()
    assert tuple(prepared) == tuple(expected)
    assert [type(value) for value in prepared] == [type(value) for value in expected]
    assert prepared.occurred_at.tzinfo is not None and prepared.details == event.details
    assert prepared.actor_id == user.id and isinstance(prepared.actor_id, uuid.UUID)


async def test_database_errors_are_sqlalchemy_errors(session: AsyncSession) -> None:
    user = await create_user(
        session, email="bo@example.com", display_name="Bo", role="candidate", actor=Actor.system()
    )
    twin = User(id=user.id, email="other@example.com", display_name="Twin", role="candidate")
    with pytest.raises(IntegrityError):
        async with write_transaction(session):
            await Prepared(insert_row(_users, prefix="user_")).all(
                session, insert_values(twin, prefix="user_")
            )
    # The failed transaction was rolled back; the session goes on.
    async with write_transaction(session):
        rows = await Prepared(select(_users.c.display_name)).all(session)
    assert [row.display_name for row in rows] == ["Bo"]


async def test_python_side_column_defaults_are_filled(session: AsyncSession) -> None:
    """An UPDATE's ``onupdate`` column (updated_at) gets its value, as the unit of work gives."""
    employer, candidate = [
        await create_user(
            session,
            email=f"{role}@example.com",
            display_name=role.title(),
            role=role,
            actor=Actor.system(),
        )
        for role in ("employer", "candidate")
    ]
    async with write_transaction(session):
        thread = MessageThread(id=uuid.uuid4(), employer_id=employer.id, candidate_id=candidate.id)
        session.add(thread)
    before = utcnow()
    archive = (
        update(_threads)
        .where(_threads.c.id == bindparam("thread_id"))
        .values(archived_by_employer=True)
        .returning(_threads.c.updated_at)
    )
    async with write_transaction(session):
        row = await Prepared(archive).one(session, {"thread_id": thread.id})
    assert row.updated_at >= before


def test_a_default_nobody_would_fill_is_refused_when_built() -> None:
    """With two UPDATEs in CTEs, SQLAlchemy computes the ``onupdate`` of neither; rather than
    write NULL there, the statement is refused when it is built."""
    rename = (
        update(_users)
        .where(_users.c.id == bindparam("user_id"))
        .values(display_name="x", updated_at=bindparam("now"))
        .returning(_users.c.id)
        .cte("renamed")
    )
    bump = update(_threads).where(_threads.c.id == bindparam("thread_id")).values(subject="x")
    statement = select(*rename.c).add_cte(bump.cte("bumped"))
    with pytest.raises(TypeError, match="updated_at"):
        Prepared(statement)


def test_a_parameter_named_after_a_column_it_would_also_set_is_refused() -> None:
    """SQLAlchemy takes a parameter named after a column of an UPDATE's table as one more column
    to set (``SET thread_id = …`` on ``messages`` for the thread's ``thread_id`` below); such a
    statement is refused when it is built."""
    messages = Message.__table__
    mark = (
        update(messages)
        .where(messages.c.id == bindparam("message_id"))
        .values(is_read=True, updated_at=bindparam("now"))
        .returning(messages.c.id)
        .cte("marked")
    )
    drop = (
        update(_threads)
        .where(_threads.c.id == bindparam("thread_id"))
        .values(subject="x", updated_at=bindparam("now"))
    )
    with pytest.raises(TypeError, match="thread_id"):
        Prepared(select(*mark.c).add_cte(drop.cte("dropped")))


async def test_parameters_the_statement_does_not_bind_change_nothing(
    session: AsyncSession,
) -> None:
    """Callers pass one dict of parameters to several statements (an event's and its chain
    head's). A key the statement does not bind must not become a column it sets: SQLAlchemy
    would add ``SET role = …`` for a ``role`` key to an UPDATE run through it (the SQLite path)."""
    user = await create_user(
        session, email="cy@example.com", display_name="Cy", role="candidate", actor=Actor.system()
    )
    rename = (
        update(_users)
        .where(_users.c.id == bindparam("user_id"))
        .values(display_name=bindparam("new_name"))
    )
    async with write_transaction(session):
        await Prepared(rename).all(
            session,
            {"user_id": user.id, "new_name": "Cyrus", "role": "employer", "email": "x@example.com"},
        )
    row = (
        await session.execute(
            select(_users.c.display_name, _users.c.role, _users.c.email).where(
                _users.c.id == user.id
            )
        )
    ).one()
    await session.commit()
    assert tuple(row) == ("Cyrus", "candidate", "cy@example.com")


class _Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_hot_statements_reach_the_sql_log_and_the_event_hooks(settings: Settings) -> None:
    """With PORTAL_DATABASE_ECHO on, the send's insert and the unread count (both Prepared
    statements) are in SQLAlchemy's SQL log, and reach the one statement hook
    (portal.database.add_statement_hook), as any statement."""
    app = create_app(settings_with(settings, database_echo=True))
    traced: list[str] = []
    # On the engine's logger itself (the app's logging config takes over the root logger's
    # handlers); its level is left alone: echo alone turns the log on.
    sql_log = _Collected()
    logging.getLogger("sqlalchemy.engine.Engine").addHandler(sql_log)

    def trace(statement: str, _params: Any) -> None:
        traced.append(statement)

    try:
        async with AsyncTestClient(app=app) as client:
            employer, candidate = await make_pair(app)
            remove_trace = add_statement_hook(app.state.engine, trace)
            await send_ok(client, settings, employer, candidate)
            unread = await client.get(
                "/api/v1/messages/unread-count", headers=auth(settings, candidate)
            )
            assert unread.status_code == 200 and unread.json()["unread_count"] == 1
            remove_trace()
    finally:
        logging.getLogger("sqlalchemy.engine.Engine").removeHandler(sql_log)
    for seen in (sql_log.messages, traced):
        assert any("INSERT INTO messages" in statement for statement in seen)
        assert any("unread_count_candidate" in statement for statement in seen)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_connection_the_server_ended_is_invalidated_and_replaced(
    session: AsyncSession,
) -> None:
    """SQLAlchemy's disconnect handling sees a Prepared statement's failure: the error says the
    connection was invalidated, the pool drops it, and the next transaction gets a fresh one."""
    backend_pid = Prepared(select(func.pg_backend_pid().label("pid")))
    with pytest.raises(DBAPIError):
        async with write_transaction(session):
            pid = (await backend_pid.one(session)).pid
            # Ended while checked out, so the pool's check at checkout cannot step in first.
            with admin() as connection:
                connection.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
            with pytest.raises(DBAPIError) as raised:
                await backend_pid.one(session)
            raise raised.value
    # The statement's own error (not only the rollback's after it).
    assert raised.value.connection_invalidated
    async with write_transaction(session):
        assert (await backend_pid.one(session)).pid != pid
