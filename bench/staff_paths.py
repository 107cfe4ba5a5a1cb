"""The staff moderation queue (``GET /mod``) and one report page (``GET /mod/reports/{id}``) at
thousands of open reports, on the served app, for `make bench` (bench/new_paths.py).

The reports, their messages and a moderator are seeded into the bench database by
bench/queue_bench.py's seeder (as the schema owner, as the bench's seeder runs); the moderator
signs in through the real form as the dashboard tests do, and wrk replays the session and CSRF
cookies that the sign-in set."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from bench import paths_wrk
from bench.path_rows import Row
from bench.paths_wrk import HeaderRequest

CSRF_COOKIE = "portal_csrf"


@dataclass(frozen=True)
class Target:
    """What wrk drives: the served app, where its files go, how hard."""

    base_url: str
    out_dir: Path
    seconds: float
    warmup: float
    threads: int
    connections: int

    def wrk(self, name: str, requests: list[HeaderRequest]) -> paths_wrk.WrkResult:
        paths_wrk.run(
            self.base_url, self.out_dir, f"{name}-warmup", requests,
            seconds=self.warmup, threads=self.threads, connections=self.connections,
        )  # fmt: skip
        return paths_wrk.run(
            self.base_url, self.out_dir, name, requests,
            seconds=self.seconds, threads=self.threads, connections=self.connections,
        )  # fmt: skip


async def _seed(owner_url: str, open_reports: int) -> str:
    from bench import queue_bench
    from portal.database import create_engine, create_sessionmaker

    engine = create_engine(owner_url)
    try:
        async with create_sessionmaker(engine)() as session:
            moderator = await queue_bench.seed(session, open_reports)
            return moderator.email
    finally:
        await engine.dispose()


def seed_reports(owner_url: str, owner_dsn: str, open_reports: int) -> tuple[str, uuid.UUID]:
    """Seeds the reports; the moderator's email and the message with the most open reports."""
    email = asyncio.run(_seed(owner_url, open_reports))
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
        row = conn.execute(
            "SELECT message_id FROM flag_reports WHERE status = 'open'"
            " GROUP BY message_id ORDER BY count(*) DESC, message_id LIMIT 1"
        ).fetchone()
    assert row is not None
    return email, row[0]


def cookie_header(cookies: httpx.Cookies) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def sign_in(base_url: str, email: str, password: str) -> str:
    """Signs a staff member in through the form; the Cookie header of the signed-in session."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        client.get("/mod/login")
        answer = client.post(
            "/mod/login",
            data={"_csrf_token": client.cookies[CSRF_COOKIE], "email": email, "password": password},
        )
        if answer.status_code != 303:
            raise RuntimeError(f"the moderator's sign-in answered {answer.status_code}")
        return cookie_header(client.cookies)


def check_page(base_url: str, path: str, cookie: str) -> None:
    answer = httpx.get(f"{base_url}{path}", headers={"Cookie": cookie}, timeout=60)
    if answer.status_code != 200:
        raise RuntimeError(f"GET {path} answered {answer.status_code}")


def measure(target: Target, owner_url: str, owner_dsn: str, open_reports: int) -> list[Row]:
    from bench.queue_bench import PASSWORD

    started = time.monotonic()
    email, message_id = seed_reports(owner_url, owner_dsn, open_reports)
    print(
        f"  seeded {open_reports:,} open reports in {time.monotonic() - started:.0f} s", flush=True
    )
    cookie = sign_in(target.base_url, email, PASSWORD)
    rows = []
    for name, label, path in (
        ("mod-queue", f"staff queue GET /mod ({open_reports:,} open reports)", "/mod"),
        ("mod-report", "one report page GET /mod/reports/{id}", f"/mod/reports/{message_id}"),
    ):
        check_page(target.base_url, path, cookie)
        result = target.wrk(name, [HeaderRequest("GET", path, {"Cookie": cookie})])
        print(f"  {name:<14} {result.rate:8.0f}/s p99 {result.p99_ms:6.1f} ms", flush=True)
        note = f"HTML, one moderator's session, {target.connections} connections"
        rows.append(result.row(label, note))
    return rows
