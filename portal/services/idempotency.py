"""Client idempotency keys for sends: a retry with the same key gets the first answer.

The key is looked up and stored inside the send's own transaction, after the sender's row is
locked (SQLite: after BEGIN IMMEDIATE), so a concurrent duplicate waits for the first to finish
and then replays its answer, and a send that fails or is refused leaves nothing behind: a retry
after a failure that wrote nothing sends (Stripe's semantics). Nothing is ever "in progress" for
longer than the send's transaction.

Rows with status ``in_progress`` came from the earlier protocol, which claimed a key in a
transaction of its own; while one is within its ``locked_until`` a retry gets 409 with a
Retry-After that says when it lapses, after which a retry takes the key over.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.errors import Conflict, InvalidInput, Unprocessable
from portal.models import IdempotencyKey
from portal.models.base import new_id, utcnow

MAX_KEY_LENGTH: Final = 255


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class KeyedRequest:
    """A request under a client's key: who sent it, the key, and a hash of what was asked."""

    user_id: uuid.UUID
    key: str
    request_hash: str

    def __post_init__(self) -> None:
        if not self.key or len(self.key) > MAX_KEY_LENGTH or "\x00" in self.key:
            raise InvalidInput("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} characters")


class Replay(Exception):
    """Raised inside the send's transaction when the key was used before: nothing is written,
    and the caller answers with ``response``."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("replay")
        self.response = response


class KeyInProgress(Conflict):
    """409: a request with this key is still running elsewhere; try again after Retry-After."""

    code = "idempotency_key_in_progress"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            "Idempotency-Key: a request with this key is still in progress", field="Idempotency-Key"
        )
        self.retry_after_seconds = retry_after_seconds


def fingerprint(payload: Any) -> str:
    """A stable hash of a JSON-shaped request, so equal bodies match whatever their key order."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _key_row(session: AsyncSession, request: KeyedRequest) -> IdempotencyKey | None:
    key = await session.scalar(
        select(IdempotencyKey)
        .where(IdempotencyKey.user_id == request.user_id, IdempotencyKey.key == request.key)
        .execution_options(populate_existing=True)
    )
    return key


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


async def replay_if_used(session: AsyncSession, request: KeyedRequest) -> None:
    """Raises Replay with the stored answer if the key was used for this same request before.

    Call it inside the send's transaction once the sender's sends are serialised. Unprocessable
    if the key was used for a different request; KeyInProgress while an earlier-protocol claim
    on it has not lapsed.
    """
    row = await _key_row(session, request)
    if row is None:
        return
    if row.request_hash != request.request_hash:
        raise Unprocessable(
            "Idempotency-Key: this key was already used for a different request",
            code="idempotency_key_reused",
            field="Idempotency-Key",
        )
    if row.status == "completed" and row.response_status is not None:
        raise Replay(StoredResponse(status=row.response_status, body=row.response_body or {}))
    now = utcnow()
    if row.locked_until is not None and row.locked_until > now:
        raise KeyInProgress(_seconds_until(row.locked_until, now))


async def remember(
    session: AsyncSession, request: KeyedRequest, *, status: int, body: dict[str, Any]
) -> None:
    """Stores the answer under the key, in the transaction that does the work, so both commit
    together or neither does. A lapsed earlier-protocol claim on the key is replaced."""
    await session.execute(
        delete(IdempotencyKey)
        .where(
            IdempotencyKey.user_id == request.user_id,
            IdempotencyKey.key == request.key,
            IdempotencyKey.status == "in_progress",
        )
        .execution_options(synchronize_session=False)
    )
    now = utcnow()
    row = IdempotencyKey(
        id=new_id(),
        user_id=request.user_id,
        key=request.key,
        request_hash=request.request_hash,
        status="completed",
        locked_until=None,
        response_status=status,
        response_body=body,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Only a process still on the earlier protocol can claim the key outside the sender's
        # lock; this send rolls back and the retry finds that claim or its answer.
        raise KeyInProgress(1) from None
