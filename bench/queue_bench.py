"""How long the moderation queue takes with 10,000 open reports on PostgreSQL.

    .venv/bin/python bench/queue_bench.py [--url postgresql+psycopg://…/db] [--reports 10000]
        [--senders 300]

Without ``--url`` it creates a scratch database on the server of ``PORTAL_TEST_POSTGRES_URL``
(default: postgres@127.0.0.1:5432), migrates it, seeds it and drops it afterwards. The seed: the
open reports spread over messages with one to three reporters each, as many decided reports
again, and sender records (removed messages, suspensions, rate-limit violations) that the
priority weighs. Prints the median (and 95th percentile) milliseconds of the queue service
calls and, when the dashboard is there, of rendering ``GET /mod`` and the queue grouped by sender
(``GET /mod?group=sender``) for a signed-in moderator. Done-when 4 of issue 7 wants the page
under 300 ms; issue 18 wants the grouped queue under 300 ms with 10,000 open reports from 50
senders (``--senders 50``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from argon2 import PasswordHasher
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from portal import migrate
from portal.audit import Actor, record_event
from portal.database import create_engine, create_sessionmaker, write_transaction
from portal.models import (
    FlagReport,
    Message,
    MessageThread,
    RateLimitViolation,
    StaffUser,
    User,
)
from portal.models.base import new_id, utcnow
from portal.models.moderation import FLAG_REASONS
from portal.services import moderation_queue, moderation_records

PASSWORD = "bench password 12345"
DEFAULT_SERVER = os.environ.get(
    "PORTAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CHUNK = 2000


async def _insert(session: AsyncSession, model: type, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        await session.execute(insert(model), rows[start : start + CHUNK])


async def seed(session: AsyncSession, open_reports: int, people: int = 300) -> StaffUser:
    now = utcnow()
    employers = [new_id() for _ in range(people)]
    candidates = [new_id() for _ in range(people)]
    users = [
        {
            "id": uid,
            "role": role,
            "email": f"bench-{uid.hex}@example.com",
            "display_name": f"Bench {role} {n}",
        }
        for role, ids in (("employer", employers), ("candidate", candidates))
        for n, uid in enumerate(ids)
    ]
    threads: dict[tuple[int, int], dict[str, Any]] = {}
    messages: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    status_cycle = ("open", "dismissed")  # as many decided reports as open ones
    for status in status_cycle:
        made = 0
        n = 0
        while made < open_reports:
            e, c = n % people, (n * 7 + len(messages)) % people
            thread = threads.setdefault(
                (e, c),
                {
                    "id": new_id(),
                    "employer_id": employers[e],
                    "candidate_id": candidates[c],
                    "last_message_at": now,
                },
            )
            sent_at = now - timedelta(minutes=(len(messages) * 13) % 40_000)
            message_id = new_id()
            messages.append(
                {
                    "id": message_id,
                    "thread_id": thread["id"],
                    "sender_id": employers[e],
                    "recipient_id": candidates[c],
                    "body": f"Message {n}: " + "words to show in the excerpt " * 20,
                    "created_at": sent_at,
                    "is_flagged": True,
                }
            )
            for k in range(min(1 + (n % 3 == 0) + (n % 7 == 0), open_reports - made)):
                reports.append(
                    {
                        "id": new_id(),
                        "message_id": message_id,
                        "reporter_id": candidates[(c + k) % people],
                        "reason": FLAG_REASONS[(n + k) % len(FLAG_REASONS)],
                        "status": status,
                        "decision": None if status == "open" else "dismissed",
                        "decided_at": None if status == "open" else now,
                        "created_at": sent_at + timedelta(seconds=k + 1),
                    }
                )
                made += 1
            n += 1
    # sender records the priority weighs
    for n in range(people * 2):
        messages.append(
            {
                "id": new_id(),
                "thread_id": next(iter(threads.values()))["id"],
                "sender_id": employers[n % people],
                "recipient_id": next(iter(threads.values()))["candidate_id"],
                "body": "removed earlier",
                "is_removed": True,
                "created_at": now - timedelta(days=30),
            }
        )
    violations = [
        {
            "id": new_id(),
            "user_id": employers[n % people],
            "first_attempt_at": now - timedelta(hours=n % 500),
            "last_attempt_at": now - timedelta(hours=n % 500),
            "count_in_window": 10,
            "limit": 10,
            "window_seconds": 86400,
        }
        for n in range(open_reports // 5)
    ]
    suspended = [employers[n * 3 % people] for n in range(people // 3)]
    moderator = {
        "id": new_id(),
        "email": f"bench-moderator-{uuid.uuid4().hex[:8]}@staff.example.com",
        "role": "moderator",
        "display_name": "Bench Moderator",
        "password_hash": PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORD),
    }
    async with write_transaction(session):
        await _insert(session, User, users)
        await _insert(session, MessageThread, list(threads.values()))
        await _insert(session, Message, messages)
        await _insert(session, FlagReport, reports)
        await _insert(session, RateLimitViolation, violations)
        for user_id in suspended:  # through the audit chain, as every event is written
            await record_event(
                session,
                actor=Actor.system(),
                action="user.suspended",
                subject_type="user",
                subject_id=user_id,
                details={"decision": "suspended"},
                occurred_at=now - timedelta(days=10),
            )
        await _insert(session, StaffUser, [moderator])
    return await _staff(session, moderator["id"])


async def _staff(session: AsyncSession, staff_id: uuid.UUID) -> StaffUser:
    staff = await session.get(StaffUser, staff_id)
    assert staff is not None
    return staff


async def timed(runs: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    await call()  # warm-up: connections, statement caches
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


async def bench(url: str, open_reports: int, runs: int, senders: int = 300) -> None:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            started = time.perf_counter()
            moderator = await seed(session, open_reports, people=senders)
            print(
                f"seeded {open_reports} open reports from {senders} senders in "
                f"{time.perf_counter() - started:.1f} s"
            )
            # what autovacuum would have done by the time a queue this size exists
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.exec_driver_sql("ANALYZE")
            page = await moderation_queue.queue_page(session, viewer=moderator)
            print(f"queue: {page.total} open items, {len(page.items)} on the first page")
            groups = await moderation_queue.sender_groups(session, viewer=moderator)
            print(f"grouped: {groups.total} senders, {len(groups.groups)} on the first page")
            cases: dict[str, Callable[[], Awaitable[Any]]] = {
                "queue_page (priority)": lambda: moderation_queue.queue_page(
                    session, viewer=moderator
                ),
                "queue_page (age)": lambda: moderation_queue.queue_page(
                    session, viewer=moderator, order="age"
                ),
                "queue_page (reason=scam, page 5)": lambda: moderation_queue.queue_page(
                    session, viewer=moderator, reason="scam", page=5
                ),
                "queue_counts": lambda: moderation_queue.queue_counts(session, viewer=moderator),
                "next_item": lambda: moderation_queue.next_item(session, viewer=moderator),
                "overview": lambda: moderation_records.overview(session),
                "sender_groups (priority)": lambda: moderation_queue.sender_groups(
                    session, viewer=moderator
                ),
                "sender_groups (age)": lambda: moderation_queue.sender_groups(
                    session, viewer=moderator, order="age"
                ),
                "sender_groups (reason=spam)": lambda: moderation_queue.sender_groups(
                    session, viewer=moderator, reason="spam"
                ),
            }
            for name, call in cases.items():
                median, p95 = await timed(runs, call)
                print(f"{name:36} median {median:7.1f} ms   p95 {p95:7.1f} ms")
            await _bench_page(url, moderator, runs)
    finally:
        await engine.dispose()


async def _bench_page(url: str, moderator: StaffUser, runs: int) -> None:
    try:
        from litestar.testing import AsyncTestClient

        from portal.settings import Settings, SmtpSettings
        from server.app import create_app
    except ImportError as exc:  # pragma: no cover - the dashboard is not there
        print(f"GET /mod: not measured ({exc})")
        return
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as var_dir:
        settings = Settings(
            environment="test",
            var_dir=Path(var_dir),
            database_url=url,
            jwt_secret="bench-secret-" + "x" * 64,
            session_secret="bench-session-" + "y" * 40,
            smtp=SmtpSettings(),
            email_worker_in_serve=False,
        )
        app = create_app(settings)
        async with AsyncTestClient(app=app, base_url="http://127.0.0.1") as client:
            await client.get("/mod/login")
            token = client.cookies.get("portal_csrf")
            signed_in = await client.post(
                "/mod/login",
                data={"_csrf_token": token, "email": moderator.email, "password": PASSWORD},
                follow_redirects=False,
            )
            if signed_in.status_code != 303:
                print(f"GET /mod: not measured (sign-in answered {signed_in.status_code})")
                return

            for path in ("/mod", "/mod?group=sender"):

                async def render(path: str = path) -> None:
                    response = await client.get(path)
                    assert response.status_code == 200, response.status_code

                median, p95 = await timed(runs, render)
                label = f"GET {path} (page render)"
                print(f"{label:36} median {median:7.1f} ms   p95 {p95:7.1f} ms")


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a PostgreSQL database to migrate and seed (kept)")
    parser.add_argument("--reports", type=int, default=10_000, help="open reports to seed")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per case")
    parser.add_argument(
        "--senders", type=int, default=300, help="senders (and as many recipients) to spread over"
    )
    args = parser.parse_args()
    if args.url:
        migrate.upgrade(args.url)
        asyncio.run(bench(args.url, args.reports, args.runs, args.senders))
        return
    name = f"portal_bench_{uuid.uuid4().hex[:10]}"
    server = DEFAULT_SERVER.rsplit("/", 1)[0]
    with psycopg.connect(_libpq(DEFAULT_SERVER), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{server}/{name}"
        migrate.upgrade(url)
        asyncio.run(bench(url, args.reports, args.runs, args.senders))
    finally:
        with psycopg.connect(_libpq(DEFAULT_SERVER), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
