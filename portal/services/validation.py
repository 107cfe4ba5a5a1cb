"""Checks on input shared by several services; each raises InvalidInput naming the field."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from portal.errors import InvalidInput

# Also published in the OpenAPI document, so that what it calls valid is what is accepted; written
# to mean the same in Python's and ECMAScript's regex dialects, whose \s differ.
_EMAIL_PART = r"[^@\s\x00-\x20\x7f-\x9f\ufeff]+"
# (?![\s\S]) is "end of text" in both; Python's $ would also match before a final newline.
EMAIL_PATTERN = rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}(?![\s\S])"
NOT_BLANK = r"[^\s\x1c-\x1f\x85\ufeff]"  # one character that is not white space in either
_EMAIL = re.compile(EMAIL_PATTERN)


def email_address(field: str, value: str) -> str:
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


def optional_note(field: str, value: str | None, *, max_length: int) -> str | None:
    """A free-text note: trimmed, None when blank, no NUL characters (PostgreSQL refuses them)."""
    if value is None:
        return None
    if "\x00" in value:
        raise InvalidInput(field, "must not contain NUL characters")
    value = value.strip()
    if len(value) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters")
    return value or None
