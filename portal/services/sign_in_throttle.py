"""The staff sign-in throttle: failed attempts counted per account and address, per account, and
per address, in fixed windows, atomically, in the database.

Each attempt first claims a slot in the counter of every scope (one conditional UPDATE per
counter, which locks its row until the transaction commits; SQLite's write transaction
serialises all of them): a counter at its limit refuses, so however many attempts arrive at once,
at most the limit of them are checked, and the right password after them is refused too. The
password is checked after that transaction, off the event loop; a success gives its slots back,
a failure keeps them, and the failure that fills a counter starts a lockout of ``WINDOW_SECONDS``
with one ``staff.sign_in_locked`` audit event.

- ``account_address``: one account from one address, ``MAX_FAILURES`` (5). Someone guessing
  elsewhere cannot lock a person out.
- ``account``: one account from anywhere, ``MAX_FAILURES_PER_ACCOUNT`` (50): a ceiling against
  guessing one password from many addresses.
- ``address``: one address against any account, ``MAX_FAILURES_PER_ADDRESS`` (50): against
  trying a few passwords on many accounts.

No failed attempt writes to the audit chain by itself: the counters keep who was tried, from
where, first and last time and how often (``failures``, and ``refused`` for attempts turned away
without a check), and the lockout event points at its counter row.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, record_event
from portal.errors import SignInThrottled
from portal.models import StaffSignInWindow, StaffUser
from portal.models.base import new_id

WINDOW_SECONDS: Final = 15 * 60
MAX_FAILURES: Final = 5
MAX_FAILURES_PER_ACCOUNT: Final = 50
MAX_FAILURES_PER_ADDRESS: Final = 50
LOCKED: Final = "staff.sign_in_locked"

_W = StaffSignInWindow


@dataclass(frozen=True)
class Counter:
    scope: str
    email: str
    address: str
    limit: int

    def matches(self) -> tuple[ColumnElement[bool], ...]:
        return (_W.scope == self.scope, _W.email == self.email, _W.address == self.address)


def counters_for(email: str, address: str) -> tuple[Counter, ...]:
    """In the order every attempt takes their row locks (one order, so no deadlock)."""
    return (
        Counter("account_address", email, address, MAX_FAILURES),
        Counter("account", email, "", MAX_FAILURES_PER_ACCOUNT),
        Counter("address", "", address, MAX_FAILURES_PER_ADDRESS),
    )


def window_start(now: datetime) -> datetime:
    seconds = math.floor(now.timestamp() / WINDOW_SECONDS) * WINDOW_SECONDS
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class Attempt:
    """A sign-in attempt that holds a slot in each of its counters until it is settled."""

    email: str
    address: str
    now: datetime
    claimed: list[tuple[Counter, uuid.UUID]] = field(default_factory=list)

    async def succeeded(self, session: AsyncSession) -> None:
        """Gives the slots back: a success is no failure."""
        await self._give_back(session)

    async def withdrawn(self, session: AsyncSession) -> None:
        """The check never ran to an answer (refused as busy, cancelled): gives the slots back."""
        await self._give_back(session)

    async def failed(self, session: AsyncSession, staff: StaffUser | None) -> None:
        """Keeps the slots; a counter this failure filled starts its lockout, once."""
        until = self.now + timedelta(seconds=WINDOW_SECONDS)
        for counter, row_id in self.claimed:
            locked = (
                await session.execute(
                    update(_W)
                    .where(
                        _W.id == row_id,
                        _W.locked_until.is_(None),
                        _W.failures >= counter.limit,
                    )
                    .values(locked_until=until)
                    .returning(_W.failures, _W.refused, _W.first_attempt_at, _W.window_started_at)
                )
            ).first()
            if locked is None:
                continue
            await record_event(
                session,
                actor=Actor.system(),
                action=LOCKED,
                subject_type="staff",
                subject_id=staff.id if staff is not None and counter.email else None,
                details={
                    "scope": counter.scope,
                    "email": counter.email or None,
                    "address": counter.address or None,
                    "failures": locked.failures,
                    "refused": locked.refused,
                    "window_started_at": locked.window_started_at,
                    "first_attempt_at": locked.first_attempt_at,
                    "locked_until": until,
                    "counter_id": str(row_id),
                },
                occurred_at=self.now,
            )

    async def _give_back(self, session: AsyncSession) -> None:
        ids = [row_id for _, row_id in self.claimed]
        if ids:
            await session.execute(
                update(_W)
                .where(_W.id.in_(ids), _W.failures > 0)
                .values(failures=_W.failures - 1)
                .execution_options(synchronize_session=False)
            )
        self.claimed = []


async def begin_attempt(
    session: AsyncSession, *, email: str, address: str, now: datetime
) -> Attempt | SignInThrottled:
    """Claims a slot in every counter of this attempt, in the caller's write transaction.

    Returns the Attempt, or (having counted the refusal and given back the slots it claimed) the
    refusal, which the caller raises after committing.
    """
    attempt = Attempt(email=email, address=address, now=now)
    start = window_start(now)
    for counter in counters_for(email, address):
        await _ensure_row(session, counter, start, now)
        current = (*counter.matches(), _W.window_started_at == start)
        lock_ends = await session.scalar(
            select(func.max(_W.locked_until)).where(*counter.matches(), _W.locked_until > now)
        )
        claimed = None
        if lock_ends is None:
            claimed = await session.scalar(
                update(_W)
                .where(*current, _W.failures < counter.limit)
                .values(failures=_W.failures + 1, last_attempt_at=now)
                .returning(_W.id)
            )
        if claimed is not None:
            attempt.claimed.append((counter, claimed))
            continue
        await attempt.withdrawn(session)
        await session.execute(
            update(_W).where(*current).values(refused=_W.refused + 1, last_attempt_at=now)
        )
        # the lockout's end, or (its last checks still running) the end of this window
        ends = lock_ends or start + timedelta(seconds=WINDOW_SECONDS)
        return SignInThrottled(max(1, math.ceil((ends - now).total_seconds())))
    return attempt


async def _ensure_row(
    session: AsyncSession, counter: Counter, start: datetime, now: datetime
) -> None:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        insert(_W)
        .values(
            id=new_id(),
            scope=counter.scope,
            email=counter.email,
            address=counter.address,
            window_started_at=start,
            failures=0,
            refused=0,
            first_attempt_at=now,
            last_attempt_at=now,
        )
        .on_conflict_do_nothing(index_elements=["scope", "email", "address", "window_started_at"])
    )
