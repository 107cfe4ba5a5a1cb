"""Hostile request bodies and paths (issue 6, defect 4 and the smaller ones): bodies that are not
UTF-8, nested 1,000 deep or not JSON at all, and malformed ids in paths, get a 4xx that says what
is wrong, on every JSON endpoint, and change nothing. Whatever still fails is a logged 500 that
carries the request id and nothing else."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from api.errors import MAX_JSON_DEPTH
from portal.models import Application, AuditEvent, Message, MessageBlock, User
from portal.settings import Settings
from tests.api.helpers import auth, make_pair, send_ok, service_auth
from tests.conftest import no_database


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    body: dict[str, Any]
    service: bool = False


async def _endpoints(app: Litestar) -> tuple[list[Endpoint], User]:
    """Every endpoint that takes a JSON body, each with a body it would accept."""
    employer, candidate = await make_pair(app)
    return [
        Endpoint(
            "send", "POST", "/api/v1/messages", {"recipient_id": str(candidate.id), "body": "hi"}
        ),
        Endpoint(
            "block",
            "POST",
            "/api/v1/messages/block",
            {"user_id": str(candidate.id), "reason": "spam"},
        ),
        Endpoint(
            "provision user",
            "PUT",
            f"/api/v1/users/{uuid.uuid4()}",
            {"email": "new@example.com", "display_name": "New", "role": "candidate"},
            service=True,
        ),
        Endpoint(
            "provision application",
            "PUT",
            f"/api/v1/applications/{uuid.uuid4()}",
            {
                "employer_id": str(employer.id),
                "candidate_id": str(candidate.id),
                "job_title": "Engineer",
            },
            service=True,
        ),
    ], employer


async def _state(app: Litestar) -> tuple[int, ...]:
    async with app.state.sessionmaker() as session:
        return tuple(
            [
                int(await session.scalar(select(func.count()).select_from(model)) or 0)
                for model in (User, Application, Message, MessageBlock, AuditEvent)
            ]
        )


def _headers(settings: Settings, endpoint: Endpoint, user: User, content_type: str) -> dict:
    who = service_auth(settings) if endpoint.service else auth(settings, user)
    return {**who, "Content-Type": content_type}


def _json_with(body: dict[str, Any], field_bytes: bytes) -> bytes:
    """``body`` as JSON with its last string field replaced by raw ``field_bytes``."""
    *rest, (last, _) = body.items()
    head = json.dumps(dict(rest)).encode()[:-1]
    separator = b", " if rest else b""
    return head + separator + json.dumps(last).encode() + b': "' + field_bytes + b'"}'


HOSTILE_BODIES = {
    "not UTF-8": lambda body: _json_with(body, b"sp\xffam"),
    "overlong UTF-8": lambda body: _json_with(body, b"\xc0\xaf"),
    "UTF-16 surrogate bytes": lambda body: _json_with(body, b"\xed\xa0\x80"),
    "array nested 1,000 deep": lambda body: b"[" * 1000 + b"]" * 1000,
    "object nested 1,000 deep": lambda body: b'{"a":' * 1000 + b"1" + b"}" * 1000,
    "array nested 100,000 deep": lambda body: b"[" * 100_000 + b"]" * 100_000,
    "lone surrogate escape": lambda body: _json_with(body, rb"\ud800"),
    "truncated": lambda body: b'{"a": "',
    "not JSON": lambda body: b"<message>hi</message>",
}


@pytest.mark.parametrize("case", sorted(HOSTILE_BODIES))
async def test_hostile_bodies_are_400_and_change_nothing(
    app: Litestar, client: AsyncTestClient, settings: Settings, case: str
) -> None:
    endpoints, user = await _endpoints(app)
    before = await _state(app)
    for endpoint in endpoints:
        response = await client.request(
            endpoint.method,
            endpoint.path,
            content=HOSTILE_BODIES[case](endpoint.body),
            headers=_headers(settings, endpoint, user, "application/json"),
        )
        assert response.status_code == 400, (endpoint.name, response.text)
        assert response.json()["status_code"] == 400
        assert response.json()["detail"], endpoint.name
    assert await _state(app) == before


async def test_the_refusals_say_what_is_wrong(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    endpoints, user = await _endpoints(app)
    send = endpoints[0]
    headers = _headers(settings, send, user, "application/json")

    async def detail(content: bytes, code: str = "malformed_body") -> str:
        response = await client.post(send.path, content=content, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == code, response.text
        return str(response.json()["detail"])

    not_utf8 = await detail(HOSTILE_BODIES["not UTF-8"](send.body))
    assert "not valid UTF-8" in not_utf8 and "byte 0xff" in not_utf8, not_utf8
    assert "not valid JSON" in await detail(b'{"body": "')
    assert "no body" in await detail(b"", code="validation_failed")
    assert f"more than {MAX_JSON_DEPTH} deep" in await detail(b"[" * 1000 + b"]" * 1000)
    # Just past the bound is refused by the same rule, not by how deep Python can recurse.
    just_past = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    assert f"more than {MAX_JSON_DEPTH} deep" in await detail(just_past)
    # At the bound the body is judged on its shape like any other.
    at_bound = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert "deep" not in await detail(at_bound, code="validation_failed")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded", None]
)
async def test_bodies_that_are_not_declared_json_are_415(
    app: Litestar, client: AsyncTestClient, settings: Settings, content_type: str | None
) -> None:
    endpoints, user = await _endpoints(app)
    before = await _state(app)
    for endpoint in endpoints:
        headers = _headers(settings, endpoint, user, content_type or "")
        if content_type is None:
            del headers["Content-Type"]
        response = await client.request(
            endpoint.method, endpoint.path, content=json.dumps(endpoint.body), headers=headers
        )
        assert response.status_code == 415, (endpoint.name, response.text)
        assert "Content-Type must be application/json" in response.json()["detail"]
        assert response.json()["code"] == "unsupported_media_type"
    assert await _state(app) == before
    # The same bodies as application/json (with or without a UTF-8 charset) are accepted.
    for endpoint in endpoints:
        response = await client.request(
            endpoint.method,
            endpoint.path,
            content=json.dumps(endpoint.body),
            headers=_headers(settings, endpoint, user, "application/json; charset=UTF-8"),
        )
        assert response.status_code in (200, 201), (endpoint.name, response.text)


async def test_a_malformed_uuid_in_a_path_is_a_400_naming_the_parameter(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    user_headers, service_headers = auth(settings, employer), service_auth(settings)
    cases = [
        ("GET", "/api/v1/messages/threads/nope", "thread_id", user_headers),
        ("DELETE", "/api/v1/messages/threads/nope", "thread_id", user_headers),
        ("PATCH", "/api/v1/messages/threads/12345/archive", "thread_id", user_headers),
        ("PUT", "/api/v1/messages/not-a-uuid/read", "message_id", user_headers),
        ("POST", "/api/v1/messages/x/flag?reason=spam", "message_id", user_headers),
        ("DELETE", "/api/v1/messages/block/ada", "user_id", user_headers),
        ("PUT", "/api/v1/users/ada", "user_id", service_headers),
        ("PUT", "/api/v1/applications/1", "application_id", service_headers),
    ]
    for method, path, parameter, headers in cases:
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["detail"] == f"{parameter}: Invalid UUID", path
        assert (response.json()["code"], response.json()["field"]) == (
            "validation_failed",
            parameter,
        )
        assert response.json()["extra"] == [
            {"key": parameter, "source": "path", "message": "Invalid UUID"}
        ]
    # A path that names nothing is still 404, and a well-formed id of nothing is 404 too.
    assert (await client.get("/api/v1/nothing/here", headers=user_headers)).status_code == 404
    missing = await client.get(f"/api/v1/messages/threads/{uuid.uuid4()}", headers=user_headers)
    assert missing.status_code == 404
    sent = await send_ok(client, settings, employer, candidate)
    thread = await client.get(
        f"/api/v1/messages/threads/{sent['thread']['id']}", headers=user_headers
    )
    assert thread.status_code == 200


@no_database
@pytest.mark.own_app  # registers a route
async def test_unhandled_errors_are_logged_and_answered_with_the_request_id(
    app: Litestar, client: AsyncTestClient, caplog: pytest.LogCaptureFixture
) -> None:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise RuntimeError("the secret connection string is postgres://admin:hunter2@db")

    app.register(boom)
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        response = await client.get("/boom?q=1")
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json() == {
        "status_code": 500,
        "detail": "Internal Server Error",
        "code": "internal_error",
        "request_id": request_id,
    }
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    [record] = [r for r in caplog.records if r.name == "api.errors"]
    message = record.getMessage()
    assert "GET /boom" in message
    assert request_id in message
    assert record.exc_info is not None
    assert "hunter2" in str(record.exc_info[1])

    # A caller's own request id is kept when it is a plain token, and replaced when it is not.
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        traced = await client.get("/boom", headers={"X-Request-ID": "edge-7f3a.42"})
        forged = await client.get("/boom", headers={"X-Request-ID": "x\r\nfake: log line"})
    assert traced.headers["x-request-id"] == "edge-7f3a.42"
    assert traced.json()["request_id"] == "edge-7f3a.42"
    assert "fake" not in forged.headers["x-request-id"]
    assert len(forged.headers["x-request-id"]) == 32


async def test_every_response_carries_a_request_id(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, _ = await make_pair(app)
    ok = await client.get("/api/v1/messages/unread-count", headers=auth(settings, employer))
    unauthorized = await client.get("/api/v1/messages/unread-count")
    not_found = await client.get("/api/v1/nothing")
    ids = [r.headers["x-request-id"] for r in (ok, unauthorized, not_found)]
    assert len(set(ids)) == 3
