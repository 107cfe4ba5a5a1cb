"""The pool's liveness check costs no round trip, yet a connection the server ended (a restart,
a terminated backend) is replaced at checkout instead of failing the request that gets it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.database import create_engine
from portal.settings import Settings
from tests.statements import statements


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_connection_ended_by_the_server_is_replaced_without_a_ping(
    settings: Settings,
) -> None:
    engine = create_engine(settings.database_url)
    admin = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        with statements(engine) as seen:
            async with engine.connect() as connection:  # the same pooled connection, alive
                same = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert same == pid
        assert seen == ["SELECT pg_backend_pid()"]  # no ping before it

        async with admin.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await _until_ended(admin, pid)
        with statements(engine) as seen:
            async with engine.connect() as connection:
                new_pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert new_pid != pid
        assert seen == ["SELECT pg_backend_pid()"]
    finally:
        await engine.dispose()
        await admin.dispose()


async def _until_ended(admin: AsyncEngine, pid: int) -> None:
    """Waits (briefly) until the server has ended the terminated backend."""
    for _ in range(100):
        async with admin.connect() as probe:
            rows = await probe.execute(
                text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
            gone = rows.first() is None
        if gone:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"backend {pid} still running")
