"""Each user's recent events, for a client that reconnects with ``Last-Event-ID``.

Two stores with one contract: :class:`MemoryHistory` (one process, ``make run``) and
:class:`RedisHistory` (a Redis stream per user, ``XADD … MAXLEN ~ N`` and an expiry refreshed by
each event, shared by every process). :meth:`since` answers the events after an id, in order, or
None when they cannot all be given (the id is older than what is kept, or unknown): the client
is then told to ``resync``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from redis.asyncio import Redis

from portal.events.model import NO_EVENT_ID, Event, EventKey, event_key

SWEEP_EVERY = 1000  # appends between two sweeps of the memory history


class History(Protocol):
    async def append(self, user_id: uuid.UUID, type_: str, ts: str, data: dict[str, Any]) -> Event:
        """Keeps the event and gives it the user's next id."""

    async def since(self, user_id: uuid.UUID, last_id: str) -> list[Event] | None:
        """The user's events after ``last_id``, oldest first; None: resync."""

    async def latest_id(self, user_id: uuid.UUID) -> str:
        """The id of the user's newest kept event (``0-0`` when none)."""


@dataclass
class _Kept:
    events: deque[tuple[float, Event]]
    last: EventKey = (0, 0)


@dataclass
class MemoryHistory:
    """The last ``size`` events of each user, for ``keep_seconds``, in this process."""

    size: int
    keep_seconds: float
    _users: dict[uuid.UUID, _Kept] = field(default_factory=dict)
    _appended: int = 0

    def _prune(self, user_id: uuid.UUID, now: float) -> _Kept | None:
        kept = self._users.get(user_id)
        if kept is None:
            return None
        while kept.events and kept.events[0][0] < now - self.keep_seconds:
            kept.events.popleft()
        if not kept.events:
            del self._users[user_id]
            return None
        return kept

    async def append(self, user_id: uuid.UUID, type_: str, ts: str, data: dict[str, Any]) -> Event:
        now = time.time()
        self._appended += 1
        if self._appended % SWEEP_EVERY == 0:  # users nobody asks about again expire too
            for someone in list(self._users):
                self._prune(someone, now)
        kept = self._prune(user_id, now) or self._users.setdefault(
            user_id, _Kept(deque(maxlen=self.size))
        )
        ms = int(now * 1000)
        key = (ms, 0) if ms > kept.last[0] else (kept.last[0], kept.last[1] + 1)
        kept.last = key
        event = Event(id=f"{key[0]}-{key[1]}", type=type_, ts=ts, data=data)
        kept.events.append((now, event))
        return event

    async def since(self, user_id: uuid.UUID, last_id: str) -> list[Event] | None:
        last = event_key(last_id)
        kept = self._prune(user_id, time.time())
        if last is None or kept is None:
            return None
        events = [event for _, event in kept.events]
        return _after(events, last, newest=kept.last)

    async def latest_id(self, user_id: uuid.UUID) -> str:
        kept = self._prune(user_id, time.time())
        return kept.events[-1][1].id if kept is not None else NO_EVENT_ID


def _after(events: list[Event], last: EventKey, *, newest: EventKey) -> list[Event] | None:
    """The events after ``last``, or None when ``last`` is older than the oldest kept (some may
    have been dropped) or newer than any given out (an id from elsewhere)."""
    if not events or last < events[0].key or last > newest:
        return None
    return [event for event in events if event.key > last]


class RedisHistory:
    """A Redis stream per user, ``{prefix}events:{user_id}``: at most about ``size`` entries,
    expiring ``keep_seconds`` after the last one."""

    def __init__(self, redis: Redis, *, prefix: str, size: int, keep_seconds: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.size = size
        self.keep_seconds = keep_seconds

    def _key(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}events:{user_id}"

    async def append(self, user_id: uuid.UUID, type_: str, ts: str, data: dict[str, Any]) -> Event:
        key = self._key(user_id)
        body = json.dumps({"type": type_, "ts": ts, "data": data}, separators=(",", ":"))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(key, {"e": body}, maxlen=self.size, approximate=True)
            pipe.expire(key, self.keep_seconds)
            added, _ = await pipe.execute()
        return Event(id=_text(added), type=type_, ts=ts, data=data)

    async def since(self, user_id: uuid.UUID, last_id: str) -> list[Event] | None:
        last = event_key(last_id)
        if last is None:
            return None
        key = self._key(user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xrange(key, "-", "+", count=1)
            pipe.xrevrange(key, "+", "-", count=1)
            pipe.xrange(key, f"({last[0]}-{last[1]}", "+")
            first, newest, entries = await pipe.execute()
        if not first:
            return None
        events = [_event(entry) for entry in entries]
        oldest = event_key(_text(first[0][0])) or (0, 0)
        newest_key = event_key(_text(newest[0][0])) or (0, 0)
        if last < oldest or last > newest_key:
            return None
        return events

    async def latest_id(self, user_id: uuid.UUID) -> str:
        newest = await self.redis.xrevrange(self._key(user_id), "+", "-", count=1)
        return _text(cast("bytes", newest[0][0])) if newest else NO_EVENT_ID


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _event(entry: tuple[bytes, dict[bytes, bytes]]) -> Event:
    entry_id, fields = entry
    body = json.loads(fields[b"e"])
    return Event(id=_text(entry_id), type=body["type"], ts=body["ts"], data=body["data"])
