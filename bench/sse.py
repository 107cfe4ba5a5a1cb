"""How long an event takes from commit to a client, with 1,000 event streams open on one process.

    .venv/bin/python -m bench.sse [--streams 1000] [--rate 20] [--seconds 15]
        [--url postgresql+psycopg://…/db] [--redis redis://127.0.0.1:6379/0]

Starts ``portal serve`` (one process) on a free port, on a scratch PostgreSQL database on the
server of ``PORTAL_TEST_POSTGRES_URL`` (default postgres@127.0.0.1:5432; made, migrated and
dropped afterwards) unless ``--url`` names a migrated one; provisions an employer and one
candidate per stream, opens a stream (``GET /api/v1/events``) for each candidate, then has the
employer send ``--rate`` messages a second, round robin over the candidates, for ``--seconds``.
The delay of each ``message.created`` is the time it reached its stream minus its ``ts`` (when
the send committed); prints the median, 99th percentile and worst, and how many arrived.
``--redis`` runs the events through Redis (``PORTAL_REDIS_URL``) instead of memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg

from bench.sse_client import SSEClient
from portal import migrate
from portal.audit import Actor
from portal.database import create_engine, create_sessionmaker
from portal.services.users import create_user
from portal.settings import Settings
from portal.tokens import issue_user_token

JWT_SECRET = "bench-secret-" + "x" * 40
OPEN_ATTEMPTS = 5
DEFAULT_SERVER = os.environ.get(
    "PORTAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class SSEResult:
    """One run: how many events were sent and arrived, and their commit-to-delivery delays."""

    streams: int
    sent: int
    delivered: int
    refused: int
    p50_ms: float | None
    p99_ms: float | None
    worst_ms: float | None
    open_seconds: float


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _people(url: str, streams: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    engine = create_engine(url)
    tag = uuid.uuid4().hex[:8]
    async with create_sessionmaker(engine)() as session:
        employer = await create_user(
            session,
            email=f"employer-{tag}@bench.example.com",
            display_name="Bench Employer",
            role="employer",
            actor=Actor.system(),
        )
        candidates = [
            (
                await create_user(
                    session,
                    email=f"candidate-{tag}-{n}@bench.example.com",
                    display_name=f"Candidate {n}",
                    role="candidate",
                    actor=Actor.system(),
                )
            ).id
            for n in range(streams)
        ]
    await engine.dispose()
    return employer.id, candidates


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


async def _measure(args: argparse.Namespace, base: str, settings: Settings, url: str) -> SSEResult:
    employer, candidates = await _people(url, args.streams)
    limits = httpx.Limits(max_connections=args.streams + 50, max_keepalive_connections=50)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        opening = asyncio.Semaphore(50)

        async def open_stream(candidate: uuid.UUID) -> SSEClient:
            headers = {"Authorization": f"Bearer {issue_user_token(settings, candidate)}"}
            async with opening:
                for _ in range(OPEN_ATTEMPTS):  # 503: the server is short of something; retry
                    stream = await SSEClient(client, f"{base}/api/v1/events", headers).start()
                    if stream.status != 503:
                        break
                    await stream.close()
                    await asyncio.sleep(1)
                assert stream.status == 200, stream.status
                await stream.until("unread.changed", wait=30)
            return stream

        started = time.monotonic()
        streams = await asyncio.gather(*(open_stream(c) for c in candidates))
        open_seconds = time.monotonic() - started
        print(f"{len(streams)} streams open in {open_seconds:.1f} s")

        delays: list[float] = []

        async def collect(stream: SSEClient) -> None:
            while True:
                got = await stream.queue.get()
                if got.event == "message.created":
                    delays.append(got.at - _epoch(got.data["ts"]))

        collectors = [asyncio.create_task(collect(s)) for s in streams]
        sender = {"Authorization": f"Bearer {issue_user_token(settings, employer)}"}
        total = int(args.rate * args.seconds)
        began = time.monotonic()
        refused = 0
        for n in range(total):
            await asyncio.sleep(max(0.0, began + n / args.rate - time.monotonic()))
            answer = await client.post(
                f"{base}/api/v1/messages",
                json={"recipient_id": str(candidates[n % len(candidates)]), "body": f"n{n}"},
                headers=sender,
            )
            refused += answer.status_code != 201
        await asyncio.sleep(2)
        for task in collectors:
            task.cancel()
        await asyncio.gather(*(s.close() for s in streams))
    delays.sort()
    if not delays:
        print("no event arrived")
        return SSEResult(args.streams, total - refused, 0, refused, None, None, None, open_seconds)
    p50 = statistics.median(delays) * 1000
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000
    print(
        f"{args.streams} streams, {args.rate}/s for {args.seconds} s: {len(delays)} of "
        f"{total - refused} events arrived ({refused} sends refused); commit to delivery "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, worst {delays[-1] * 1000:.1f} ms"
    )
    return SSEResult(
        args.streams, total - refused, len(delays), refused, p50, p99, delays[-1] * 1000,
        open_seconds,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="messages a second")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--url", help="a migrated database (default: a scratch PostgreSQL one)")
    parser.add_argument("--redis", help="a Redis URL (default: events in memory)")
    args = parser.parse_args()

    name = f"portal_sse_bench_{uuid.uuid4().hex[:10]}"
    if not args.url:
        with psycopg.connect(_libpq(DEFAULT_SERVER), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = args.url or f"{DEFAULT_SERVER.rsplit('/', 1)[0]}/{name}"
        if not args.url:
            migrate.upgrade(url)
        serve_and_measure(args, url)
    finally:
        if not args.url:
            with psycopg.connect(_libpq(DEFAULT_SERVER), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def serve_and_measure(args: argparse.Namespace, url: str) -> SSEResult:
    with tempfile.TemporaryDirectory(prefix="portal-sse-bench-") as scratch:
        settings = Settings(database_url=url, jwt_secret=JWT_SECRET)
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")},
            "PORTAL_DATABASE_URL": url,
            "PORTAL_VAR_DIR": scratch,
            "PORTAL_JWT_SECRET": JWT_SECRET,
            "PORTAL_EMAIL_WORKER_IN_SERVE": "0",
            "PORTAL_ACCESS_LOG": "0",
            "PORTAL_RATE_LIMIT_MESSAGES": str(10**6),
            "PORTAL_EVENTS_MAX_STREAMS_PER_USER": "5",
            **({"PORTAL_REDIS_URL": args.redis} if args.redis else {}),
            "PORTAL_EVENTS_REDIS_PREFIX": f"portal-bench:{uuid.uuid4().hex[:8]}:",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)], env=env
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base}/health/live", timeout=1)
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("portal serve did not start") from None
                    time.sleep(0.1)
            return asyncio.run(_measure(args, base, settings, url))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
