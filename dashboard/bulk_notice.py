"""The result of a bulk decision, carried to the queue page across its redirect (post/redirect/
get: reloading the result shows the queue, it does not decide again).

The result rides in the staff session (an encrypted cookie) for the one page view that shows it.
A bulk decision takes up to 200 items, so the cookie keeps the counts and at most
:data:`SHOWN_SKIPPED` skipped items, which the notice lists (the count says how many there were)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from litestar import Request

from portal.services.moderation_types import BulkResult, SkippedItem

SESSION_KEY = "bulk_result"
SHOWN_SKIPPED = 20


@dataclass(frozen=True)
class Counted:
    """How many there were (``len``) and the ones kept to show (iteration)."""

    total: int
    shown: tuple[SkippedItem, ...] = ()

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[SkippedItem]:
        return iter(self.shown)


@dataclass(frozen=True)
class BulkNotice:
    """What the queue page's notice reads, shaped as :class:`BulkResult` is."""

    decided: Counted
    skipped: Counted


def remember(request: Request[Any, Any, Any], action: str, result: BulkResult) -> None:
    kept = [
        [item.message_id.hex, item.decided_by_name, item.decision, item.reason]
        for item in result.skipped[:SHOWN_SKIPPED]
    ]
    stored = {
        "action": action,
        "decided": len(result.decided),
        "skipped": len(result.skipped),
        "items": kept,
    }
    request.set_session({**request.session, SESSION_KEY: stored})


def recall(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The template context of the notice (``bulk``, ``bulk_action``), once; empty after that."""
    session = request.session
    stored = session.get(SESSION_KEY)
    if stored is None:
        return {}
    request.set_session({key: value for key, value in session.items() if key != SESSION_KEY})
    try:
        items = tuple(
            SkippedItem(uuid.UUID(hex=str(m)), n or None, d or None, str(r or ""))
            for m, n, d, r in stored["items"]
        )
        notice = BulkNotice(Counted(int(stored["decided"])), Counted(int(stored["skipped"]), items))
        return {"bulk": notice, "bulk_action": str(stored["action"])}
    except (KeyError, TypeError, ValueError):  # not what :func:`remember` wrote
        return {}
