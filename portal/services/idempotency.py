"""Client idempotency keys for sends: a retry with the same key gets the first answer.

A key is claimed in a transaction of its own (so a concurrent retry sees it in flight), completed
inside the send's transaction (so the stored answer and the message commit together), and
released if the send is refused, so that the client may try again.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import get_or_insert, write_transaction
from portal.errors import Conflict, InvalidInput, Unprocessable
from portal.models import IdempotencyKey
from portal.models.base import new_id, utcnow

MAX_KEY_LENGTH: Final = 255
CLAIM_TIMEOUT: Final = timedelta(seconds=60)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """A claimed key (``replay`` is None), or the answer a completed request with it got."""

    key_id: uuid.UUID
    locked_until: datetime | None = None
    replay: StoredResponse | None = None


def fingerprint(payload: Any) -> str:
    """A stable hash of a JSON-shaped request, so equal bodies match whatever their key order."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _key_row(session: AsyncSession, user_id: uuid.UUID, key: str) -> IdempotencyKey | None:
    return await session.scalar(
        select(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def claim(session: AsyncSession, *, user_id: uuid.UUID, key: str, request_hash: str) -> Claim:
    """Claims ``key`` for this request, or says what became of the first request with it.

    Unprocessable if the key was used with a different request; Conflict while the first request
    with it is still running (a claim older than CLAIM_TIMEOUT counts as abandoned).
    """
    if not key or len(key) > MAX_KEY_LENGTH or "\x00" in key:
        raise InvalidInput("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} characters")
    async with write_transaction(session):
        now = utcnow()
        row, created = await get_or_insert(
            session,
            find=lambda: _key_row(session, user_id, key),
            make=lambda: IdempotencyKey(
                id=new_id(),
                user_id=user_id,
                key=key,
                request_hash=request_hash,
                status="in_progress",
                locked_until=now + CLAIM_TIMEOUT,
                created_at=now,
            ),
        )
        if created:
            return Claim(key_id=row.id, locked_until=row.locked_until)
        if row.request_hash != request_hash:
            raise Unprocessable(
                "Idempotency-Key: this key was already used for a different request"
            )
        if row.status == "completed" and row.response_status is not None:
            return Claim(
                key_id=row.id,
                replay=StoredResponse(status=row.response_status, body=row.response_body or {}),
            )
        if row.locked_until is not None and row.locked_until > now:
            raise Conflict("Idempotency-Key: a request with this key is still in progress")
        row.locked_until = now + CLAIM_TIMEOUT
        await session.flush()
    return Claim(key_id=row.id, locked_until=row.locked_until)


async def complete(
    session: AsyncSession, claimed: Claim, *, status: int, body: dict[str, Any]
) -> None:
    """Stores the answer; call it inside the transaction that does the claimed work.

    Conflict (which rolls that work back) if the claim lapsed and a retry took the key over
    meanwhile: only one of the two may do the work.
    """
    result = await session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.id == claimed.key_id,
            IdempotencyKey.status == "in_progress",
            IdempotencyKey.locked_until == claimed.locked_until,
        )
        .values(status="completed", locked_until=None, response_status=status, response_body=body)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict("Idempotency-Key: a retry with this key took over this request")


async def release(session: AsyncSession, claimed: Claim) -> None:
    """Forgets a claim whose request was refused, so the client can retry with the same key."""
    async with write_transaction(session):
        await session.execute(
            delete(IdempotencyKey)
            .where(IdempotencyKey.id == claimed.key_id, IdempotencyKey.status == "in_progress")
            .execution_options(synchronize_session=False)
        )
