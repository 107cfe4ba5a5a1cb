"""Who has an event stream open: such a user counts as online (no email for a message they are
watching arrive), and has at most ``PORTAL_EVENTS_MAX_STREAMS_PER_USER`` streams.

In memory for one process; in Redis, a sorted set per user (``{prefix}presence:{user_id}``) of
stream ids scored by when each lapses, refreshed by the stream's keep-alive, so that every
process sees every other's streams and a stream of a process that died lapses by itself.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis


class Presence(Protocol):
    async def enter(self, user_id: uuid.UUID, stream_id: str, *, most: int) -> bool:
        """Counts the stream in; False (and not counted) when the user has ``most`` already."""

    async def refresh(self, user_id: uuid.UUID, stream_id: str) -> None:
        """The stream is still open (its keep-alive)."""

    async def leave(self, user_id: uuid.UUID, stream_id: str) -> None: ...

    async def is_online(self, user_id: uuid.UUID) -> bool: ...


@dataclass
class MemoryPresence:
    """The same in this process: each stream lapses unless its keep-alive renews it (so that a
    stream whose answer never started, and so never closed, does not count for ever)."""

    lapse_seconds: float
    _streams: defaultdict[uuid.UUID, dict[str, float]] = field(
        default_factory=lambda: defaultdict(dict)
    )

    def _live(self, user_id: uuid.UUID) -> dict[str, float]:
        streams = self._streams[user_id]
        now = time.monotonic()
        for stream_id in [s for s, until in streams.items() if until <= now]:
            del streams[stream_id]
        return streams

    async def enter(self, user_id: uuid.UUID, stream_id: str, *, most: int) -> bool:
        streams = self._live(user_id)
        if len(streams) >= most:
            return False
        streams[stream_id] = time.monotonic() + self.lapse_seconds
        return True

    async def refresh(self, user_id: uuid.UUID, stream_id: str) -> None:
        self._streams[user_id][stream_id] = time.monotonic() + self.lapse_seconds

    async def leave(self, user_id: uuid.UUID, stream_id: str) -> None:
        streams = self._streams.get(user_id)
        if streams is not None:
            streams.pop(stream_id, None)
            if not streams:
                del self._streams[user_id]

    async def is_online(self, user_id: uuid.UUID) -> bool:
        if user_id not in self._streams:
            return False
        online = bool(self._live(user_id))
        if not online:
            del self._streams[user_id]
        return online


class RedisPresence:
    def __init__(self, redis: Redis, *, prefix: str, lapse_seconds: float) -> None:
        self.redis = redis
        self.prefix = prefix
        self.lapse_ms = int(lapse_seconds * 1000)

    def _key(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}presence:{user_id}"

    async def enter(self, user_id: uuid.UUID, stream_id: str, *, most: int) -> bool:
        key = self._key(user_id)
        now = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {stream_id: now + self.lapse_ms})
            pipe.zcard(key)
            pipe.pexpire(key, self.lapse_ms)
            _, _, count, _ = await pipe.execute()
        if int(count) > most:
            await self.redis.zrem(key, stream_id)
            return False
        return True

    async def refresh(self, user_id: uuid.UUID, stream_id: str) -> None:
        key = self._key(user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {stream_id: int(time.time() * 1000) + self.lapse_ms})
            pipe.pexpire(key, self.lapse_ms)
            await pipe.execute()

    async def leave(self, user_id: uuid.UUID, stream_id: str) -> None:
        await self.redis.zrem(self._key(user_id), stream_id)

    async def is_online(self, user_id: uuid.UUID) -> bool:
        now = int(time.time() * 1000)
        return int(await self.redis.zcount(self._key(user_id), now, "+inf")) > 0
