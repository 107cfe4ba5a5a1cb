"""A large queue, inserted in bulk: ``reports`` open reports, ``per_message`` on each message,
from distinct reporters, spread over many senders and threads."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import write_transaction
from portal.models import FlagReport, Message, MessageThread, User
from portal.models.base import new_id, utcnow
from portal.models.moderation import FLAG_REASONS

CHUNK = 1000


async def _insert(session: AsyncSession, model: type, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), CHUNK):
        await session.execute(insert(model), rows[start : start + CHUNK])


async def seed_open_reports(
    session: AsyncSession, reports: int = 10_000, *, per_message: int = 2, people: int = 60
) -> int:
    """Returns the number of reported messages."""
    now = utcnow()
    messages = reports // per_message
    employers = [{"id": new_id(), "role": "employer"} for _ in range(people)]
    candidates = [{"id": new_id(), "role": "candidate"} for _ in range(people)]
    users = [
        {
            **u,
            "email": f"bulk-{u['id'].hex}@example.com",
            "display_name": f"Bulk {u['role']} {n}",
        }
        for n, u in enumerate(employers + candidates)
    ]
    threads: dict[tuple[int, int], dict[str, object]] = {}
    message_rows: list[dict[str, object]] = []
    report_rows: list[dict[str, object]] = []
    for n in range(messages):
        e, c = n % people, (n // people) % people
        thread = threads.setdefault(
            (e, c),
            {
                "id": new_id(),
                "employer_id": employers[e]["id"],
                "candidate_id": candidates[c]["id"],
                "last_message_at": now,
            },
        )
        message_id = new_id()
        sent_at = now - timedelta(minutes=n % 5000)
        message_rows.append(
            {
                "id": message_id,
                "thread_id": thread["id"],
                "sender_id": employers[e]["id"],
                "recipient_id": candidates[c]["id"],
                "body": f"Bulk message {n} with some words to show in the excerpt",
                "created_at": sent_at,
            }
        )
        for k in range(per_message):
            reporter = candidates[(c + k) % people]["id"]
            report_rows.append(
                {
                    "id": new_id(),
                    "message_id": message_id,
                    "reporter_id": reporter,
                    "reason": FLAG_REASONS[(n + k) % len(FLAG_REASONS)],
                    "created_at": sent_at + timedelta(seconds=k + 1),
                }
            )
    async with write_transaction(session):
        await _insert(session, User, users)
        await _insert(session, MessageThread, list(threads.values()))
        await _insert(session, Message, message_rows)
        await _insert(session, FlagReport, report_rows)
    return messages
