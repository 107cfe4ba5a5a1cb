"""The process's event hub: publishes what the services queued after their commits, and opens
the streams that deliver it.

Fan-out is Litestar's channels (``ChannelsPlugin`` with its in-memory backend, or its Redis
pub/sub backend when ``PORTAL_REDIS_URL`` is set, so that an event published by one process
reaches the streams of every other). Channels' own Redis *stream* backend is not used for resume:
it keeps 60 s of history by default and replays from the start of a stream on a worker's first
read; each user's history is a Redis stream of its own here (:mod:`portal.events.history`),
written before the event is fanned out.

One worker task per process publishes in commit order: an event is appended to its user's
history (which gives it its id), then published on the user's channel.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.events.history import History, MemoryHistory, RedisHistory
from portal.events.model import QUEUE_CHANGED, UNREAD_CHANGED, timestamp
from portal.events.presence import MemoryPresence, Presence, RedisPresence
from portal.settings import Settings

log = logging.getLogger(__name__)

EVENTS_KEY = "portal.events"  # the hub, in a session's info
STAFF_CHANNEL = "staff"
# How long a stream counts as open after its last keep-alive (a process that died lets go).
PRESENCE_LAPSE_KEEPALIVES = 3
PRESENCE_READ_SECONDS = 0.5
REDIS_CONNECT_SECONDS = 2
REDIS_CONNECTIONS = 64  # per process (one holds the pub/sub subscription)
REDIS_WAIT_SECONDS = 5
DRAIN_SECONDS = 2  # at shutdown, for what was queued to be published


@dataclass(frozen=True)
class UserEvent:
    user_ids: tuple[uuid.UUID, ...]
    type: str
    ts: str
    data: dict[str, Any]


@dataclass(frozen=True)
class UnreadRefresh:
    """Publish the user's unread totals as they are now (only to a user with a stream open)."""

    user_id: uuid.UUID
    role: str


@dataclass(frozen=True)
class StaffEvent:
    kind: str
    ts: str


Pending = UserEvent | UnreadRefresh | StaffEvent


@dataclass(frozen=True)
class _Reader:
    """Who an unread count is for (a Participant)."""

    id: uuid.UUID
    role: str


