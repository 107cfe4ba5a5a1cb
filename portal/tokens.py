"""JWTs the API accepts: user tokens (``sub`` = user id) and provisioning service tokens."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt

from portal.expiring import ExpiringMap
from portal.models.base import utcnow
from portal.settings import Settings

PROVISIONING_SCOPE = "provisioning"
SERVICE_SUBJECT = "service:platform"


class TokenError(Exception):
    """The token is not acceptable; the message says why (safe to show the client)."""


def _claims(settings: Settings, subject: str, ttl_seconds: int) -> dict[str, Any]:
    now = utcnow()
    claims: dict[str, Any] = {
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return claims


def _sign(settings: Settings, claims: dict[str, Any]) -> str:
    key = settings.jwt_signing_key
    if not key:
        raise TokenError(
            f"cannot sign {settings.jwt_algorithm} tokens: set PORTAL_JWT_PRIVATE_KEY (or _FILE)"
        )
    return jwt.encode(claims, key, algorithm=settings.jwt_algorithm)


def issue_user_token(settings: Settings, user_id: uuid.UUID, ttl_seconds: int | None = None) -> str:
    ttl = ttl_seconds or settings.jwt_default_ttl_seconds
    return _sign(settings, _claims(settings, str(user_id), ttl))


def issue_service_token(settings: Settings, ttl_seconds: int | None = None) -> str:
    claims = _claims(settings, SERVICE_SUBJECT, ttl_seconds or settings.jwt_default_ttl_seconds)
    claims["scope"] = PROVISIONING_SCOPE
    return _sign(settings, claims)


LEEWAY_SECONDS = 5


def decode_token(settings: Settings, token: str) -> dict[str, Any]:
    """Verified claims, or TokenError. Only the configured algorithm is accepted, and ``exp`` is
    required, so ``alg: none``, algorithm confusion and eternal tokens are all refused."""
    try:
        return jwt.decode(
            token,
            settings.jwt_verify_key,
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={
                "require": ["exp", "sub"],
                "verify_aud": settings.jwt_audience is not None,
                "verify_iss": settings.jwt_issuer is not None,
            },
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token has expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenError("token is not yet valid (nbf or iat is in the future)") from None
    except jwt.InvalidAudienceError:
        raise TokenError("token audience is not accepted") from None
    except jwt.InvalidIssuerError:
        raise TokenError("token issuer is not accepted") from None
    except jwt.InvalidAlgorithmError:
        raise TokenError("token algorithm is not accepted") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError(f"token has no {exc.claim} claim") from None
    except jwt.InvalidSignatureError:
        raise TokenError("token signature is invalid") from None
    except jwt.PyJWTError:
        raise TokenError("token is malformed") from None


class VerifiedTokens:
    """Tokens this process verified lately, with their claims, so that a client's next request
    with the same token skips the signature check and JSON parsing.

    An entry lasts until the token's own ``exp`` (plus the leeway :func:`decode_token` allows)
    and never longer than ``ttl`` seconds; a token is only ever accepted here if the same bytes
    were verified before, so a forged or altered token always goes through verification.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        ttl: float = 300.0,
        max_size: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.ttl = ttl
        self._claims: ExpiringMap[str, dict[str, Any]] = ExpiringMap(max_size, clock)

    def claims(self, token: str) -> dict[str, Any]:
        """The token's verified claims (do not change them), or TokenError."""
        claims = self._claims.get(token)
        if claims is None:
            claims = decode_token(self.settings, token)
            now = self._claims.clock()
            expires_at = min(float(claims["exp"]) + LEEWAY_SECONDS, now + self.ttl)
            self._claims.put(token, claims, expires_at)
        return claims
