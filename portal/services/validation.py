"""Checks on input shared by several services; each raises InvalidInput naming the field."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from portal.errors import InvalidInput

# Also published in the OpenAPI document, so that what it calls valid is what is accepted; written
# to mean the same in Python's and ECMAScript's regex dialects, whose \s differ.
# Control characters, bidi embeddings, overrides and isolates (which can make a name read as
# something else), and the Unicode line and paragraph separators.
_CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
# In multi-line text (notes): the C0 and C1 controls except tab, line feed and carriage return.
_TEXT_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_EMAIL_PART = rf"[^@\s{_CONTROLS}\ufeff]+"
# (?![\s\S]) is "end of text" in both; Python's $ would also match before a final newline.
EMAIL_PATTERN = rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}(?![\s\S])"
NOT_BLANK = r"[^\s\x1c-\x1f\x85\ufeff]"  # one character that is not white space in either
# A name or title: one line, not blank, no control characters.
ONE_LINE_PATTERN = rf"^[^{_CONTROLS}]*[^\s{_CONTROLS}\ufeff][^{_CONTROLS}]*(?![\s\S])"
# A free-text note: any number of lines, no NUL or other control characters.
NOTE_PATTERN = rf"^[^{_TEXT_CONTROLS}]*(?![\s\S])"
_EMAIL = re.compile(EMAIL_PATTERN)
# Lone surrogates cannot be stored as UTF-8 (JSON decoding refuses them, but not every caller
# comes through JSON), so the checks in Python refuse them too.
_LINE_REFUSED = re.compile(rf"[{_CONTROLS}\ud800-\udfff]")
_NOTE_REFUSED = re.compile(rf"[{_TEXT_CONTROLS}\ud800-\udfff]")


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
    """One line of text (a name, a title): trimmed, without control characters."""
    if _LINE_REFUSED.search(value):
        raise InvalidInput(field, "must be one line of text without control characters")
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
    """A free-text note: trimmed, None when blank, no NUL (PostgreSQL refuses it) or other
    control characters; tabs and line breaks are fine."""
    if value is None:
        return None
    if _NOTE_REFUSED.search(value):
        raise InvalidInput(field, "must not contain NUL or other control characters")
    value = value.strip()
    if len(value) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters")
    return value or None
