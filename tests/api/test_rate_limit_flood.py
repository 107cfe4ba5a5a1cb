"""A flood of refused sends is not a write amplifier (issue 6, defect 6): 500 sends past the
limit leave one violation row and one audit event, while staff see all 500 attempts, and every
refusal is the same 429 with Retry-After as before."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import AuditEvent, Message, RateLimitViolation
from portal.models.base import utcnow
from portal.settings import Settings
from server.app import create_app
from tests.api.helpers import auth, make_pair

FLOOD, BURST = 500, 25


async def _rows(app: object, model: type) -> int:
    async with app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_five_hundred_refused_sends_write_one_violation_and_one_event(
    settings: Settings,
) -> None:
    limited = replace(settings, rate_limit_messages=1, rate_limit_window_seconds=3600)
    app = create_app(limited)
    employer, candidate = await make_pair(app)
    headers = auth(limited, employer)
    body = {"recipient_id": str(candidate.id), "body": "Buy now"}
    async with AsyncTestClient(app=app) as client:
        assert (
            await client.post("/api/v1/messages", json=body, headers=headers)
        ).status_code == 201
        violations_before = await _rows(app, RateLimitViolation)
        events_before = await _rows(app, AuditEvent)
        started = utcnow()
        # In concurrent bursts, as a flood arrives: every attempt must still be counted.
        for _ in range(FLOOD // BURST):
            burst = await asyncio.gather(
                *(client.post("/api/v1/messages", json=body, headers=headers) for _ in range(BURST))
            )
            for refused in burst:
                assert refused.status_code == 429, refused.text
                assert 1 <= int(refused.headers["retry-after"]) <= 3600
                assert refused.json()["detail"].startswith(
                    "rate limit: at most 1 messages per hour"
                )

    assert await _rows(app, RateLimitViolation) - violations_before == 1
    assert await _rows(app, AuditEvent) - events_before == 1
    assert await _rows(app, Message) == 1
    async with app.state.sessionmaker() as session:
        violation = await session.scalar(select(RateLimitViolation))
        actions = (await session.scalars(select(AuditEvent.action))).all()
    assert violation is not None
    assert violation.user_id == employer.id
    assert violation.attempts == FLOOD
    assert started <= violation.first_attempt_at <= violation.last_attempt_at <= utcnow()
    assert (violation.limit, violation.window_seconds, violation.status) == (1, 3600, "open")
    assert actions.count("message.rate_limited") == 1


async def test_a_new_window_or_a_reviewed_violation_opens_a_new_row(
    settings: Settings, owner_session: AsyncSession
) -> None:
    limited = replace(settings, rate_limit_messages=1, rate_limit_window_seconds=3600)
    app = create_app(limited)
    employer, candidate = await make_pair(app)
    headers = auth(limited, employer)
    body = {"recipient_id": str(candidate.id), "body": "Buy now"}

    async def refused() -> None:
        response = await client.post("/api/v1/messages", json=body, headers=headers)
        assert response.status_code == 429

    async with AsyncTestClient(app=app) as client:
        assert (
            await client.post("/api/v1/messages", json=body, headers=headers)
        ).status_code == 201
        await refused()
        await refused()
        async with app.state.sessionmaker() as session, session.begin():
            # Staff reviewed it: the next attempt is new evidence, on a row of its own.
            await session.execute(update(RateLimitViolation).values(status="reviewed"))
        await refused()
        async with app.state.sessionmaker() as session, session.begin():
            # The open violation's window has passed: the next attempt opens another.
            await session.execute(
                update(RateLimitViolation)
                .where(RateLimitViolation.status == "open")
                .values(first_attempt_at=utcnow() - timedelta(seconds=3601))
            )
        async with owner_session.begin():  # the app's role may not move a message in time
            # Keep the one message in the window, so the send is still refused.
            await owner_session.execute(update(Message).values(created_at=utcnow()))
        await refused()

    async with app.state.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(RateLimitViolation.attempts).order_by(RateLimitViolation.last_attempt_at)
            )
        ).all()
        events = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "message.rate_limited")
        )
    assert list(rows) == [2, 1, 1]
    assert events == 3
