"""A server-sent events client (for bench/sse.py and the tests): reads a stream in a task of its
own and queues each event (``id``, ``event``, the JSON ``data``) with the time it arrived."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Received:
    id: str | None
    event: str | None
    data: dict[str, Any]
    at: float  # time.time() when it arrived


class SSEClient:
    def __init__(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        self.client = client
        self.url = url
        self.headers = headers
        self.status: int | None = None
        self.connected = asyncio.Event()
        self.queue: asyncio.Queue[Received] = asyncio.Queue()
        self.last_id: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> SSEClient:
        self._task = asyncio.create_task(self._read())
        async with asyncio.timeout(10):
            await self.connected.wait()
        return self

    async def _read(self) -> None:
        try:
            async with self.client.stream(
                "GET", self.url, headers=self.headers, timeout=httpx.Timeout(10, read=None)
            ) as response:
                self.status = response.status_code
                self.connected.set()
                if response.status_code != 200:
                    return
                fields: dict[str, str] = {}
                async for line in response.aiter_lines():
                    if line:
                        name, _, value = line.partition(":")
                        if name:
                            fields[name] = value.removeprefix(" ")
                        continue
                    if "data" in fields:
                        if "id" in fields:
                            self.last_id = fields["id"]
                        await self.queue.put(
                            Received(
                                fields.get("id"),
                                fields.get("event"),
                                json.loads(fields["data"]),
                                time.time(),
                            )
                        )
                    fields = {}
        finally:
            self.connected.set()

    async def next(self, wait: float = 2.0) -> Received | None:
        try:
            async with asyncio.timeout(wait):
                return await self.queue.get()
        except TimeoutError:
            return None

    async def until(self, event: str, wait: float = 2.0) -> Received:
        while True:
            got = await self.next(wait)
            assert got is not None, f"no {event} event within {wait} s"
            if got.event == event:
                return got

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
