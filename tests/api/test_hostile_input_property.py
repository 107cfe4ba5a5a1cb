"""Done-when 2 of issue 6: random bytes, random JSON and random nesting posted to every JSON
endpoint never get a 500. SQLite only (the fixed hostile cases of test_hostile_input run on both
backends); the examples are bounded so that this stays a few seconds."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from portal.audit import Actor
from portal.database import create_sessionmaker
from portal.services.users import create_user
from portal.settings import Settings
from portal.tokens import issue_service_token, issue_user_token
from server.app import create_app
from tests.conftest import examples

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


@dataclass(frozen=True)
class World:
    client: TestClient[Litestar]
    user_headers: dict[str, str]
    service_headers: dict[str, str]
    employer_id: uuid.UUID
    candidate_id: uuid.UUID


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    app = create_app(settings)

    async def seed() -> tuple[uuid.UUID, uuid.UUID]:
        async with create_sessionmaker(app.state.engine)() as session:
            ids = []
            for role in ("employer", "candidate"):
                user = await create_user(
                    session,
                    email=f"{role}@example.com",
                    display_name=role.title(),
                    role=role,
                    actor=Actor.system(),
                )
                ids.append(user.id)
        await app.state.engine.dispose()
        return ids[0], ids[1]

    employer_id, candidate_id = asyncio.run(seed())
    with TestClient(app=app) as client:
        yield World(
            client=client,
            user_headers={"Authorization": f"Bearer {issue_user_token(settings, employer_id)}"},
            service_headers={"Authorization": f"Bearer {issue_service_token(settings)}"},
            employer_id=employer_id,
            candidate_id=candidate_id,
        )


def _valid_bodies(world: World) -> dict[str, tuple[str, str, bool, dict[str, Any]]]:
    """Endpoint name → (method, path, needs a service token, a body it accepts)."""
    return {
        "send": (
            "POST",
            "/api/v1/messages",
            False,
            {"recipient_id": str(world.candidate_id), "body": "hi", "subject": "s"},
        ),
        "block": (
            "POST",
            "/api/v1/messages/block",
            False,
            {"user_id": str(world.candidate_id), "reason": "spam", "note": "n"},
        ),
        "user": (
            "PUT",
            f"/api/v1/users/{uuid.uuid4()}",
            True,
            {"email": "p@example.com", "display_name": "P", "role": "candidate"},
        ),
        "application": (
            "PUT",
            f"/api/v1/applications/{uuid.uuid4()}",
            True,
            {
                "employer_id": str(world.employer_id),
                "candidate_id": str(world.candidate_id),
                "job_title": "Engineer",
            },
        ),
    }


ENDPOINTS = ["send", "block", "user", "application"]
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def nested(draw: st.DrawFn) -> bytes:
    """Arrays and objects nested a random depth, up to far past what Python can recurse."""
    depth = draw(st.integers(min_value=1, max_value=5000))
    opener = draw(st.sampled_from([b"[", b'{"a":', b'{"body":[']))
    closer = {b"[": b"]", b'{"a":': b"}", b'{"body":[': b"]}"}[opener]
    inner = draw(st.sampled_from([b"", b"1", b'"x"', b"null"]))
    if opener != b"[" and not inner:
        inner = b"1"
    return opener * depth + inner + closer * depth


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any]) -> bytes:
    """A body the endpoint accepts, with one field replaced by random JSON or random bytes."""
    field = draw(st.sampled_from([*body, "unexpected"]))
    if draw(st.booleans()):
        return json.dumps({**body, field: draw(json_values)}).encode()
    raw = draw(st.binary(max_size=40)).replace(b'"', b"").replace(b"\\", b"")
    encoded = json.dumps({**body, field: "__RAW__"}).encode()
    return encoded.replace(b"__RAW__", raw)


CONTENT_TYPES = st.sampled_from(
    ["application/json"] * 6
    + ["application/json; charset=utf-8", "text/plain", "application/xml", "", "application/*"]
)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@given(data=st.data())
@hypothesis_settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_random_bodies_never_get_a_500(world: World, endpoint: str, data: st.DataObject) -> None:
    method, path, service, body = _valid_bodies(world)[endpoint]
    content = data.draw(
        st.one_of(
            st.binary(max_size=300),
            json_values.map(lambda value: json.dumps(value).encode()),
            nested(),
            mutated(body),
        ),
        label="body",
    )
    content_type = data.draw(CONTENT_TYPES, label="content type")
    headers = dict(world.service_headers if service else world.user_headers)
    if content_type:
        headers["Content-Type"] = content_type
    response = world.client.request(method, path, content=content, headers=headers)
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        assert response.json()["detail"], response.text