class EventHub:
    def __init__(
        self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession] | None = None
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.channels: ChannelsPlugin | None = None
        self.history: History | None = None
        self.presence: Presence | None = None
        self.redis: Redis | None = None
        self._queue: asyncio.Queue[Pending] | None = None
        # Streams open in this process by audience ("user", "staff"), and who hears of a change
        # (the metrics' gauge: the domain knows nothing of Prometheus).
        self.streams_open: dict[str, int] = {"user": 0, "staff": 0}
        self.on_streams_changed: Callable[[str, int], None] | None = None
        # Redis pub/sub channels are one namespace for the whole server (Litestar's backend
        # prefixes its keys, not its channels): every deployment, and every test, that shares a
        # Redis keeps to channels under its own prefix, or each would hear the others' staff.
        self._channel_prefix = settings.events_redis_prefix if settings.redis_url else ""
        self.staff_channel = self._channel_prefix + STAFF_CHANNEL
        if sessionmaker is not None:
            info = dict(sessionmaker.kw.get("info") or {})
            info[EVENTS_KEY] = self
            sessionmaker.configure(info=info)

    def count_stream(self, audience: str, change: int) -> None:
        self.streams_open[audience] += change
        if self.on_streams_changed is not None:
            self.on_streams_changed(audience, self.streams_open[audience])

    @property
    def running(self) -> bool:
        return self._queue is not None

    @asynccontextmanager
    async def run(self) -> AsyncIterator[EventHub]:
        """Connects the backends and runs the publisher until the block ends (the app's
        lifespan); what was queued by then is published first. Entered again while running
        (two test clients on one app), it only waits: the first run owns the connections."""
        if self.running:
            yield self
            return
        settings = self.settings
        keep_seconds = settings.events_history_hours * 3600
        lapse_seconds = max(1.0, settings.events_keepalive_seconds * PRESENCE_LAPSE_KEEPALIVES)
        backend: ChannelsBackend
        if settings.redis_url:
            # A blocking pool: a burst (every stream's keep-alive at once) waits for a
            # connection instead of failing with "too many connections".
            self.redis = Redis.from_pool(
                BlockingConnectionPool.from_url(
                    settings.redis_url,
                    max_connections=REDIS_CONNECTIONS,
                    timeout=REDIS_WAIT_SECONDS,
                    socket_connect_timeout=REDIS_CONNECT_SECONDS,
                )
            )
            prefix = settings.events_redis_prefix
            backend = RedisChannelsPubSubBackend(redis=self.redis, key_prefix=prefix + "channels")
            self.history = RedisHistory(
                self.redis, prefix=prefix, size=settings.events_history, keep_seconds=keep_seconds
            )
            self.presence = RedisPresence(
                self.redis,
                prefix=prefix,
                lapse_seconds=lapse_seconds,
            )
        else:
            backend = MemoryChannelsBackend()
            self.history = MemoryHistory(size=settings.events_history, keep_seconds=keep_seconds)
            self.presence = MemoryPresence(lapse_seconds=lapse_seconds)
        self.channels = ChannelsPlugin(backend, arbitrary_channels_allowed=True)
        try:
            async with self.channels:
                queue: asyncio.Queue[Pending] = asyncio.Queue()
                self._queue = queue
                worker = asyncio.create_task(self._work(queue))
                try:
                    yield self
                finally:
                    with suppress(TimeoutError):
                        async with asyncio.timeout(DRAIN_SECONDS):
                            await queue.join()
                    self._queue = None
                    worker.cancel()
                    with suppress(asyncio.CancelledError):
                        await worker
        finally:
            self.channels = None
            if self.redis is not None:
                await self.redis.aclose()
                self.redis = None

    def user_channel(self, user_id: uuid.UUID) -> str:
        return f"{self._channel_prefix}user:{user_id}"

    def enqueue(self, pending: Pending) -> None:
        """Hands a committed change's event to the publisher (an after-commit callback); a hub
        that is not running (a console command) drops it."""
        if self._queue is not None:
            self._queue.put_nowait(pending)

    async def is_watching(self, user_id: uuid.UUID) -> bool:
        """Whether the user has a stream open here or, with Redis, in any process."""
        if self.presence is None:
            return False
        try:
            async with asyncio.timeout(PRESENCE_READ_SECONDS):  # a send never waits long on it
                return await self.presence.is_online(user_id)
        except Exception:  # presence is a nicety: an unreachable Redis means "not watching"
            log.exception("presence could not be read")
            return False

    async def _work(self, queue: asyncio.Queue[Pending]) -> None:
        while True:
            pending = await queue.get()
            try:
                await self._publish(pending)
            except Exception:
                log.exception("an event could not be published")
            finally:
                queue.task_done()

    async def _publish(self, pending: Pending) -> None:
        assert self.channels is not None and self.history is not None
        if isinstance(pending, StaffEvent):
            body = json.dumps({"kind": pending.kind, "ts": pending.ts})
            self.channels.publish(body.encode(), self.staff_channel)
            return
        if isinstance(pending, UnreadRefresh):
            if self.sessionmaker is None or not await self.is_watching(pending.user_id):
                return
            from portal.services.threads import unread_summary

            async with self.sessionmaker() as session:
                totals = await unread_summary(session, _Reader(pending.user_id, pending.role))
            pending = UserEvent(
                (pending.user_id,),
                UNREAD_CHANGED,
                timestamp(),
                {"unread_count": totals.unread_count, "unread_threads": totals.unread_threads},
            )
        for user_id in pending.user_ids:
            event = await self.history.append(user_id, pending.type, pending.ts, pending.data)
            self.channels.publish(event.as_json().encode(), self.user_channel(user_id))

    def staff_event(self, kind: str) -> None:
        self.enqueue(StaffEvent(kind, timestamp()))


def hub_of(session: AsyncSession) -> EventHub | None:
    hub = session.info.get(EVENTS_KEY)
    return hub if isinstance(hub, EventHub) else None


__all__ = ["QUEUE_CHANGED", "EventHub", "hub_of"]
