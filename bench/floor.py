"""The floor: each operation's database work, issued by hand from one asyncio psycopg process.

These are the statements the operation needs and no more: authenticate (the token's user row),
then the operation's reads, or for a write its transaction (the locks, the rate-limit count, the
rule checks, the insert or update, the audit row with its hash chain). One statement at a time,
each a round trip, with psycopg's automatic prepared statements, BEGIN/COMMIT only where the
operation needs one snapshot or one atomic change. What the floor leaves out is what the API adds
on top of the database: HTTP, JSON, JWT verification, validation, the ORM.

Each connection of ``connections`` runs its operation in a loop for ``seconds``; every latency is
kept, so p50 and p99 are exact.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from uuid_utils.compat import uuid7

from portal.services import inbox_totals
from portal.services.compliance.chain import (
    GENESIS_HASH,
    chain_key,
    content_digest,
    event_hash,
    timestamp,
)

USER_COLUMNS = "id, role, display_name, last_active_at, is_suspended, suspended_until"
THREAD_COLUMNS = (
    "t.id, t.application_id, t.employer_id, t.candidate_id, t.subject, t.last_message_at, "
    "t.unread_count_employer, t.unread_count_candidate, t.archived_by_employer, "
    "t.archived_by_candidate, t.deleted_by_employer_at, t.deleted_by_candidate_at, "
    "t.is_deleted, t.created_at, t.updated_at"
)
MESSAGE_COLUMNS = (
    "m.id, m.thread_id, m.sender_id, m.recipient_id, m.subject, m.body, m.body_format, "
    "m.message_type, m.attachments, m.is_read, m.read_at, m.is_removed, m.purged_at, "
    "m.created_at"
)


def _side(role: str) -> str:
    return "employer" if role == "employer" else "candidate"


def _other(role: str) -> str:
    return "candidate" if role == "employer" else "employer"


def _visible(role: str) -> str:
    side = _side(role)
    return (
        f"t.{side}_id = %(me)s AND t.is_deleted = false AND "
        f"(t.deleted_by_{side}_at IS NULL OR t.last_message_at > t.deleted_by_{side}_at)"
    )


@dataclass(frozen=True)
class Sample:
    """A request the floor makes: who (id and role) and the operation's own arguments."""

    user_id: uuid.UUID
    role: str
    target: uuid.UUID | None = None  # thread (detail), message (read) or recipient (send)
    page: int = 1
    body: str = ""
    after: uuid.UUID | None = None  # thread detail from this message on (the cursor)


Operation = Callable[[psycopg.AsyncConnection[Any], Sample], Awaitable[bool]]


async def _authenticate(conn: psycopg.AsyncConnection[Any], sample: Sample) -> tuple[Any, ...]:
    cur = await conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (sample.user_id,))
    row = await cur.fetchone()
    assert row is not None
    return row


async def list_threads(conn: psycopg.AsyncConnection[Any], sample: Sample) -> bool:
    await _authenticate(conn, sample)
    side, other = _side(sample.role), _other(sample.role)
    params = {"me": sample.user_id, "limit": 20, "offset": 0}
    async with conn.transaction():
        await (
            await conn.execute(
                "SELECT inbox_threads, unread_messages FROM inbox_totals WHERE user_id = %(me)s",
                params,
            )
        ).fetchone()
        await (
            await conn.execute(
                f"SELECT {THREAD_COLUMNS}, u.id, u.display_name, u.role FROM message_threads t"
                f" JOIN users u ON u.id = t.{other}_id"
                f" WHERE {_visible(sample.role)} AND t.archived_by_{side} = false"
                " ORDER BY t.last_message_at DESC NULLS LAST, t.created_at DESC, t.id DESC"
                " LIMIT %(limit)s OFFSET %(offset)s",
                params,
            )
        ).fetchall()
    return True


async def unread_count(conn: psycopg.AsyncConnection[Any], sample: Sample) -> bool:
    await _authenticate(conn, sample)
    await (
        await conn.execute(
            "SELECT unread_messages, unread_inbox_threads + unread_archived_threads"
            " FROM inbox_totals WHERE user_id = %s",
            (sample.user_id,),
        )
    ).fetchone()
    return True


