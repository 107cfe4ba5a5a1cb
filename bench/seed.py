"""A fast, deterministic seeder for the API benchmark (PostgreSQL only).

Rows go in with COPY, generated in Python from one random seed. The world is skewed the way a
hiring platform is: a few recruiters hold thousands of threads and most candidates a handful;
message counts per thread follow a heavy tail (most threads short, a few very busy), plus the
threads the benchmark needs by name: a set of exactly-50-message threads (thread detail) and one
long thread (the first and last page of thread detail).

It writes what the application's own writes would, so the invariants hold:
- one live thread per (employer, candidate, application or none) (the unique indexes check it);
- each thread's unread counters equal a recount of its unread, undeleted messages per recipient;
- last_message_at is the newest message's time; messages alternate plausibly between the pair;
- every thread has its audit hash chain: ``thread.created`` then one ``message.sent`` per
  message with the content digest, hashed with ``portal.services.compliance.chain`` and the head
  row in ``audit_chain_heads``, so ``portal audit check`` verifies it. Seeded reads carry no
  ``message.read`` event (the chain stays valid; only its history of reads is shorter).

COPY runs with ``session_replication_role = replica`` (foreign-key triggers off, which the
``postgres`` superuser may do): the rows are consistent by construction, and
:func:`check_invariants` re-checks the counters and chains afterwards in SQL.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import insert
from sqlalchemy.dialects import postgresql
from uuid_utils.compat import uuid7

from portal.models import InboxTotals
from portal.services import inbox_totals
from portal.services.compliance.chain import (
    EVENT_FIELDS,
    GENESIS_HASH,
    chain_key,
    content_digest,
    event_hash,
    timestamp,
)

WORDS_TEXT = (
    "thanks for applying we would like to schedule an interview next week could you share your "
    "availability the role is remote friendly and the team works across time zones please find "
    "attached the job description salary range benefits start date references portfolio "
    "onboarding offer follow up question about the position hiring manager recruiter"
)
WORDS = WORDS_TEXT.split()
MESSAGE_TYPES = ("general",) * 8 + ("interview_invitation", "application_update", "other")


@dataclass(frozen=True)
class Scale:
    """How big a world to seed. ``small_*`` is the first phase (the "at 50,000 messages" world);
    the rest is added in the second phase."""

    users: int
    threads: int
    messages: int
    small_threads: int
    small_messages: int
    detail_threads: int  # threads of exactly DETAIL_MESSAGES messages
    long_thread_messages: int
    name: str = "full"
    # The chance that a participant has not read their last few messages in a thread.
    unread_share: float = 0.5


DETAIL_MESSAGES = 50
FULL = Scale(
    users=2_000,
    threads=20_000,
    messages=500_000,
    small_threads=2_000,
    small_messages=50_000,
    detail_threads=200,
    long_thread_messages=10_000,
)
QUICK = Scale(
    users=300,
    threads=2_000,
    messages=30_000,
    small_threads=200,
    small_messages=3_000,
    detail_threads=40,
    long_thread_messages=2_000,
    name="quick",
    unread_share=0.9,  # enough unread messages for the mark-read runs on a small world
)


def scaled(messages: int) -> Scale:
    """The full world grown (or shrunk) to ``messages`` (``make bench BENCH_ARGS="--messages
    5000000"``, docs/scaling.md): users and threads in proportion, so the same shapes at the new
    size (the recruiters' Zipf skew over more recruiters, the heavy tail per thread) and the
    first phase still a tenth of it; the named threads (200 of 50 messages, one of 10,000) stay
    as they are, so detail measures the same pages in a bigger table."""
    factor = messages / FULL.messages
    threads = round(FULL.threads * factor)
    small_threads = threads // 10
    fixed = FULL.long_thread_messages + DETAIL_MESSAGES * FULL.detail_threads
    plain = threads - small_threads - 1 - FULL.detail_threads
    if messages - messages // 10 - fixed < plain or small_threads < 1:
        raise ValueError(f"{messages:,} messages are too few for the named threads")
    return replace(
        FULL,
        users=max(10, round(FULL.users * factor)),
        threads=threads,
        messages=messages,
        small_threads=small_threads,
        small_messages=messages // 10,
        name=f"full x{factor:g}",
    )


@dataclass
class Person:
    id: uuid.UUID
    role: str
    display_name: str


@dataclass
class ThreadPlan:
    id: uuid.UUID
    employer: Person
    candidate: Person
    application_id: uuid.UUID | None
    messages: int
    kind: str = "plain"  # "detail" or "long" for the benchmark's named threads


@dataclass
class World:
    """What the benchmark needs to know about the seeded data."""

    employers: list[Person]
    candidates: list[Person]
    plans: list[ThreadPlan]
    phase_one: list[ThreadPlan] = field(default_factory=list)
    phase_two: list[ThreadPlan] = field(default_factory=list)

    @property
    def people(self) -> list[Person]:
        return self.employers + self.candidates

    def threads_of(self, kind: str) -> list[ThreadPlan]:
        return [plan for plan in self.plans if plan.kind == kind]


def _zipf_weights(count: int, exponent: float) -> list[float]:
    return list(itertools.accumulate(1 / (rank + 1) ** exponent for rank in range(count)))


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect_left(cumulative, rng.random() * cumulative[-1])


def plan_world(scale: Scale, seed: int = 10) -> World:
    """The people and the threads (with their message counts), without the messages."""
    rng = random.Random(seed)
    employers_count = max(2, scale.users // 5)
    employers = [Person(uuid7(), "employer", f"Recruiter {n}") for n in range(employers_count)]
    candidates = [
        Person(uuid7(), "candidate", f"Candidate {n}") for n in range(scale.users - employers_count)
    ]
    # Recruiters are very skewed (a few hold thousands of threads), candidates mildly.
    employer_weights = _zipf_weights(len(employers), 0.9)
    candidate_weights = _zipf_weights(len(candidates), 0.5)
    pairs: set[tuple[int, int, bool]] = set()
    plans: list[ThreadPlan] = []
    while len(plans) < scale.threads:
        e, c = _pick(rng, employer_weights), _pick(rng, candidate_weights)
        with_application = rng.random() < 0.25
        if (e, c, with_application) in pairs:
            continue
        pairs.add((e, c, with_application))
        plans.append(
            ThreadPlan(
                id=uuid7(),
                employer=employers[e],
                candidate=candidates[c],
                application_id=uuid7() if with_application else None,
                messages=0,
            )
        )
    rng.shuffle(plans)
    phase_one, phase_two = plans[: scale.small_threads], plans[scale.small_threads :]
    # The named threads belong to the big world only.
    phase_two[0].kind = "long"
    phase_two[0].messages = scale.long_thread_messages
    for plan in phase_two[1 : 1 + scale.detail_threads]:
        plan.kind = "detail"
        plan.messages = DETAIL_MESSAGES
    _spread(rng, phase_one, scale.small_messages)
    fixed = scale.long_thread_messages + DETAIL_MESSAGES * scale.detail_threads
    rest = [plan for plan in phase_two if plan.kind == "plain"]
    _spread(rng, rest, scale.messages - scale.small_messages - fixed)
    return World(employers, candidates, plans, phase_one, phase_two)


def _spread(rng: random.Random, plans: list[ThreadPlan], total: int) -> None:
    """Message counts with a heavy tail (Pareto), at least one each, summing to ``total``."""
    cap = max(DETAIL_MESSAGES * 20, total // max(1, len(plans)) * 40)
    weights = [min(rng.paretovariate(1.3), 400.0) for _ in plans]
    scale = (total - len(plans)) / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    counts = [min(count, cap) for count in counts]
    shortfall = total - sum(counts)
    index = 0
    while shortfall > 0:  # rounding and the cap leave a little over: spread it evenly
        if counts[index % len(counts)] < cap:
            counts[index % len(counts)] += 1
            shortfall -= 1
        index += 1
    for plan, count in zip(plans, counts, strict=True):
        plan.messages = count


class _Progress:
    def __init__(self, label: str, total: int) -> None:
        self._bar = click.progressbar(length=total, label=label, show_pos=True, width=30)
        self._bar.__enter__()

    def update(self, count: int) -> None:
        self._bar.update(count)

    def close(self) -> None:
        self._bar.__exit__(None, None, None)


def _bodies(rng: random.Random) -> list[str]:
    bodies = []
    for _ in range(400):
        words = rng.choices(WORDS, k=rng.choice((5, 12, 25, 40, 80)))
        text = " ".join(words)
        bodies.append(text[0].upper() + text[1:] + ".")
    return bodies


def _copy(
    conn: psycopg.Connection[Any], table: str, columns: Sequence[str], rows: Iterable[tuple]
) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


USER_COLUMNS = (
    "id", "email", "display_name", "role", "last_active_at", "is_suspended",
    "created_at", "updated_at",
)  # fmt: skip
APPLICATION_COLUMNS = (
    "id", "employer_id", "candidate_id", "job_title", "status", "requisition_id",
    "created_at", "updated_at",
)  # fmt: skip
THREAD_COLUMNS = (
    "id", "application_id", "employer_id", "candidate_id", "subject", "last_message_at",
    "unread_count_employer", "unread_count_candidate", "archived_by_employer",
    "archived_by_candidate", "is_deleted", "created_at", "updated_at",
)  # fmt: skip
MESSAGE_COLUMNS = (
    "id", "thread_id", "sender_id", "recipient_id", "subject", "body", "body_format",
    "message_type", "attachments", "is_read", "read_at", "email_sent", "email_opened",
    "is_flagged", "is_removed", "is_deleted", "created_at", "updated_at",
)  # fmt: skip
EVENT_COLUMNS = (
    "id", "occurred_at", "actor_type", "actor_id", "action", "subject_type", "subject_id",
    "thread_id", "details", "chain_key", "position", "prev_hash", "hash",
)  # fmt: skip


def seed_people(conn: psycopg.Connection[Any], world: World, now: datetime) -> None:
    """Every user (both phases share them), active a minute ago so that sends in the benchmark
    go to online recipients (no notification email: the issue's floor has none)."""
    created = now - timedelta(days=400)
    rows = [
        (
            p.id,
            f"bench-{p.id.hex}@example.com",
            p.display_name,
            p.role,
            now,
            False,
            created,
            created,
        )
        for p in world.people
    ]
    with conn.transaction():
        _copy(conn, "users", USER_COLUMNS, rows)


def seed_threads(
    conn: psycopg.Connection[Any],
    plans: list[ThreadPlan],
    now: datetime,
    *,
    seed: int,
    label: str,
    unread_share: float = 0.5,
) -> int:
    """The threads of ``plans`` with their applications, messages and audit chains; returns the
    number of messages written."""
    rng = random.Random(seed)
    bodies = _bodies(rng)
    total = sum(plan.messages for plan in plans)
    progress = _Progress(label, total)
    written = 0
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        applications = [
            (
                plan.application_id, plan.employer.id, plan.candidate.id,
                f"Engineer {rng.randrange(1000)}", "reviewing", f"REQ-{rng.randrange(500)}",
                now - timedelta(days=200), now - timedelta(days=200),
            )
            for plan in plans
            if plan.application_id is not None
        ]  # fmt: skip
        _copy(conn, "applications", APPLICATION_COLUMNS, applications)
        threads: list[tuple] = []
        heads: list[tuple] = []
        # One COPY at a time per connection: rows are buffered a batch of threads at a time.
        messages: list[tuple] = []
        events: list[tuple] = []
        for plan in plans:
            thread_row, head = _write_thread(plan, rng, bodies, now, messages, events, unread_share)
            threads.append(thread_row)
            heads.append(head)
            written += plan.messages
            if len(messages) >= BATCH_ROWS:
                progress.update(len(messages))
                _flush(conn, messages, events)
        progress.update(len(messages))
        _flush(conn, messages, events)
        _copy(conn, "message_threads", THREAD_COLUMNS, threads)
        _copy(conn, "audit_chain_heads", ("chain_key", "position", "hash"), heads)
    progress.close()
    return written


def fill_inbox_totals(conn: psycopg.Connection[Any]) -> None:
    """Every participant's inbox totals, recounted from all the threads seeded so far (once
    after seeding: the parallel seeder's processes each write a share of the threads)."""
    with conn.transaction():
        conn.execute("DELETE FROM inbox_totals")
        conn.execute(FILL_INBOX_TOTALS)


BATCH_ROWS = 20_000


def _postgres_sql(statement: Any) -> str:
    dialect = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


# The app's own recount (portal.services.inbox_totals), as SQL with no parameters.
RECOUNT_INBOX_TOTALS = _postgres_sql(inbox_totals.recount())
FILL_INBOX_TOTALS = _postgres_sql(
    insert(InboxTotals).from_select(
        ["user_id", *inbox_totals.FIGURES], inbox_totals.recount().subquery().select()
    )
)


def _flush(conn: psycopg.Connection[Any], messages: list[tuple], events: list[tuple]) -> None:
    _copy(conn, "messages", MESSAGE_COLUMNS, messages)
    _copy(conn, "audit_events", EVENT_COLUMNS, events)
    messages.clear()
    events.clear()


def _write_thread(
    plan: ThreadPlan,
    rng: random.Random,
    bodies: list[str],
    now: datetime,
    messages: list[tuple],
    events: list[tuple],
    unread_share: float,
) -> tuple[tuple, tuple]:
    count = plan.messages
    # Long threads are spread over up to a year, short ones over days to months, ending in the
    # last few days (some active now).
    span = timedelta(days=rng.uniform(1, 30) if count < 50 else rng.uniform(30, 360))
    end = now - timedelta(minutes=rng.uniform(5, 60 * 24 * 10))
    start = end - span
    step = span / max(1, count)
    times = [start + step * i + timedelta(microseconds=rng.randrange(1000)) for i in range(count)]
    # Who sends each: the employer starts most threads; turns change often.
    senders = []
    sender = plan.employer if rng.random() < 0.7 else plan.candidate
    for _ in range(count):
        senders.append(sender)
        if rng.random() < 0.6:
            sender = plan.candidate if sender is plan.employer else plan.employer
    # Each participant has read everything up to a point: most all of it, some not their last
    # few messages (so there are unread messages to mark read, and non-zero counters).
    read_until = {}
    for person in (plan.employer, plan.candidate):
        if rng.random() >= unread_share or count < 2:
            read_until[person.id] = times[-1]
        else:
            read_until[person.id] = times[max(0, count - rng.randint(2, 16))]
    subject = (
        f"{rng.choice(('Interview', 'Application', 'Offer', 'Next steps'))} #{plan.id.hex[:6]}"
    )
    unread = {plan.employer.id: 0, plan.candidate.id: 0}
    chain = chain_key(plan.id)
    position, prev_hash = 0, GENESIS_HASH
    created = _event(
        chain, position, prev_hash, times[0], plan.employer.id if senders[0] is plan.employer
        else plan.candidate.id, "thread.created", "thread", plan.id, plan.id,
        {
            "employer_id": str(plan.employer.id),
            "candidate_id": str(plan.candidate.id),
            "application_id": str(plan.application_id) if plan.application_id else None,
        },
    )  # fmt: skip
    events.append(created[0])
    prev_hash = created[1]
    for i, at in enumerate(times):
        sender = senders[i]
        recipient = plan.candidate if sender is plan.employer else plan.employer
        is_read = at <= read_until[recipient.id]
        if not is_read:
            unread[recipient.id] += 1
        message_id = uuid7()
        body = bodies[rng.randrange(len(bodies))]
        message_subject = subject if i == 0 else None
        message_type = rng.choice(MESSAGE_TYPES)
        messages.append(
            (
                message_id, plan.id, sender.id, recipient.id, message_subject, body, "plain",
                message_type, Jsonb([]), is_read, at + timedelta(minutes=7) if is_read else None,
                False, False, False, False, False, at, at,
            )
        )  # fmt: skip
        digest = _content_digest(message_subject, body)
        position += 1
        row, prev_hash = _event(
            chain, position, prev_hash, at, sender.id, "message.sent", "message", message_id,
            plan.id,
            {
                "recipient_id": str(recipient.id),
                "message_type": message_type,
                "body_format": "plain",
                "attachments": 0,
                "content_sha256": digest,
            },
        )  # fmt: skip
        events.append(row)
    archived = rng.random() < 0.05
    thread_row = (
        plan.id, plan.application_id, plan.employer.id, plan.candidate.id, subject, times[-1],
        unread[plan.employer.id], unread[plan.candidate.id], archived and rng.random() < 0.5,
        archived, False, times[0], times[-1],
    )  # fmt: skip
    return thread_row, (chain, position, prev_hash)


@functools.cache
def _content_digest(subject: str | None, body: str) -> str:
    # The bodies come from a pool of 400: a third of the seeder's time was hashing them again.
    return content_digest(
        {"subject": subject, "body": body, "body_format": "plain", "attachments": []}
    )


def _event(
    chain: str,
    position: int,
    prev_hash: str,
    at: datetime,
    actor_id: uuid.UUID,
    action: str,
    subject_type: str,
    subject_id: uuid.UUID,
    thread_id: uuid.UUID,
    details: dict[str, Any],
) -> tuple[tuple, str]:
    event_id = uuid7()
    fields = {
        "id": str(event_id),
        "chain": chain,
        "position": position,
        "occurred_at": timestamp(at),
        "actor_type": "user",
        "actor_id": str(actor_id),
        "action": action,
        "subject_type": subject_type,
        "subject_id": str(subject_id),
        "thread_id": str(thread_id),
        "details": details,
    }
    assert tuple(fields) == EVENT_FIELDS
    digest = event_hash(prev_hash, fields)
    row = (
        event_id, at, "user", actor_id, action, subject_type, subject_id, thread_id,
        Jsonb(details), chain, position, prev_hash, digest,
    )  # fmt: skip
    return row, digest


# Each is one pass (hash joins and aggregates), so that the check takes seconds at full scale.
INVARIANT_QUERIES = {
    "thread counters, last_message_at and pairs agree with the messages": """
        SELECT count(*) FROM (
            SELECT t.unread_count_employer AS employer, t.unread_count_candidate AS candidate,
                   t.last_message_at,
                   count(*) FILTER (WHERE m.recipient_id = t.employer_id
                                    AND NOT m.is_read AND NOT m.is_deleted) AS employer_recount,
                   count(*) FILTER (WHERE m.recipient_id = t.candidate_id
                                    AND NOT m.is_read AND NOT m.is_deleted) AS candidate_recount,
                   max(m.created_at) AS newest,
                   count(*) FILTER (WHERE NOT (
                       (m.sender_id = t.employer_id AND m.recipient_id = t.candidate_id)
                       OR (m.sender_id = t.candidate_id AND m.recipient_id = t.employer_id)
                   )) AS strangers
            FROM message_threads t LEFT JOIN messages m ON m.thread_id = t.id
            GROUP BY t.id
        ) per_thread
        WHERE employer <> employer_recount OR candidate <> candidate_recount
           OR last_message_at IS DISTINCT FROM newest OR strangers > 0
    """,
    "every chain head is its chain's last event": """
        SELECT count(*) FROM audit_chain_heads h
        FULL JOIN (
            SELECT DISTINCT ON (chain_key) chain_key, position, hash FROM audit_events
            ORDER BY chain_key, position DESC
        ) last ON last.chain_key = h.chain_key
        WHERE last.position IS DISTINCT FROM h.position OR last.hash IS DISTINCT FROM h.hash
    """,
    "inbox totals agree with a recount of the threads": f"""
        SELECT count(*) FROM inbox_totals k
        FULL JOIN ({RECOUNT_INBOX_TOTALS}) r ON r.user_id = k.user_id
        WHERE (coalesce(k.inbox_threads, 0), coalesce(k.archived_threads, 0),
               coalesce(k.unread_inbox_threads, 0), coalesce(k.unread_archived_threads, 0),
               coalesce(k.unread_messages, 0))
           <> (coalesce(r.inbox_threads, 0), coalesce(r.archived_threads, 0),
               coalesce(r.unread_inbox_threads, 0), coalesce(r.unread_archived_threads, 0),
               coalesce(r.unread_messages, 0))
    """,
}


def check_invariants(conn: psycopg.Connection[Any]) -> list[str]:
    """The invariants that do not hold, by name (the unique indexes hold the rest)."""
    broken = []
    for name, query in INVARIANT_QUERIES.items():
        bad = conn.execute(query).fetchone()
        if bad and bad[0]:
            broken.append(f"{name}: {bad[0]} rows break it")
    return broken


def now_utc() -> datetime:
    return datetime.now(UTC)
