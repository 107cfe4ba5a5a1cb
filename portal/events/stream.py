"""One client's event stream: what it missed (from its ``Last-Event-ID``), then live events,
with a keep-alive every ``PORTAL_EVENTS_KEEPALIVE_MILLISECONDS``.

The stream subscribes before it reads the history, so nothing falls between the two; a live
event already given from the history is skipped. Live events wait in a bounded backlog where a
newer ``unread.changed`` replaces an older one (latest wins); a client so slow that the backlog
still overflows is disconnected, and resumes from the history with its ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import suppress

import anyio
from litestar.channels import ChannelsPlugin, Subscriber

from portal.events.hub import EventHub, UnreadRefresh
from portal.events.model import RESYNC, UNREAD_CHANGED, Event, EventKey, event_key, timestamp

log = logging.getLogger(__name__)


class TooManyStreams(Exception):
    """The user has as many streams open as allowed."""


class Backlog:
    """Live events waiting for a slow client."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.overflowed = False
        self._events: deque[Event] = deque()
        self._ready = asyncio.Event()

    def add(self, event: Event) -> None:
        if event.type == UNREAD_CHANGED:  # latest wins
            for waiting in [e for e in self._events if e.type == UNREAD_CHANGED]:
                self._events.remove(waiting)
        self._events.append(event)
        if len(self._events) > self.most:
            self.overflowed = True
        self._ready.set()

    async def next(self, wait_seconds: float) -> Event | None:
        """The oldest waiting event, or None after ``wait_seconds`` without one."""
        if not self._events:
            self._ready.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(wait_seconds):
                    await self._ready.wait()
        return self._events.popleft() if self._events else None

    def __len__(self) -> int:
        return len(self._events)


class EventStream:
    def __init__(self, hub: EventHub, user_id: uuid.UUID, role: str) -> None:
        self.hub = hub
        self.user_id = user_id
        self.role = role
        self.stream_id = secrets.token_hex(8)
        self.backlog = Backlog(hub.settings.events_backlog)
        self._subscriber: Subscriber | None = None
        self._pump: asyncio.Task[None] | None = None
        self._counted = False

    @classmethod
    async def open(cls, hub: EventHub, user_id: uuid.UUID, role: str) -> EventStream:
        """A stream for the user, subscribed; TooManyStreams when they have the most allowed."""
        assert hub.presence is not None and hub.channels is not None
        stream = cls(hub, user_id, role)
        most = hub.settings.events_max_streams_per_user
        if not await hub.presence.enter(user_id, stream.stream_id, most=most):
            raise TooManyStreams(f"at most {most} event streams per user")
        try:
            stream._subscriber = await hub.channels.subscribe(hub.user_channel(user_id))
        except BaseException:
            await hub.presence.leave(user_id, stream.stream_id)
            raise
        stream._pump = asyncio.create_task(stream._receive(stream._subscriber))
        hub.count_stream("user", 1)
        stream._counted = True
        return stream

    async def _receive(self, subscriber: Subscriber) -> None:
        async for raw in subscriber.iter_events():
            self.backlog.add(Event.from_json(raw))

    async def close(self) -> None:
        """Unsubscribes and counts the stream out (shielded: it runs as a stream is cancelled)."""
        with anyio.CancelScope(shield=True):
            if self._pump is not None:
                self._pump.cancel()
                with suppress(asyncio.CancelledError):
                    await self._pump
            if self._subscriber is not None and self.hub.channels is not None:
                with suppress(Exception):
                    await self.hub.channels.unsubscribe(self._subscriber)
            if self.hub.presence is not None:
                with suppress(Exception):
                    await self.hub.presence.leave(self.user_id, self.stream_id)
            if self._counted:
                self._counted = False
                self.hub.count_stream("user", -1)

    async def events(self, last_event_id: str | None) -> AsyncIterator[Event | None]:
        """The missed events, then live ones, and None for each keep-alive; ends when the
        backlog overflows. Closes the stream when it ends."""
        assert self.hub.history is not None and self.hub.presence is not None
        history, presence = self.hub.history, self.hub.presence
        keepalive = self.hub.settings.events_keepalive_seconds
        try:
            given: EventKey = (0, 0)
            if last_event_id is not None:
                missed = await history.since(self.user_id, last_event_id)
                if missed is None:
                    latest = await history.latest_id(self.user_id)
                    yield Event(id=latest, type=RESYNC, ts=timestamp(), data={})
                    given = event_key(latest) or given
                else:
                    for replayed in missed:
                        yield replayed
                    given = missed[-1].key if missed else event_key(last_event_id) or given
            self.hub.enqueue(UnreadRefresh(self.user_id, self.role))  # the totals to start from
            while True:
                event = await self.backlog.next(keepalive)
                if self.backlog.overflowed:
                    return
                if event is None:
                    try:
                        await presence.refresh(self.user_id, self.stream_id)
                    except Exception:  # Redis away for a moment: the next keep-alive renews
                        log.warning("the presence of an event stream could not be renewed")
                    yield None
                elif event.key > given:
                    yield event
        finally:
            await self.close()


async def open_staff_events(hub: EventHub) -> AsyncIterator[str | None]:
    """The staff's stream, subscribed before this returns (so that nothing published after the
    answer starts is missed): each change of the moderation queue (its kind, as JSON), and None
    for each keep-alive."""
    assert hub.channels is not None
    subscriber = await hub.channels.subscribe(hub.staff_channel)
    return _staff_events(hub, hub.channels, subscriber)


async def _staff_events(
    hub: EventHub, channels: ChannelsPlugin, subscriber: Subscriber
) -> AsyncIterator[str | None]:
    backlog: asyncio.Queue[bytes] = asyncio.Queue()

    async def receive() -> None:
        async for raw in subscriber.iter_events():
            backlog.put_nowait(raw)

    pump = asyncio.create_task(receive())
    hub.count_stream("staff", 1)
    try:
        while True:
            try:
                async with asyncio.timeout(hub.settings.events_keepalive_seconds):
                    raw = await backlog.get()
            except TimeoutError:
                yield None
                continue
            yield raw.decode()
    finally:
        hub.count_stream("staff", -1)
        with anyio.CancelScope(shield=True):
            pump.cancel()
            with suppress(asyncio.CancelledError):
                await pump
            with suppress(Exception):
                await channels.unsubscribe(subscriber)