async def thread_detail(conn: psycopg.AsyncConnection[Any], sample: Sample) -> bool:
    await _authenticate(conn, sample)
    params = {
        "me": sample.user_id,
        "thread": sample.target,
        "offset": (sample.page - 1) * 50,
        "after": sample.after,
    }
    # With a cursor, the messages after it, read from the (thread_id, created_at, id) index.
    after = (
        " AND (m.created_at, m.id) > (SELECT c.created_at, c.id FROM messages c"
        " WHERE c.id = %(after)s)"
        if sample.after is not None
        else ""
    )
    async with conn.transaction():
        thread = await (
            await conn.execute(
                f"SELECT {THREAD_COLUMNS}, u.id, u.display_name, u.role FROM message_threads t"
                " JOIN users u ON u.id = CASE WHEN t.employer_id = %(me)s THEN t.candidate_id"
                " ELSE t.employer_id END WHERE t.id = %(thread)s",
                params,
            )
        ).fetchone()
        if thread is None:
            return False
        await (
            await conn.execute(
                "SELECT count(*) FROM messages m"
                " WHERE m.thread_id = %(thread)s AND m.is_deleted = false",
                params,
            )
        ).fetchone()
        await (
            await conn.execute(
                f"SELECT {MESSAGE_COLUMNS}, f.reason FROM messages m LEFT JOIN flag_reports f"
                " ON f.message_id = m.id AND f.reporter_id = %(me)s"
                f" WHERE m.thread_id = %(thread)s AND m.is_deleted = false{after}"
                " ORDER BY m.created_at, m.id LIMIT 50 OFFSET %(offset)s",
                params,
            )
        ).fetchall()
    return True


async def _append_audit(
    conn: psycopg.AsyncConnection[Any],
    *,
    actor_id: uuid.UUID,
    action: str,
    subject_type: str,
    subject_id: uuid.UUID,
    thread_id: uuid.UUID,
    details: dict[str, Any],
    now: datetime,
) -> None:
    chain = chain_key(thread_id)
    cur = await conn.execute(
        "INSERT INTO audit_chain_heads (chain_key, position, hash) VALUES (%s, 0, %s)"
        " ON CONFLICT (chain_key) DO UPDATE SET position = audit_chain_heads.position + 1"
        " RETURNING position, hash",
        (chain, GENESIS_HASH),
    )
    position, prev_hash = await cur.fetchone()  # type: ignore[misc]
    event_id = uuid7()
    fields = {
        "id": str(event_id),
        "chain": chain,
        "position": position,
        "occurred_at": timestamp(now),
        "actor_type": "user",
        "actor_id": str(actor_id),
        "action": action,
        "subject_type": subject_type,
        "subject_id": str(subject_id),
        "thread_id": str(thread_id),
        "details": details,
    }
    digest = event_hash(prev_hash, fields)
    await conn.execute(
        "INSERT INTO audit_events (id, occurred_at, actor_type, actor_id, action, subject_type,"
        " subject_id, thread_id, details, chain_key, position, prev_hash, hash)"
        " VALUES (%s, %s, 'user', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            event_id, now, actor_id, action, subject_type, subject_id, thread_id,
            Jsonb(details), chain, position, prev_hash, digest,
        ),
    )  # fmt: skip
    await conn.execute(
        "UPDATE audit_chain_heads SET position = %s, hash = %s WHERE chain_key = %s",
        (position, digest, chain),
    )


