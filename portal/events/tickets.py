"""Tickets for ``GET /api/v1/events?ticket=…``: a browser's EventSource cannot send a bearer
token, so the client trades its token for a short-lived signed ticket naming the same user."""

from __future__ import annotations

import hashlib
import uuid

from itsdangerous import BadData, URLSafeTimedSerializer

from portal.principals import EndUser
from portal.settings import Settings

_SALT = "portal.events-ticket"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        settings.session_secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )


def issue_ticket(settings: Settings, user: EndUser) -> str:
    return _serializer(settings).dumps({"sub": str(user.id), "role": user.role})


def read_ticket(settings: Settings, ticket: str) -> EndUser | None:
    """The user a ticket was issued to, or None if it is forged, malformed or expired."""
    try:
        claims = _serializer(settings).loads(ticket, max_age=settings.events_ticket_seconds)
        return EndUser(id=uuid.UUID(str(claims["sub"])), role=str(claims["role"]))
    except (BadData, KeyError, TypeError, ValueError):
        return None
