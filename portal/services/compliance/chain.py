"""The audit chain's format, with no database: what an event's hash covers and how it is made.

An event's hash is SHA-256 over the previous event's hash (64 hex characters; the genesis value
for the first event of a chain) followed by the event's fields in RFC 8785 canonical JSON. The
offline verifier, the database check and the migration that chained the first rows all use
these functions, so the format must never change.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any, Final

import rfc8785

GENESIS_HASH: Final = "0" * 64
GLOBAL_CHAIN: Final = "global"
EVENT_FIELDS: Final = (
    "id",
    "chain",
    "position",
    "occurred_at",
    "actor_type",
    "actor_id",
    "action",
    "subject_type",
    "subject_id",
    "thread_id",
    "details",
)
CONTENT_FIELDS: Final = ("subject", "body", "body_format", "attachments")


def chain_key(thread_id: uuid.UUID | str | None) -> str:
    """One chain per thread; events tied to no thread share the global chain."""
    return GLOBAL_CHAIN if thread_id is None else f"thread:{thread_id}"


_MAX_EXACT_INTEGER: Final = 2**53 - 1


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON of ``value``.

    For the values the portal writes (ASCII keys, strings, small integers, no floats) the
    standard library's sorted, compact, non-ASCII-preserving encoding is byte for byte the
    canonical form, and many times faster; anything else goes to the ``rfc8785`` reference
    implementation (tests/portal/test_audit_canonical.py checks the two agree).
    """
    if _plain(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8"
        )
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if item is None or isinstance(item, str | bool):
            continue
        if isinstance(item, int):
            if -_MAX_EXACT_INTEGER <= item <= _MAX_EXACT_INTEGER:
                continue
            return False
        if isinstance(item, dict):
            if not all(isinstance(key, str) and key.isascii() for key in item):
                return False
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        else:
            return False
    return True


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON (datetimes and UUIDs as strings), exactly as the database keeps
    it, so what is hashed equals what is stored and read back."""
    return json.loads(json.dumps(value, default=_as_text))


def _as_text(value: Any) -> str:
    if isinstance(value, datetime):
        return timestamp(value)
    return str(value)


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(canonical({name: fields[name] for name in EVENT_FIELDS}))
    return digest.hexdigest()


def content_digest(content: dict[str, Any]) -> str:
    """SHA-256 of a message's content (subject, body, format, attachment metadata): a report's
    message text is proven by the chain that holds this digest, not the text."""
    fields = {name: content.get(name) for name in CONTENT_FIELDS}
    return hashlib.sha256(canonical(fields if _plain(fields) else json_safe(fields))).hexdigest()
