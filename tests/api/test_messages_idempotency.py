"""The Idempotency-Key header on send."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from portal.models import IdempotencyKey, Message
from portal.models.base import utcnow
from portal.settings import Settings
from server.app import create_app
from tests.api.helpers import auth, make_pair, make_user, send
from tests.conftest import settings_with


async def messages(app: Litestar) -> int:
    async with app.state.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(Message)) or 0


async def key_rows(app: Litestar) -> list[IdempotencyKey]:
    async with app.state.sessionmaker() as session:
        return list((await session.scalars(select(IdempotencyKey))).all())


async def test_same_key_same_body_replays_the_first_response(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    key = {"Idempotency-Key": "send-1"}
    first = await send(client, settings, employer, candidate, "Hello", headers=key, subject="Hi")
    assert first.status_code == 201
    # Same request, fields in another order and an explicit default: the same body.
    retry = await client.post(
        "/api/v1/messages",
        json={
            "subject": "Hi",
            "body_format": "plain",
            "body": "Hello",
            "recipient_id": str(candidate.id),
        },
        headers={**auth(settings, employer), **key},
    )
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert await messages(app) == 1
    (row,) = await key_rows(app)
    assert row.status == "completed" and row.response_status == 201
    assert row.user_id == employer.id

    # Keys belong to their user: another sender may use the same string.
    other = await make_user(app, "employer")
    assert (await send(client, settings, other, candidate, "Hello", headers=key)).status_code == 201
    assert await messages(app) == 2


async def test_same_key_different_body_is_422(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    key = {"Idempotency-Key": "send-2"}
    assert (
        await send(client, settings, employer, candidate, "one", headers=key)
    ).status_code == 201
    response = await send(client, settings, employer, candidate, "two", headers=key)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert response.json()["code"] == "idempotency_key_reused"
    assert response.json()["field"] == "Idempotency-Key"
    assert await messages(app) == 1


async def test_key_in_flight_is_409_and_a_stale_claim_is_taken_over(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    key = {"Idempotency-Key": "send-3"}
    assert (await send(client, settings, employer, candidate, headers=key)).status_code == 201
    # Pretend the request is still running (its process holds the claim).
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(IdempotencyKey).values(
                status="in_progress",
                response_status=None,
                response_body=None,
                locked_until=utcnow() + timedelta(seconds=30),
            )
        )
    in_flight = await send(client, settings, employer, candidate, headers=key)
    assert in_flight.status_code == 409
    assert "in progress" in in_flight.json()["detail"]
    assert in_flight.json()["code"] == "idempotency_key_in_progress"
    # Honest: the claim lapses in about 30 seconds, and not before.
    assert 29 <= int(in_flight.headers["retry-after"]) <= 30
    assert await messages(app) == 1

    # A claim past its lock was abandoned (its send never committed); a retry takes it over.
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(IdempotencyKey).values(locked_until=utcnow() - timedelta(seconds=1))
        )
    taken_over = await send(client, settings, employer, candidate, headers=key)
    assert taken_over.status_code == 201
    assert await messages(app) == 2
    replay = await send(client, settings, employer, candidate, headers=key)
    assert replay.json() == taken_over.json()


async def test_refused_send_releases_the_key(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    key = {"Idempotency-Key": "send-4"}
    await client.post(
        "/api/v1/messages/block",
        json={"user_id": str(employer.id), "reason": "other"},
        headers=auth(settings, candidate),
    )
    refused = await send(client, settings, employer, candidate, headers=key)
    assert refused.status_code == 403
    assert await key_rows(app) == []
    await client.delete(f"/api/v1/messages/block/{employer.id}", headers=auth(settings, candidate))
    assert (await send(client, settings, employer, candidate, headers=key)).status_code == 201


async def test_rate_limited_send_releases_the_key(settings: Settings) -> None:
    limited = settings_with(settings, rate_limit_messages=1)
    app = create_app(limited)
    async with AsyncTestClient(app=app) as client:
        employer, candidate = await make_pair(app)
        assert (await send(client, limited, employer, candidate)).status_code == 201
        key = {"Idempotency-Key": "send-5"}
        refused = await send(client, limited, employer, candidate, headers=key)
        assert refused.status_code == 429
        assert "retry-after" in refused.headers
        assert await key_rows(app) == []


async def test_bad_keys(app: Litestar, client: AsyncTestClient, settings: Settings) -> None:
    employer, candidate = await make_pair(app)
    for bad in ["k" * 256, "has space"]:
        response = await send(
            client, settings, employer, candidate, headers={"Idempotency-Key": bad}
        )
        assert response.status_code == 400
        assert "idempotency_key" in response.json()["detail"]
    long_ok = await send(
        client, settings, employer, candidate, headers={"Idempotency-Key": "k" * 255}
    )
    assert long_ok.status_code == 201


async def test_concurrent_retries_send_once(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    key = {"Idempotency-Key": "send-6"}
    responses = await asyncio.gather(
        *(send(client, settings, employer, candidate, "once", headers=key) for _ in range(6))
    )
    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [response.json() for response in responses if response.status_code == 201]
    assert created and all(body == created[0] for body in created)
    assert await messages(app) == 1
