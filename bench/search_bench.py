"""How long staff search takes with 10,000 open reports from 50 senders on PostgreSQL.

    .venv/bin/python bench/search_bench.py [--url postgresql+psycopg://…/db] [--reports 10000]

Without ``--url`` it creates a scratch database on the server of ``PORTAL_TEST_POSTGRES_URL``
(default: postgres@127.0.0.1:5432), migrates it, seeds it and drops it afterwards. The seed:
50 senders, each with messages to many candidates, 10,000 open reports on those messages and
as many other messages again (that nobody reported). Prints the median (and 95th percentile)
milliseconds of the search service for a name, an email, an id, a common word, a rare word and
a miss, and of rendering ``GET /mod/search`` for a signed-in moderator. Done-when 2 of issue 18
wants under 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession

from bench.queue_bench import DEFAULT_SERVER, PASSWORD, _insert, _libpq, _staff, timed
from portal import migrate
from portal.database import create_engine, create_sessionmaker, write_transaction
from portal.models import FlagReport, Message, MessageThread, StaffUser, User
from portal.models.base import new_id, utcnow
from portal.models.moderation import FLAG_REASONS
from portal.services import search

SENDERS = 50
CANDIDATES = 400
WORDS = [
    "interview",
    "schedule",
    "offer",
    "contract",
    "salary",
    "onboarding",
    "documents",
    "deposit",
    "training",
    "shift",
    "warehouse",
    "payroll",
    "reference",
    "manager",
    "weekend",
    "uniform",
    "equipment",
    "transfer",
    "invoice",
]


async def seed(session: AsyncSession, open_reports: int) -> tuple[StaffUser, dict[str, str]]:
    now = utcnow()
    senders = [new_id() for _ in range(SENDERS)]
    candidates = [new_id() for _ in range(CANDIDATES)]
    users = [
        {
            "id": uid,
            "role": "employer",
            "email": f"sender{n}-{uid.hex[:6]}@example.com",
            "display_name": f"Sender {n} Ltd",
        }
        for n, uid in enumerate(senders)
    ] + [
        {
            "id": uid,
            "role": "candidate",
            "email": f"candidate{n}-{uid.hex[:6]}@example.com",
            "display_name": f"Candidate {n}",
        }
        for n, uid in enumerate(candidates)
    ]
    threads: dict[tuple[int, int], dict[str, Any]] = {}
    messages: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    for n in range(open_reports * 2):  # half of them reported
        s, c = n % SENDERS, (n // SENDERS) % CANDIDATES
        thread = threads.setdefault(
            (s, c),
            {
                "id": new_id(),
                "employer_id": senders[s],
                "candidate_id": candidates[c],
                "subject": f"Role {s}-{c}",
                "last_message_at": now,
            },
        )
        words = " ".join(WORDS[(n + k) % len(WORDS)] for k in range(12))
        message_id = new_id()
        sent_at = now - timedelta(minutes=n)
        messages.append(
            {
                "id": message_id,
                "thread_id": thread["id"],
                "sender_id": senders[s],
                "recipient_id": candidates[c],
                "body": f"Message {n}: {words}" + (" rareword" if n == 777 else ""),
                "created_at": sent_at,
            }
        )
        if n % 2 == 0:
            reports.append(
                {
                    "id": new_id(),
                    "message_id": message_id,
                    "reporter_id": candidates[c],
                    "reason": FLAG_REASONS[n % len(FLAG_REASONS)],
                    "created_at": sent_at + timedelta(seconds=1),
                }
            )
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
        await _insert(session, StaffUser, [moderator])
    queries = {
        "name": "Sender 17",
        "email": str(users[3]["email"]),
        "id": str(senders[5]),
        "common word": "payroll",
        "two words": "deposit training",
        "rare word": "rareword",
        "miss": "zzzzqqq",
    }
    return await _staff(session, moderator["id"]), queries


async def bench(url: str, open_reports: int, runs: int) -> None:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            started = time.perf_counter()
            moderator, queries = await seed(session, open_reports)
            print(
                f"seeded {open_reports} open reports from {SENDERS} senders "
                f"({open_reports * 2} messages) in {time.perf_counter() - started:.1f} s"
            )
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.exec_driver_sql("ANALYZE")
            for name, query in queries.items():
                results = await search.search(session, query)
                found = f"{len(results.users)}/{len(results.threads)}/{len(results.messages)}"

                def call(query: str = query) -> Awaitable[Any]:
                    return search.search(session, query)

                median, p95 = await timed(runs, call)
                print(
                    f"search {name:12} ({found:>8} shown) median {median:7.1f} ms"
                    f"   p95 {p95:7.1f} ms"
                )
            await _bench_page(url, moderator, runs, queries["common word"])
    finally:
        await engine.dispose()


async def _bench_page(url: str, moderator: StaffUser, runs: int, query: str) -> None:
    from litestar.testing import AsyncTestClient

    from portal.settings import Settings, SmtpSettings
    from server.app import create_app

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
        async with AsyncTestClient(app=create_app(settings), base_url="http://127.0.0.1") as client:
            await client.get("/mod/login")
            signed_in = await client.post(
                "/mod/login",
                data={
                    "_csrf_token": client.cookies.get("portal_csrf"),
                    "email": moderator.email,
                    "password": PASSWORD,
                },
                follow_redirects=False,
            )
            assert signed_in.status_code == 303, signed_in.status_code

            async def render() -> None:
                response = await client.get("/mod/search", params={"q": query})
                assert response.status_code == 200, response.status_code

            median, p95 = await timed(runs, render)
            print(
                f"{'GET /mod/search (page render)':38} median {median:7.1f} ms   p95 {p95:7.1f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", help="a PostgreSQL database to migrate and seed (kept)")
    parser.add_argument("--reports", type=int, default=10_000, help="open reports to seed")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per case")
    args = parser.parse_args()
    if args.url:
        migrate.upgrade(args.url)
        asyncio.run(bench(args.url, args.reports, args.runs))
        return
    name = f"portal_bench_{uuid.uuid4().hex[:10]}"
    server = DEFAULT_SERVER.rsplit("/", 1)[0]
    with psycopg.connect(_libpq(DEFAULT_SERVER), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{server}/{name}"
        migrate.upgrade(url)
        asyncio.run(bench(url, args.reports, args.runs))
    finally:
        with psycopg.connect(_libpq(DEFAULT_SERVER), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
