"""The benchmark's seeder and floor write what the application would (PostgreSQL only: the
benchmark is). A tiny world, seeded, then written to by the floor and by the API: the counters
still equal a recount and every audit chain still verifies with the app's own checker."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from bench import floor, seed
from portal.services.compliance.integrity import check_all_chains
from portal.settings import Settings
from server.app import create_app
from tests.api.helpers import auth

pytestmark = pytest.mark.parametrize("backend", ["postgres"])

TINY = seed.Scale(
    users=20,
    threads=40,
    messages=700,
    small_threads=10,
    small_messages=100,
    detail_threads=2,
    long_thread_messages=120,
    name="tiny",
)


def _seed(dsn: str) -> seed.World:
    world = seed.plan_world(TINY)
    now = seed.now_utc()
    with psycopg.connect(dsn) as conn:
        seed.seed_people(conn, world, now)
        seed.seed_threads(conn, world.phase_one, now, seed=1, label="one")
        seed.seed_threads(conn, world.phase_two, now, seed=2, label="two")
        seed.fill_inbox_totals(conn)
    return world


async def test_a_seeded_world_keeps_the_invariants_through_floor_and_api_writes(
    database_url: str, owner_database_url: str, settings: Settings, session: AsyncSession
) -> None:
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    # The seeder bulk-loads as the schema owner (as `make bench` does); the rest as the app.
    owner_dsn = owner_database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    world = await asyncio.to_thread(_seed, owner_dsn)
    with psycopg.connect(dsn) as conn:
        assert seed.check_invariants(conn) == []
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM message_threads),"
            " (SELECT count(*) FROM messages), (SELECT count(*) FROM audit_events),"
            " (SELECT count(*) FROM messages WHERE NOT is_read)"
        ).fetchone()
        per_detail = conn.execute(
            "SELECT count(*) FROM messages WHERE thread_id = ANY(%s) GROUP BY thread_id",
            ([plan.id for plan in world.threads_of("detail")],),
        ).fetchall()
    assert counts is not None
    users, threads, messages, events, unread = counts
    assert (users, threads, messages) == (20, 40, 700)
    assert events == messages + threads  # thread.created and one message.sent each
    assert unread > 0
    assert [row[0] for row in per_detail] == [seed.DETAIL_MESSAGES] * TINY.detail_threads

    # The floor's send and mark read, and the app's, on top of the seeded chains.
    plan = next(p for p in world.plans if p.application_id is None)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        sent = floor.Sample(plan.employer.id, "employer", target=plan.candidate.id, body="Hello")
        assert await floor.send(conn, sent, rate_limit=1000, window_seconds=60)
        row = await (
            await conn.execute(
                "SELECT id FROM messages WHERE recipient_id = %s AND NOT is_read LIMIT 1",
                (plan.candidate.id,),
            )
        ).fetchone()
        assert row is not None
        read = floor.Sample(plan.candidate.id, "candidate", target=row[0])
        assert await floor.mark_read(conn, read)
        assert await floor.list_threads(conn, read)
        assert await floor.unread_count(conn, read)
        detail = floor.Sample(plan.candidate.id, "candidate", target=plan.id)
        assert await floor.thread_detail(conn, detail)

    app = create_app(replace(settings, rate_limit_messages=1000))
    async with AsyncTestClient(app) as client:
        response = await client.post(
            "/api/v1/messages",
            json={"recipient_id": str(plan.employer.id), "body": "Thanks"},
            headers=auth(settings, plan.candidate.id),
        )
        assert response.status_code == 201, response.text
        assert response.json()["thread"]["id"] == str(plan.id)

    with psycopg.connect(dsn) as conn:
        assert seed.check_invariants(conn) == []
    result = await check_all_chains(session)
    assert result.problems == []
    assert result.events == events + 3  # the floor's send and read, the app's send
