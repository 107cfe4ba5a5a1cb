"""A running event hub on a test's database, in memory or on the Redis server (each test under a
key prefix of its own), and a reader of what a stream delivers."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import replace

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.events.hub import EventHub
from portal.events.model import Event
from portal.events.stream import EventStream
from portal.settings import Settings

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("PORTAL_REQUIRE_REDIS") == "1"
EVENT_BACKENDS = ["memory", "redis"]


def need_redis() -> None:
    """Skips the test when the Redis server is not there (fails with PORTAL_REQUIRE_REDIS=1)."""
    try:
        with SyncRedis.from_url(REDIS_URL, socket_connect_timeout=1) as redis:
            redis.ping()
    except RedisError as exc:
        reason = f"Redis at {REDIS_URL} is not reachable ({exc.__class__.__name__})"
        if REQUIRE_REDIS:
            pytest.fail(f"{reason}, and PORTAL_REQUIRE_REDIS=1 requires it", pytrace=False)
        pytest.skip(reason)


def events_settings(settings: Settings, backend: str, **changes: object) -> Settings:
    prefix = f"portal-test:{uuid.uuid4().hex[:12]}:"
    if backend == "redis":
        need_redis()
    redis = {"redis_url": REDIS_URL, "events_redis_prefix": prefix} if backend == "redis" else {}
    return replace(settings, **redis, **changes)  # type: ignore[arg-type]


async def forget_keys(settings: Settings) -> None:
    if settings.redis_url is None:
        return
    redis = Redis.from_url(settings.redis_url)
    keys = [key async for key in redis.scan_iter(match=settings.events_redis_prefix + "*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


@asynccontextmanager
async def running_hub(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[EventHub]:
    hub = EventHub(settings, sessionmaker)
    try:
        async with hub.run():
            yield hub
    finally:
        await forget_keys(settings)


class Reader:
    """What one open stream delivers (keep-alives counted apart), read by a task of its own so
    that a test's waiting never cancels the stream."""

    def __init__(self, stream: EventStream, last_event_id: str | None = None) -> None:
        self.stream = stream
        self.events: list[Event] = []
        self.keepalives = 0
        self.ended = False
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._task = asyncio.create_task(self._read(last_event_id))

    async def _read(self, last_event_id: str | None) -> None:
        async for event in self.stream.events(last_event_id):
            if event is None:
                self.keepalives += 1
            else:
                await self._queue.put(event)
        self.ended = True

    async def next(self, wait: float = 2.0) -> Event | None:
        """The next event, or None when none comes within ``wait`` seconds."""
        try:
            async with asyncio.timeout(wait):
                event = await self._queue.get()
        except TimeoutError:
            return None
        self.events.append(event)
        return event

    async def until(self, type_: str, wait: float = 2.0, **data: object) -> Event:
        """The next event of ``type_`` (whose data has the values ``data`` gives)."""
        while True:
            event = await self.next(wait)
            assert event is not None, f"no {type_} {data} event came; had {self.events}"
            if event.type == type_ and all(event.data.get(k) == v for k, v in data.items()):
                return event

    async def quiet(self, wait: float = 0.2) -> list[Event]:
        """Every event delivered within ``wait`` seconds."""
        got = []
        while (event := await self.next(wait)) is not None:
            got.append(event)
        return got

    async def close(self) -> None:
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task


async def open_reader(
    hub: EventHub, user_id: uuid.UUID, role: str, last_event_id: str | None = None
) -> Reader:
    return Reader(await EventStream.open(hub, user_id, role), last_event_id)
