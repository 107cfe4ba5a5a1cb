"""Who is signed in on the staff side: one session cookie for /mod (and later /admin).

The session is Litestar's client-side cookie session (AES-GCM, key derived from
``PORTAL_SESSION_SECRET``), HttpOnly, SameSite=Lax, Secure when ``PORTAL_BASE_URL`` is https. It
holds the staff id, when it was issued and when it was last used, a fingerprint of the
password hash and the account's session epoch when it began. :func:`current_staff` is the only
place that turns a request into a staff member: it enforces the idle and absolute expiry, and
re-reads the account on every request, so that a sign-out (anywhere), a deactivation, a role
change or a password reset takes effect at once. Sign-out and deactivation move the account's
epoch on, so a session from before never works again, even after a reactivation.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from hmac import compare_digest
from typing import Any
from urllib.parse import quote, unquote

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.csrf import generate_csrf_token
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.types import Message, Scope
from litestar.utils.scope.state import ScopeState

from portal import permissions
from portal.database import request_session
from portal.models import StaffUser
from portal.permissions import Capability
from portal.settings import Settings

SESSION_COOKIE = "portal_staff"
IDLE_TIMEOUT_SECONDS = 60 * 60
ABSOLUTE_TIMEOUT_SECONDS = 12 * 60 * 60
# Rewriting the cookie on every request only to move "last seen" by a second is wasted work.
SEEN_RESOLUTION_SECONDS = 60
LOGIN_PATH = "/mod/login"
_STATE_KEY = "portal_staff"


def now_seconds() -> int:
    """The session clock (tests replace it to expire sessions)."""
    return int(time.time())


def session_config(settings: Settings) -> CookieBackendConfig:
    return CookieBackendConfig(
        secret=hashlib.sha256(("staff-session:" + settings.session_secret).encode()).digest(),
        key=SESSION_COOKIE,
        max_age=ABSOLUTE_TIMEOUT_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https://"),
        exclude=["^/api/", "^/static/", "^/schema", "^/health"],
    )


def _password_fingerprint(staff: StaffUser) -> str:
    return hashlib.sha256(staff.password_hash.encode()).hexdigest()[:16]


# The CSRF token is bound to the session and replaced when one begins or ends: a token (or a
# CSRF cookie planted by someone else) from before a sign-in is worth nothing after it.
_NEW_CSRF_TOKEN = "portal_new_csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _csrf_binding(token: str) -> str:
    return hashlib.sha256(("csrf-binding:" + token).encode()).hexdigest()[:32]


def _rotate_csrf_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """A fresh CSRF token for the rest of this request and, through the response's cookie
    (:func:`set_rotated_csrf_cookie`), for the next ones."""
    config = connection.app.csrf_config
    if config is None:
        return ""
    token = generate_csrf_token(secret=config.secret)
    ScopeState.from_scope(connection.scope).csrf_token = token
    connection.scope.setdefault("state", {})[_NEW_CSRF_TOKEN] = token
    return token


async def set_rotated_csrf_cookie(message: Message, scope: Scope) -> None:
    """Before-send hook: the cookie of a CSRF token a sign-in or sign-out replaced."""
    token = scope.get("state", {}).get(_NEW_CSRF_TOKEN)
    if token is None or message["type"] != "http.response.start":
        return
    config = scope["litestar_app"].csrf_config
    if config is None:  # without CSRF protection no token is rotated
        return
    cookie = Cookie(
        key=config.cookie_name,
        value=token,
        path=config.cookie_path,
        secure=config.cookie_secure,
        httponly=config.cookie_httponly,
        samesite=config.cookie_samesite,
        domain=config.cookie_domain,
    )
    MutableScopeHeaders.from_message(message).add("set-cookie", cookie.to_header(header=""))


def _csrf_cookie(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    config = connection.app.csrf_config
    return connection.cookies.get(config.cookie_name, "") if config is not None else ""


def sign_in(connection: ASGIConnection[Any, Any, Any, Any], staff: StaffUser) -> None:
    """Starts a new session for ``staff``, replacing whatever the cookie held, with a new CSRF
    token bound to it."""
    now = now_seconds()
    token = _rotate_csrf_token(connection)
    connection.set_session(
        {
            "staff_id": str(staff.id),
            "iat": now,
            "seen": now,
            "pwv": _password_fingerprint(staff),
            "epoch": staff.session_epoch,
            "csrf": _csrf_binding(token),
        }
    )
    connection.state[_STATE_KEY] = staff


def staff_of(connection: ASGIConnection[Any, Any, Any, Any]) -> StaffUser | None:
    """Who :func:`current_staff` found for this request, without asking again (None if nobody)."""
    staff: StaffUser | None = connection.state.get(_STATE_KEY)
    return staff


def sign_out(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    connection.clear_session()
    connection.state[_STATE_KEY] = None
    _rotate_csrf_token(connection)


def _session_data(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
    if "session" not in connection.scope:
        return {}
    data = connection.scope.get("session")
    return data if isinstance(data, dict) else {}


async def current_staff(connection: ASGIConnection[Any, Any, Any, Any]) -> StaffUser | None:
    """The signed-in, active staff member of this request, or None (the session is then cleared)."""
    if _STATE_KEY in connection.state:
        found: StaffUser | None = connection.state[_STATE_KEY]
        return found
    staff = await _load_staff(connection)
    connection.state[_STATE_KEY] = staff
    return staff


async def _load_staff(connection: ASGIConnection[Any, Any, Any, Any]) -> StaffUser | None:
    data = _session_data(connection)
    if not data.get("staff_id"):
        return None
    now = now_seconds()
    try:
        staff_id = uuid.UUID(str(data["staff_id"]))
        issued, seen = int(data["iat"]), int(data["seen"])
        epoch = int(data["epoch"])
    except (KeyError, TypeError, ValueError):
        connection.clear_session()
        return None
    if now - issued > ABSOLUTE_TIMEOUT_SECONDS or now - seen > IDLE_TIMEOUT_SECONDS:
        connection.clear_session()
        return None
    if connection.scope.get("method") not in _SAFE_METHODS and not compare_digest(
        str(data.get("csrf", "")), _csrf_binding(_csrf_cookie(connection))
    ):
        # the CSRF check passed, with a token this session was not given
        raise PermissionDeniedException("CSRF token verification failed")
    db = await request_session()
    staff = await db.get(StaffUser, staff_id, populate_existing=True)
    if staff is not None:
        # the request's own copy, out of the session: a refused action rolls the session back,
        # which would expire it under the page that still shows who is signed in
        db.expunge(staff)
    if (
        staff is None
        or not staff.is_active
        or staff.session_epoch != epoch
        or data.get("pwv") != _password_fingerprint(staff)
    ):
        connection.clear_session()
        return None
    if now - seen >= SEEN_RESOLUTION_SECONDS:
        connection.set_session({**data, "seen": now})
    return staff


def safe_next(target: str | None) -> str:
    """A same-site path under /mod or /admin to go to after sign-in; anything else is /mod.

    Judged on the path as a browser will resolve it: percent-escapes decoded, and no empty,
    ``.`` or ``..`` segment (``/mod/..//evil.example`` resolves to ``//evil.example``, another
    site)."""
    if not target or any(ord(ch) < 0x20 or ch == "\\" for ch in target):
        return "/mod"
    if not target.startswith("/") or target.startswith("//"):
        return "/mod"
    path = target.split("?", 1)[0].split("#", 1)[0]
    decoded = unquote(path)
    if any(ord(ch) < 0x20 or ch == "\\" for ch in decoded):
        return "/mod"
    segments = decoded.split("/")[1:]
    if any(segment in ("", ".", "..") for segment in segments[:-1]) or segments[-1] in (".", ".."):
        return "/mod"
    if decoded in ("/mod", "/admin") or decoded.startswith(("/mod/", "/admin/")):
        if decoded.startswith(LOGIN_PATH):
            return "/mod"
        return target
    return "/mod"


def login_url(next_path: str | None) -> str:
    target = safe_next(next_path)
    return LOGIN_PATH if target == "/mod" else f"{LOGIN_PATH}?next={quote(target, safe='/')}"


class SignInRequired(NotAuthorizedException):
    """Raised by the guards for a signed-out visit; answered with a redirect to the sign-in page."""


def requires(
    capability: Capability,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]:
    """A route guard: signed in (else :class:`SignInRequired`), and allowed ``capability`` by
    ``portal.permissions`` (else 403). The services the route calls check it again."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        staff = await current_staff(connection)
        if staff is None:
            raise SignInRequired("sign in first")
        if not permissions.may(staff, capability):
            raise PermissionDeniedException(permissions.refusal(staff, capability).detail)

    guard.__name__ = f"requires_{capability.name.lower()}"
    return guard
