"""PUT /api/v1/users/{id} and /api/v1/applications/{id}: the platform's backend creates and
updates the people and applications this service knows, safely under retries."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from portal.models import Application, AuditEvent, User
from portal.settings import Settings
from tests.api.helpers import service_auth


def _person(email: str, role: str = "employer", name: str = "Ada") -> dict[str, str]:
    return {"email": email, "display_name": name, "role": role}


async def _count(app: Litestar, model: type, *where: object) -> int:
    async with app.state.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def test_create_then_update_a_user(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    user_id = uuid.uuid4()
    url, headers = f"/api/v1/users/{user_id}", service_auth(settings)
    created = await client.put(url, json=_person("ada@example.com"), headers=headers)
    assert created.status_code == 201
    assert created.json()["id"] == str(user_id)
    same = await client.put(url, json=_person("ada@example.com"), headers=headers)
    assert same.status_code == 200
    renamed = await client.put(url, json=_person("ada@example.com", name="Ada L."), headers=headers)
    assert renamed.status_code == 200
    assert renamed.json()["display_name"] == "Ada L."
    actions = [
        row
        for (row,) in (
            await _rows(app, select(AuditEvent.action).where(AuditEvent.subject_id == user_id))
        )
    ]
    assert sorted(actions) == ["user.created", "user.updated"]  # the no-op PUT records nothing


async def _rows(app: Litestar, query: object) -> list[tuple[object, ...]]:
    async with app.state.sessionmaker() as session:
        return list(await session.execute(query))  # type: ignore[arg-type]


async def test_role_change_and_taken_email_are_conflicts(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    headers = service_auth(settings)
    first = uuid.uuid4()
    assert (
        await client.put(f"/api/v1/users/{first}", json=_person("a@example.com"), headers=headers)
    ).status_code == 201
    role_change = await client.put(
        f"/api/v1/users/{first}", json=_person("a@example.com", role="candidate"), headers=headers
    )
    assert role_change.status_code == 409
    assert role_change.json()["code"] == "conflict"
    taken = await client.put(
        f"/api/v1/users/{uuid.uuid4()}", json=_person("a@example.com"), headers=headers
    )
    assert taken.status_code == 409
    assert "a@example.com" in taken.json()["detail"]
    assert await _count(app, User) == 1


async def test_concurrent_retries_of_one_new_user_all_succeed(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    url, headers = f"/api/v1/users/{uuid.uuid4()}", service_auth(settings)
    responses = await asyncio.gather(
        *(client.put(url, json=_person("race@example.com"), headers=headers) for _ in range(6))
    )
    assert Counter(r.status_code for r in responses) == {201: 1, 200: 5}
    assert await _count(app, User) == 1


async def test_concurrent_new_users_with_one_email_get_one_201_and_409s(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    headers = service_auth(settings)
    responses = await asyncio.gather(
        *(
            client.put(
                f"/api/v1/users/{uuid.uuid4()}", json=_person("same@example.com"), headers=headers
            )
            for _ in range(6)
        )
    )
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 5}
    assert await _count(app, User) == 1


async def test_applications_are_created_updated_and_checked(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    headers = service_auth(settings)
    employer, candidate = uuid.uuid4(), uuid.uuid4()
    for user_id, email, role in (
        (employer, "e@example.com", "employer"),
        (candidate, "c@example.com", "candidate"),
    ):
        response = await client.put(
            f"/api/v1/users/{user_id}", json=_person(email, role=role), headers=headers
        )
        assert response.status_code == 201
    application_id = uuid.uuid4()
    body = {"employer_id": str(employer), "candidate_id": str(candidate), "job_title": "Dev"}
    url = f"/api/v1/applications/{application_id}"
    responses = await asyncio.gather(
        *(client.put(url, json=body, headers=headers) for _ in range(4))
    )
    assert Counter(r.status_code for r in responses) == {201: 1, 200: 3}
    updated = await client.put(url, json=body | {"status": "interviewing"}, headers=headers)
    assert (updated.status_code, updated.json()["status"]) == (200, "interviewing")

    swapped = body | {"employer_id": str(candidate), "candidate_id": str(employer)}
    refused = await client.put(
        f"/api/v1/applications/{uuid.uuid4()}", json=swapped, headers=headers
    )
    assert refused.status_code == 400
    assert "employer" in refused.json()["detail"]
    unknown = body | {"employer_id": str(uuid.uuid4())}
    missing = await client.put(
        f"/api/v1/applications/{uuid.uuid4()}", json=unknown, headers=headers
    )
    assert missing.status_code == 404
    assert await _count(app, Application) == 1
