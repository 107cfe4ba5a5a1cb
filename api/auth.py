"""JWT bearer authentication for /api/v1.

A token's ``sub`` names a user this service knows; a token with ``scope: provisioning`` is the
platform's backend. Anything else — no token, a malformed, expired, wrongly signed or
wrong-algorithm token, a wrong audience or issuer, an unknown user — is 401.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, TypeAlias

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from portal.database import request_session
from portal.principals import EndUser, KnownUsers
from portal.services import users
from portal.tokens import PROVISIONING_SCOPE, TokenError, VerifiedTokens

# Any handler, user, auth and state: the checks here read the headers and the scope.
Connection: TypeAlias = ASGIConnection[Any, Any, Any, Any]

# A route handler's ``opt`` entry that admits end users only: a service token is refused (403)
# as soon as it is authenticated, before anything about the request is looked at.
CALLER = "caller"
END_USERS = "end users"
END_USERS_ONLY = "this endpoint is for end users, not service tokens"
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="api"'}


@dataclass(frozen=True)
class PlatformService:
    """The platform's backend, acting with a provisioning token."""

    subject: str


def _unauthorized(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail=detail, headers=BEARER_CHALLENGE)


def bearer_token(connection: Connection) -> str:
    header = connection.headers.get("authorization")
    if not header:
        raise _unauthorized("missing bearer token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("authorization header must be 'Bearer <token>'")
    return token.strip()


class JWTAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: Connection) -> AuthenticationResult:
        tokens: VerifiedTokens = connection.app.state.verified_tokens
        try:
            claims = tokens.claims(bearer_token(connection))
        except TokenError as exc:
            raise _unauthorized(str(exc)) from None
        # OAuth scopes are one space-separated string ("openid provisioning").
        if PROVISIONING_SCOPE in str(claims.get("scope", "")).split():
            if connection.route_handler.opt.get(CALLER) == END_USERS:
                raise PermissionDeniedException(END_USERS_ONLY)
            return AuthenticationResult(user=PlatformService(str(claims["sub"])), auth=claims)
        try:
            user_id = uuid.UUID(str(claims["sub"]))
        except ValueError:
            raise _unauthorized("token subject is not a user id") from None
        state = connection.app.state
        known: KnownUsers = state.known_users
        user = known.get(user_id)
        if user is None:
            user = await _load_user(connection, user_id)
            known.remember(user)
        return AuthenticationResult(user=user, auth=claims)


async def _load_user(connection: Connection, user_id: uuid.UUID) -> EndUser:
    """The token's user, marked active, read on the request's session (401 if unknown)."""
    user = await users.authenticate_user(await request_session(), user_id)
    if user is None:
        raise _unauthorized("token names an unknown user")
    return user


def _principal(connection: Connection) -> object:
    """Who the middleware authenticated; None for requests it lets through (CORS preflight)."""
    return connection.scope.get("user")


def _is_preflight(connection: Connection) -> bool:
    return connection.scope.get("method") == "OPTIONS"


# A guard, async although it does no I/O: Litestar runs a sync guard in its thread pool.
async def requires_provisioning(connection: Connection, _: BaseRouteHandler) -> None:
    if _is_preflight(connection):
        return
    if not isinstance(_principal(connection), PlatformService):
        raise PermissionDeniedException("this endpoint needs a provisioning service token")
