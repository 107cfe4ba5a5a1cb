"""A bounded in-process map whose entries expire: the per-worker memories of the API's hot path
(users authenticated lately, tokens verified lately)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ExpiringMap(Generic[K, V]):
    """Entries kept until the time given with each, on ``clock``; when ``max_size`` entries are
    kept, the oldest makes room for a new one."""

    def __init__(self, max_size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_size = max_size
        self.clock = clock
        self._entries: dict[K, tuple[V, float]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() >= entry[1]:
            del self._entries[key]
            return None
        return entry[0]

    def put(self, key: K, value: V, expires_at: float) -> None:
        self._entries.pop(key, None)
        if len(self._entries) >= self.max_size:
            del self._entries[next(iter(self._entries))]  # dicts keep insertion order: the oldest
        self._entries[key] = (value, expires_at)