async def mark_read(conn: psycopg.AsyncConnection[Any], sample: Sample) -> bool:
    await _authenticate(conn, sample)
    side = _side(sample.role)
    async with conn.transaction():
        row = await (
            await conn.execute(
                "SELECT m.id, m.recipient_id, m.is_read, m.is_deleted, m.created_at, t.id,"
                " t.employer_id, t.candidate_id, t.is_deleted, t.deleted_by_employer_at,"
                " t.deleted_by_candidate_at FROM messages m"
                " JOIN message_threads t ON t.id = m.thread_id"
                " WHERE m.id = %s FOR NO KEY UPDATE OF t",
                (sample.target,),
            )
        ).fetchone()
        if row is None or row[1] != sample.user_id:
            return False
        now = datetime.now(UTC)
        changed = await (
            await conn.execute(
                "UPDATE messages SET is_read = true, read_at = %s, updated_at = %s"
                " WHERE id = %s AND is_read = false RETURNING id",
                (now, now, sample.target),
            )
        ).fetchone()
        if changed is None:
            return True
        # The counter and the reader's inbox totals (one unread thread fewer if it was the last).
        await conn.execute(
            "WITH dropped AS ("
            f"UPDATE message_threads SET unread_count_{side} = unread_count_{side} - 1"
            f" WHERE id = %(thread)s RETURNING unread_count_{side} = 0 AS last,"
            f" archived_by_{side} AS archived)"
            " UPDATE inbox_totals SET unread_messages = unread_messages - 1,"
            " unread_inbox_threads = unread_inbox_threads"
            " - CASE WHEN last AND NOT archived THEN 1 ELSE 0 END,"
            " unread_archived_threads = unread_archived_threads"
            " - CASE WHEN last AND archived THEN 1 ELSE 0 END"
            " FROM dropped WHERE user_id = %(me)s",
            {"thread": row[5], "me": sample.user_id},
        )
        await _append_audit(
            conn,
            actor_id=sample.user_id,
            action="message.read",
            subject_type="message",
            subject_id=row[0],
            thread_id=row[5],
            details={},
            now=now,
        )
    return True


async def send(
    conn: psycopg.AsyncConnection[Any],
    sample: Sample,
    *,
    rate_limit: int,
    window_seconds: int,
) -> bool:
    await _authenticate(conn, sample)
    recipient_id = sample.target
    assert recipient_id is not None
    employer, candidate = (
        (sample.user_id, recipient_id)
        if sample.role == "employer"
        else (recipient_id, sample.user_id)
    )
    recipient_side = _other(sample.role)
    async with conn.transaction():
        await (
            await conn.execute(
                f"SELECT {USER_COLUMNS} FROM users WHERE id = %s FOR NO KEY UPDATE",
                (sample.user_id,),
            )
        ).fetchone()
        now = datetime.now(UTC)
        recent = await (
            await conn.execute(
                "SELECT created_at FROM messages WHERE sender_id = %s AND created_at > %s"
                " ORDER BY created_at DESC LIMIT %s",
                (sample.user_id, now - timedelta(seconds=window_seconds), rate_limit + 1),
            )
        ).fetchall()
        if len(recent) >= rate_limit:
            return False
        recipient = await (
            await conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (recipient_id,))
        ).fetchone()
        if recipient is None or recipient[1] == sample.role:
            return False
        blocked = await (
            await conn.execute(
                "SELECT id FROM message_blocklist WHERE (blocker_id = %(a)s AND blocked_id = %(b)s)"
                " OR (blocker_id = %(b)s AND blocked_id = %(a)s) LIMIT 1",
                {"a": sample.user_id, "b": recipient_id},
            )
        ).fetchone()
        if blocked is not None:
            return False
        thread = await (
            await conn.execute(
                f"SELECT {THREAD_COLUMNS} FROM message_threads t WHERE t.employer_id = %s"
                " AND t.candidate_id = %s AND t.application_id IS NULL AND t.is_deleted = false"
                " FOR NO KEY UPDATE",
                (employer, candidate),
            )
        ).fetchone()
        created = thread is None
        thread_id = uuid7() if created else thread[0]  # type: ignore[index]
        if created:
            await conn.execute(
                "INSERT INTO message_threads (id, employer_id, candidate_id, unread_count_employer,"
                " unread_count_candidate, archived_by_employer, archived_by_candidate,"
                " is_deleted, created_at, updated_at)"
                " VALUES (%s, %s, %s, 0, 0, false, false, false, %s, %s)",
                (thread_id, employer, candidate, now, now),
            )
        message_id = uuid7()
        await conn.execute(
            "INSERT INTO messages (id, thread_id, sender_id, recipient_id, subject, body,"
            " body_format, message_type, attachments, is_read, email_sent, email_opened,"
            " is_flagged, is_removed, is_deleted, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, NULL, %s, 'plain', 'general', '[]', false, false, false,"
            " false, false, false, %s, %s)",
            (message_id, thread_id, sample.user_id, recipient_id, sample.body, now, now),
        )
        # The thread, and the recipient's inbox totals (the sender's too if their view changed).
        totals = _totals_values(thread, sample.role, employer, candidate)
        await (
            await conn.execute(
                "WITH totals AS (INSERT INTO inbox_totals (user_id, inbox_threads,"
                " archived_threads, unread_inbox_threads, unread_archived_threads,"
                f" unread_messages) VALUES {', '.join(['(%s, %s, %s, %s, %s, %s)'] * len(totals))}"
                " ON CONFLICT (user_id) DO UPDATE SET"
                " inbox_threads = inbox_totals.inbox_threads + excluded.inbox_threads,"
                " archived_threads = inbox_totals.archived_threads + excluded.archived_threads,"
                " unread_inbox_threads = inbox_totals.unread_inbox_threads"
                " + excluded.unread_inbox_threads,"
                " unread_archived_threads = inbox_totals.unread_archived_threads"
                " + excluded.unread_archived_threads,"
                " unread_messages = inbox_totals.unread_messages + excluded.unread_messages)"
                f" UPDATE message_threads SET unread_count_{recipient_side} ="
                f" unread_count_{recipient_side} + 1, archived_by_{recipient_side} = false,"
                " last_message_at = %s, updated_at = %s WHERE id = %s"
                f" RETURNING {THREAD_COLUMNS.replace('t.', '')}",
                (*(value for row in totals for value in row), now, now, thread_id),
            )
        ).fetchone()
        if created:
            await _append_audit(
                conn,
                actor_id=sample.user_id,
                action="thread.created",
                subject_type="thread",
                subject_id=thread_id,
                thread_id=thread_id,
                details={
                    "employer_id": str(employer),
                    "candidate_id": str(candidate),
                    "application_id": None,
                },
                now=now,
            )
        digest = content_digest(
            {"subject": None, "body": sample.body, "body_format": "plain", "attachments": []}
        )
        await _append_audit(
            conn,
            actor_id=sample.user_id,
            action="message.sent",
            subject_type="message",
            subject_id=message_id,
            thread_id=thread_id,
            details={
                "recipient_id": str(recipient_id),
                "message_type": "general",
                "body_format": "plain",
                "attachments": 0,
                "content_sha256": digest,
            },
            now=now,
        )
    return True


