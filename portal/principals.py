"""Who an API request acts for, and the per-process memory of end users already authenticated.

A user's id and role never change once provisioned and users are never deleted, so a worker that
has seen a user need not read the row again on every request: :class:`KnownUsers` keeps
``(id, role)`` for ``ttl`` seconds, after which the next request reads the row (and refreshes
``last_active_at``) again. Anything that can change — a suspension, the display name — is read
by the operation that needs it, in its own transaction, never from here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from portal.expiring import ExpiringMap


class Participant(Protocol):
    """What the messaging services need to know of the user they act for."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def role(self) -> str: ...


@dataclass(frozen=True, slots=True)
class EndUser:
    """An authenticated end user: a :class:`Participant` without the rest of the row."""

    id: uuid.UUID
    role: str


class KnownUsers:
    """End users authenticated lately in this process, each remembered for ``ttl`` seconds.

    Bounded: when ``max_size`` users are remembered, the oldest entry makes room.
    """

    def __init__(
        self,
        *,
        ttl: float = 60.0,
        max_size: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._users: ExpiringMap[uuid.UUID, EndUser] = ExpiringMap(max_size, clock)

    def get(self, user_id: uuid.UUID) -> EndUser | None:
        return self._users.get(user_id)

    def remember(self, user: EndUser) -> None:
        self._users.put(user.id, user, self._users.clock() + self.ttl)
