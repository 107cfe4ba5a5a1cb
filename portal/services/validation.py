"""Checks on input shared by several services; each raises InvalidInput naming the field."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from portal.errors import InvalidInput

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def email_address(field: str, value: str) -> str:
    value = value.strip()
    if len(value) > 320 or not _EMAIL.match(value):
        raise InvalidInput(field, f"{value!r} is not an email address")
    return value.lower()


def one_of(field: str, value: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise InvalidInput(field, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def text(field: str, value: str, *, max_length: int, min_length: int = 1) -> str:
    value = value.strip()
    if len(value) < min_length:
        raise InvalidInput(field, "must not be empty" if min_length == 1 else "is too short")
    if len(value) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters")
    return value


def uuid_value(field: str, value: str | uuid.UUID) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        raise InvalidInput(field, f"{value!r} is not a UUID") from None
