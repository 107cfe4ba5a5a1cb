"""Done-when 2 of the messaging API, over HTTP: 50 concurrent sends by one user with the limit at
10 give exactly 10 × 201 and 40 × 429 (each with Retry-After), 10 messages and one violation
counting 40 attempts, repeated 20 times, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from portal.models import Message, RateLimitViolation
from portal.settings import Settings
from server.app import create_app
from tests.api.helpers import auth, make_user

SENDS, LIMIT, ROUNDS = 50, 10, 20


async def test_fifty_concurrent_sends_get_ten_201_and_forty_429(settings: Settings) -> None:
    app = create_app(replace(settings, rate_limit_messages=LIMIT))
    candidate = await make_user(app, "candidate")
    async with AsyncTestClient(app=app) as client:
        for round_number in range(ROUNDS):
            sender = await make_user(app, "employer")  # a fresh window every round
            headers = auth(settings, sender)
            body = {"recipient_id": str(candidate.id), "body": f"round {round_number}"}
            responses = await asyncio.gather(
                *(client.post("/api/v1/messages", json=body, headers=headers) for _ in range(SENDS))
            )
            statuses = Counter(response.status_code for response in responses)
            assert statuses == {201: LIMIT, 429: SENDS - LIMIT}, (round_number, statuses)
            for response in responses:
                if response.status_code == 429:
                    assert int(response.headers["retry-after"]) >= 1
            async with app.state.sessionmaker() as session:
                sent = await session.scalar(
                    select(func.count()).select_from(Message).where(Message.sender_id == sender.id)
                )
                attempts = (
                    await session.scalars(
                        select(RateLimitViolation.attempts).where(
                            RateLimitViolation.user_id == sender.id
                        )
                    )
                ).all()
            assert (sent, attempts) == (LIMIT, [SENDS - LIMIT]), round_number
