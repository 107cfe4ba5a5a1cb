"""Staff password hashing (argon2id), off the event loop and bounded.

An argon2 hash takes tens of milliseconds of CPU and 64 MB: run on the event loop, a flood of
anonymous sign-in attempts stalled every other request of the process. The async functions run
it on a small pool of its own threads (``HASHING_THREADS`` at a time); an attempt that would
queue behind more than ``MAX_WAITING`` others is refused at once with :class:`HashingBusy` (503
with Retry-After) instead of piling up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portal.errors import ServiceBusy

T = TypeVar("T")

HASHING_THREADS: Final = 2
MAX_WAITING: Final = 32
RETRY_AFTER_BUSY_SECONDS: Final = 1

# argon2-cffi's defaults (RFC 9106's low-memory profile: 3 passes over 64 MiB). Tests that only
# need some hash lower them with use_cheap_hashing; verifying reads the parameters from the hash.
_hasher = PasswordHasher()
_pool = ThreadPoolExecutor(max_workers=HASHING_THREADS, thread_name_prefix="argon2")
_in_flight = 0


class HashingBusy(ServiceBusy):
    def __init__(self) -> None:
        super().__init__(
            "too many sign-ins are being checked at once; try again shortly",
            retry_after_seconds=RETRY_AFTER_BUSY_SECONDS,
        )


def use_cheap_hashing() -> None:
    """Hash new passwords with argon2id's cheapest parameters (one pass over 64 KiB, about 0.1 ms
    instead of about 100 ms of CPU), for the rest of the process. Only for test suites, whose
    passwords protect nothing; nothing in the app or its CLI calls it."""
    global _hasher
    _hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


def hash_password(password: str) -> str:
    """Blocking: for the CLI and tests; request handlers use :func:`hash_password_off_loop`."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Blocking: see :func:`verify_password_off_loop`."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hashing_in_flight() -> int:
    """Hashes running or waiting for a thread now (for tests and diagnostics)."""
    return _in_flight


async def _off_loop(work: Callable[..., T], *args: str) -> T:
    global _in_flight
    if _in_flight >= HASHING_THREADS + MAX_WAITING:
        raise HashingBusy()
    _in_flight += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_pool, work, *args)
    finally:
        _in_flight -= 1


async def hash_password_off_loop(password: str) -> str:
    return await _off_loop(hash_password, password)


async def verify_password_off_loop(password_hash: str, password: str) -> bool:
    return await _off_loop(verify_password, password_hash, password)
