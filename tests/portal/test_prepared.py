"""Prepared statements (portal.prepared) read and write what SQLAlchemy would, on either
database: the same values of the same types, the same errors, the same column defaults."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, record_event
from portal.database import write_transaction
from portal.models import AuditEvent, MessageThread, User
from portal.models.base import insert_row, insert_values, utcnow
from portal.prepared import Prepared, _Compiled
from portal.services.users import create_user

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


def test_a_default_nobody_would_fill_is_refused_when_compiled() -> None:
    """With two UPDATEs in CTEs, SQLAlchemy computes the ``onupdate`` of neither; rather than
    write NULL there, the statement is refused the first time it is compiled."""
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
        _Compiled(statement, postgresql.psycopg.dialect())


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