def _totals_values(
    thread: tuple[Any, ...] | None, sender_role: str, employer: uuid.UUID, candidate: uuid.UUID
) -> list[tuple[Any, ...]]:
    """The inbox totals rows a send changes, in user-id order: (user id, *differences)."""
    rows = []
    for role, user_id, at in (("employer", employer, 0), ("candidate", candidate, 1)):
        if thread is None:
            before, unread, archived = inbox_totals.NOTHING, 0, False
        else:
            unread, archived, cutoff = thread[6 + at], thread[8 + at], thread[10 + at]
            visible = cutoff is None or (thread[5] is not None and thread[5] > cutoff)
            before = inbox_totals.share(visible=visible, archived=archived, unread=unread)
        if role != sender_role:
            unread, archived = unread + 1, False
        change = inbox_totals.share(visible=True, archived=archived, unread=unread).minus(before)
        if any(change):
            rows.append((user_id, *change))
    return sorted(rows)


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def drive(
    dsn: str,
    operation: Operation,
    samples: Sequence[Sample],
    *,
    connections: int,
    seconds: float,
) -> Result:
    """Runs ``operation`` from ``connections`` connections for ``seconds``, each connection
    taking its own stretch of ``samples`` in turn."""
    conns = [
        await psycopg.AsyncConnection.connect(dsn, autocommit=True) for _ in range(connections)
    ]
    latencies: list[float] = []
    errors = 0
    requests = 0
    deadline = 0.0

    async def worker(index: int, conn: psycopg.AsyncConnection[Any]) -> None:
        nonlocal errors, requests
        position = len(samples) * index // connections
        while time.perf_counter() < deadline:
            sample = samples[position % len(samples)]
            position += 1
            started = time.perf_counter()
            try:
                ok = await operation(conn, sample)
            except psycopg.Error:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            requests += 1
            if not ok:
                errors += 1

    try:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(worker(i, conn) for i, conn in enumerate(conns)))
        elapsed = time.perf_counter() - started
    finally:
        for conn in conns:
            await conn.close()
    return Result(requests=requests, errors=errors, seconds=elapsed, latencies_ms=latencies)
