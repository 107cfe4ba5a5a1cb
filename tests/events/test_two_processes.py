"""Two ``portal serve`` processes on one PostgreSQL database and one Redis (issue 19's "done
when"): an event published by one reaches a stream of the other; a client that reconnects with
``Last-Event-ID`` gets what it missed, in order, once; a rolled-back send and a report publish
nothing to the people concerned. One pair of servers for the module."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from bench.sse_client import SSEClient
from portal.database import create_engine, create_sessionmaker, write_transaction
from portal.models import EmailOutbox, User
from portal.models.base import utcnow
from portal.settings import Settings
from portal.tokens import issue_user_token
from tests.conftest import POSTGRES_URL, TEST_JWT_SECRET, PostgresPool, as_runtime_role
from tests.events.support import REDIS_URL, forget_keys, need_redis
from tests.portal.moderation_support import user

pytestmark = pytest.mark.xdist_group("two-portal-processes")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Pair:
    one: str
    other: str
    database_url: str
    settings: Settings

    def token(self, who: User) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_user_token(self.settings, who.id)}"}


def _wait_until_serving(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/health/live", timeout=1)
            return
        except httpx.TransportError:
            assert process.poll() is None, "portal serve exited"
            assert time.monotonic() < deadline, "portal serve did not answer in 30 s"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def pair(postgres_pool: PostgresPool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    need_redis()
    name = postgres_pool.acquire()
    database_url = as_runtime_role(POSTGRES_URL.rsplit("/", 1)[0] + "/" + name)
    prefix = f"portal-test:{uuid.uuid4().hex[:12]}:"
    var_dir: Path = tmp_path_factory.mktemp("two-processes")
    settings = Settings(
        database_url=database_url,
        jwt_secret=TEST_JWT_SECRET,
        session_secret="test-session-" + "y" * 40,
        redis_url=REDIS_URL,
        events_redis_prefix=prefix,
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")},
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_VAR_DIR": str(var_dir),
        "PORTAL_JWT_SECRET": settings.jwt_secret,
        "PORTAL_SESSION_SECRET": settings.session_secret,
        "PORTAL_EMAIL_WORKER_IN_SERVE": "0",
        "PORTAL_ACCESS_LOG": "0",
        "PORTAL_RATE_LIMIT_MESSAGES": "1000",
        "PORTAL_REDIS_URL": REDIS_URL,
        "PORTAL_EVENTS_REDIS_PREFIX": prefix,
        "PORTAL_EVENTS_KEEPALIVE_MILLISECONDS": "500",
    }
    ports = [_free_port(), _free_port()]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for process, base in zip(processes, bases, strict=True):
            _wait_until_serving(process, base)
        yield Pair(bases[0], bases[1], database_url, settings)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        asyncio.run(forget_keys(settings))
        postgres_pool.release(name)


async def _people(pair: Pair) -> tuple[User, User]:
    engine = create_engine(pair.database_url)
    async with create_sessionmaker(engine)() as session:
        people = await user(session, "employer"), await user(session, "candidate")
    await engine.dispose()
    return people


async def _send(client: httpx.AsyncClient, pair: Pair, sender: User, to: User, body: str) -> str:
    answer = await client.post(
        f"{pair.one}/api/v1/messages",
        json={"recipient_id": str(to.id), "body": body},
        headers=pair.token(sender),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["message"]["id"])


async def _stream(
    client: httpx.AsyncClient, base: str, headers: dict[str, str], last_id: str | None = None
) -> SSEClient:
    if last_id is not None:
        headers = {**headers, "Last-Event-ID": last_id}
    stream = await SSEClient(client, f"{base}/api/v1/events", headers).start()
    assert stream.status == 200
    await stream.until("unread.changed")  # the totals every stream starts with
    return stream


async def test_a_message_sent_through_one_process_reaches_a_stream_of_the_other(
    pair: Pair,
) -> None:
    employer, candidate = await _people(pair)
    async with httpx.AsyncClient() as client:
        ticket = await client.post(
            f"{pair.one}/api/v1/events/ticket", headers=pair.token(candidate)
        )
        stream = await SSEClient(
            client, f"{pair.other}/api/v1/events?ticket={ticket.json()['ticket']}", {}
        ).start()
        assert stream.status == 200
        await stream.until("unread.changed")
        sent_at = time.time()
        message_id = await _send(client, pair, employer, candidate, "Are you free on Monday?")
        created = await stream.until("message.created", wait=1.0)
        assert created.at - sent_at < 1.0
        assert created.data["data"]["message_id"] == message_id
        assert created.data["data"]["preview"] == "Are you free on Monday?"
        await stream.close()


async def test_a_client_that_reconnects_gets_the_20_it_missed_in_order_once(pair: Pair) -> None:
    employer, candidate = await _people(pair)
    async with httpx.AsyncClient() as client:
        stream = await _stream(client, pair.other, pair.token(candidate))
        await _send(client, pair, employer, candidate, "first")
        await stream.until("message.created")
        last_id = stream.last_id
        await stream.close()

        missed = [await _send(client, pair, employer, candidate, f"n{n}") for n in range(20)]

        resumed = await SSEClient(
            client,
            f"{pair.one}/api/v1/events",
            {**pair.token(candidate), "Last-Event-ID": str(last_id)},
        ).start()
        got: list[str] = []
        while (event := await resumed.next(0.5)) is not None:
            if event.event == "message.created":
                got.append(event.data["data"]["message_id"])
        assert got == missed
        await resumed.close()


async def test_a_refused_send_and_a_report_publish_nothing_to_those_concerned(
    pair: Pair,
) -> None:
    employer, candidate = await _people(pair)
    async with httpx.AsyncClient() as client:
        # The streams open first and take the send's own events (published after its commit,
        # which can land after the answer): silence afterwards is then the refusal's alone.
        to_employer = await _stream(client, pair.other, pair.token(employer))
        to_candidate = await _stream(client, pair.other, pair.token(candidate))
        message_id = await _send(client, pair, employer, candidate, "send me your bank details")
        await to_employer.until("message.created", wait=5.0)
        await _all_of(to_candidate, {"message.created", "unread.changed"})

        flagged = await client.post(
            f"{pair.one}/api/v1/messages/{message_id}/flag?reason=spam",
            headers=pair.token(candidate),
        )
        assert flagged.status_code in (200, 201), flagged.text
        blocked = await client.post(
            f"{pair.one}/api/v1/messages/block",
            json={"user_id": str(employer.id), "reason": "spam"},
            headers=pair.token(candidate),
        )
        assert blocked.status_code in (200, 201), blocked.text
        refused = await client.post(
            f"{pair.one}/api/v1/messages",
            json={"recipient_id": str(candidate.id), "body": "are you there?"},
            headers=pair.token(employer),
        )
        assert refused.status_code == 403
        assert await to_employer.next(0.5) is None
        assert await to_candidate.next(0.1) is None
        await to_employer.close()
        await to_candidate.close()


async def _all_of(stream: SSEClient, events: set[str], wait: float = 5.0) -> None:
    """Reads the stream until each of ``events`` has arrived, in whatever order."""
    waiting = set(events)
    while waiting:
        got = await stream.next(wait)
        assert got is not None, f"no {', '.join(sorted(waiting))} within {wait} s"
        waiting.discard(got.event)


async def _away(pair: Pair, who: User) -> None:
    """The user was last active a day ago (as far as the database knows)."""
    engine = create_engine(pair.database_url)
    async with create_sessionmaker(engine)() as session, write_transaction(session):
        await session.execute(
            update(User)
            .where(User.id == who.id)
            .values(last_active_at=utcnow() - timedelta(days=1))
        )
    await engine.dispose()


async def test_a_stream_on_one_process_keeps_the_other_from_emailing(pair: Pair) -> None:
    employer, candidate = await _people(pair)
    async with httpx.AsyncClient() as client:
        stream = await _stream(client, pair.other, pair.token(candidate))
        await _away(pair, candidate)  # opening the stream marked them active: undone
        await _send(client, pair, employer, candidate, "seen live")
        await stream.until("message.created")
        await stream.close()
        await asyncio.sleep(0.3)  # the stream's end reaches Redis
        await _away(pair, candidate)
        emailed = await _send(client, pair, employer, candidate, "emailed")
    engine = create_engine(pair.database_url)
    async with create_sessionmaker(engine)() as session:
        outbox = (
            await session.scalars(
                select(EmailOutbox.message_id).where(EmailOutbox.recipient_id == candidate.id)
            )
        ).all()
    await engine.dispose()
    assert [str(m) for m in outbox] == [emailed]
