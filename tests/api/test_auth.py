"""Every way a bearer token can be wrong gives 401; the right ones get in."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import replace
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.models import User
from portal.models.base import utcnow
from portal.principals import EndUser, KnownUsers
from portal.services.users import create_user
from portal.settings import Settings
from portal.tokens import (
    LEEWAY_SECONDS,
    TokenError,
    VerifiedTokens,
    issue_user_token,
)
from server.app import create_app
from tests.api.helpers import auth, make_user, service_auth
from tests.conftest import no_database
from tests.statements import statements

PROTECTED = "/api/v1/messages/unread-count"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(sub: uuid.UUID, **extra: object) -> dict[str, object]:
    now = utcnow()
    return {"sub": str(sub), "iat": now, "exp": now + timedelta(minutes=5), **extra}


@pytest.fixture
async def user(session: AsyncSession) -> User:
    return await create_user(
        session, email="ada@example.com", display_name="Ada", role="employer", actor=Actor.system()
    )


async def _status(client: AsyncTestClient, token: str | None, header: str | None = None) -> int:
    headers = {}
    if header is not None:
        headers["Authorization"] = header
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = await client.get(PROTECTED, headers=headers)
    if response.status_code == 401:
        assert response.json()["detail"]
        assert response.headers["www-authenticate"].startswith("Bearer")
    return response.status_code


async def test_valid_token_is_accepted(client: AsyncTestClient, settings: Settings, user: User):
    assert await _status(client, issue_user_token(settings, user.id)) == 200


async def test_authenticated_request_marks_user_active(
    client: AsyncTestClient, settings: Settings, user: User, session: AsyncSession
):
    assert user.last_active_at is None
    user_id = user.id
    await _status(client, issue_user_token(settings, user_id))
    session.expire_all()
    last_active = await session.scalar(select(User.last_active_at).where(User.id == user_id))
    assert last_active is not None
    assert utcnow() - last_active < timedelta(seconds=30)


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "Token abc", "Bearer not.a.jwt", "Bearer x"],
)
@no_database
async def test_missing_or_malformed_header_is_401(client: AsyncTestClient, header: str):
    assert await _status(client, None, header=header) == 401


@no_database
async def test_no_header_is_401(client: AsyncTestClient):
    assert await _status(client, None) == 401


async def test_bad_tokens_are_401(client: AsyncTestClient, settings: Settings, user: User):
    secret = settings.jwt_secret
    now = utcnow()
    no_exp = {"sub": str(user.id), "iat": now}
    bad = {
        "expired": jwt.encode(
            {"sub": str(user.id), "exp": now - timedelta(minutes=1)}, secret, "HS256"
        ),
        "no exp": jwt.encode(no_exp, secret, "HS256"),
        "no sub": jwt.encode({"exp": now + timedelta(minutes=5)}, secret, "HS256"),
        "wrong secret": jwt.encode(_claims(user.id), "another-secret-" + "z" * 40, "HS256"),
        "wrong algorithm": jwt.encode(_claims(user.id), secret, "HS512"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': str(user.id)})}.",
        "alg none with exp": _b64({"alg": "none", "typ": "JWT"})
        + "."
        + _b64({"sub": str(user.id), "exp": int((now + timedelta(minutes=5)).timestamp())})
        + ".",
        "unknown user": jwt.encode(_claims(uuid.uuid4()), secret, "HS256"),
        "subject not a uuid": jwt.encode(_claims(user.id) | {"sub": "ada"}, secret, "HS256"),
        "tampered payload": _tamper(issue_user_token(settings, user.id), uuid.uuid4()),
    }
    for name, token in bad.items():
        assert await _status(client, token) == 401, name


def _tamper(token: str, other: uuid.UUID) -> str:
    header, _, signature = token.split(".")
    payload = _b64(_claims(other) | {"iat": 0, "exp": 4102444800})
    return f"{header}.{payload}.{signature}"


async def test_audience_and_issuer_are_enforced(settings: Settings, user: User):
    configured = replace(settings, jwt_audience="messaging", jwt_issuer="https://id.example")
    async with AsyncTestClient(app=create_app(configured)) as client:
        assert await _status(client, issue_user_token(configured, user.id)) == 200
        secret = settings.jwt_secret
        wrong = {
            "no audience": jwt.encode(_claims(user.id, iss="https://id.example"), secret),
            "wrong audience": jwt.encode(
                _claims(user.id, aud="other", iss="https://id.example"), secret
            ),
            "no issuer": jwt.encode(_claims(user.id, aud="messaging"), secret),
            "wrong issuer": jwt.encode(
                _claims(user.id, aud="messaging", iss="https://evil.example"), secret
            ),
        }
        for name, token in wrong.items():
            assert await _status(client, token) == 401, name


async def test_rs256_public_key_mode(settings: Settings, user: User):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    configured = replace(
        settings, jwt_algorithm="RS256", jwt_public_key=public_pem, jwt_private_key=private_pem
    )
    async with AsyncTestClient(app=create_app(configured)) as client:
        assert await _status(client, issue_user_token(configured, user.id)) == 200
        # Algorithm confusion: an HS256 token "signed" with the public key must not pass.
        confused = _hs256_with_key(_claims(user.id), public_pem)
        assert await _status(client, confused) == 401
        # A token signed with the old shared secret is refused too.
        assert await _status(client, issue_user_token(settings, user.id)) == 401


def _hs256_with_key(claims: dict[str, object], key: str) -> str:
    import hashlib
    import hmac

    header = _b64({"alg": "HS256", "typ": "JWT"})
    payload = _b64(
        {k: int(v.timestamp()) if hasattr(v, "timestamp") else v for k, v in claims.items()}
    )
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


@no_database
async def test_service_token_cannot_use_user_endpoints(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    """Every end-user endpoint, whatever its method, body or query, refuses a service token."""
    headers = service_auth(settings)
    endpoints = [
        (method, route.path)
        for route in app.routes
        if route.path.startswith("/api/v1/messages")
        for method in route.methods
        if method not in {"OPTIONS", "HEAD"}
    ]
    assert len(endpoints) >= 11, endpoints
    for method, path in endpoints:
        path = re.sub(r"\{\w+:uuid\}", str(uuid.uuid4()), path)
        response = await client.request(
            method, path, json={}, params={"stray": "1"}, headers=headers
        )
        assert response.status_code == 403, (method, path, response.text)
        assert "end users" in response.json()["detail"]


async def test_user_token_cannot_provision(client: AsyncTestClient, settings: Settings, user: User):
    response = await client.put(
        f"/api/v1/users/{uuid.uuid4()}",
        json={"email": "x@example.com", "display_name": "X", "role": "candidate"},
        headers={"Authorization": f"Bearer {issue_user_token(settings, user.id)}"},
    )
    assert response.status_code == 403


async def test_provisioning_scope_among_other_scopes(client: AsyncTestClient, settings: Settings):
    token = jwt.encode(
        {
            "sub": "service:platform",
            "scope": "openid provisioning",
            "exp": utcnow() + timedelta(minutes=5),
        },
        settings.jwt_secret,
        "HS256",
    )
    response = await client.put(
        f"/api/v1/users/{uuid.uuid4()}",
        json={"email": "x@example.com", "display_name": "X", "role": "candidate"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201


async def test_token_not_yet_valid_says_so(client: AsyncTestClient, settings: Settings, user: User):
    later = utcnow() + timedelta(minutes=10)
    for name, claims in {
        "nbf in the future": _claims(user.id, nbf=later),
        "iat in the future": _claims(user.id) | {"iat": later},
    }.items():
        token = jwt.encode(claims, settings.jwt_secret, "HS256")
        response = await client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["detail"].startswith("token is not yet valid"), name
    # Within the 5-second leeway for clock skew, a token is accepted.
    token = jwt.encode(_claims(user.id, nbf=utcnow() + timedelta(seconds=2)), settings.jwt_secret)
    assert await _status(client, token) == 200


async def test_a_known_user_is_not_read_again_until_the_entry_expires(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    """Authentication remembers (id, role) per worker for a minute: no users row read per
    request. Once the entry expires the row is read again, so an unknown user is still 401."""
    user = await make_user(app, "candidate")
    headers = auth(settings, user)
    path = "/api/v1/messages/unread-count"
    assert (await client.get(path, headers=headers)).status_code == 200
    with statements(app.state.engine) as log:
        assert (await client.get(path, headers=headers)).status_code == 200
    assert not any("FROM users" in statement for statement in log), log

    clock = [0.0]
    app.state.known_users = KnownUsers(ttl=60.0, clock=lambda: clock[0])
    with statements(app.state.engine) as log:
        assert (await client.get(path, headers=headers)).status_code == 200
        assert (await client.get(path, headers=headers)).status_code == 200
    assert sum("FROM users" in statement for statement in log) == 1, log
    clock[0] = 60.0  # the entry has expired
    with statements(app.state.engine) as log:
        assert (await client.get(path, headers=headers)).status_code == 200
    assert any("FROM users" in statement for statement in log), log


def test_known_users_expire_and_stay_bounded() -> None:
    clock = [0.0]
    known = KnownUsers(ttl=60.0, max_size=2, clock=lambda: clock[0])
    first, second, third = (EndUser(uuid.uuid4(), "candidate") for _ in range(3))
    for user in (first, second, third):
        known.remember(user)
    assert known.get(first.id) is None  # the oldest made room
    assert known.get(second.id) == second and known.get(third.id) == third
    clock[0] = 59.9
    assert known.get(second.id) == second
    clock[0] = 60.0
    assert known.get(second.id) is None


@no_database
def test_a_verified_token_is_remembered_until_it_expires(settings: Settings) -> None:
    """The same token is not verified again while it is valid; its entry never outlives the
    token's exp (plus decode_token's leeway); a token that differs by a byte is verified."""
    clock = [time.time()]
    tokens = VerifiedTokens(settings, ttl=3600.0, clock=lambda: clock[0])
    token = issue_user_token(settings, uuid.uuid4(), ttl_seconds=60)
    claims = tokens.claims(token)
    assert tokens.claims(token) is claims  # remembered, not decoded again
    clock[0] = float(claims["exp"]) + LEEWAY_SECONDS
    assert tokens.claims(token) is not claims  # the entry ended with the token's validity

    header, payload, signature = token.split(".")
    forged = ".".join((header, payload, ("A" if signature[0] != "A" else "B") + signature[1:]))
    with pytest.raises(TokenError, match="signature"):
        tokens.claims(forged)
    with pytest.raises(TokenError, match="signature"):
        tokens.claims(forged)  # a refusal is never remembered


@no_database
def test_remembered_tokens_stay_bounded(settings: Settings) -> None:
    tokens = VerifiedTokens(settings, ttl=60.0, max_size=2)
    first, second, third = (issue_user_token(settings, uuid.uuid4()) for _ in range(3))
    remembered = [tokens.claims(token) for token in (first, second, third)]
    assert tokens.claims(third) is remembered[2] and tokens.claims(second) is remembered[1]
    assert tokens.claims(first) is not remembered[0]  # the oldest made room
