"""A loop that runs beside the app in ``portal serve`` (email delivery, audit checkpoints)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)


@asynccontextmanager
async def loop_running(
    what: str, run: Callable[[asyncio.Event], Awaitable[None]], *, stop_within: float
) -> AsyncIterator[None]:
    """Runs ``run(stop)`` as a task while the block runs; on exit sets ``stop`` and lets the
    loop finish what it is doing for up to ``stop_within`` seconds before cancelling it."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(stop), name=f"portal-{what.replace(' ', '-')}")
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=stop_within)
        except TimeoutError:
            log.warning("%s did not stop in time and was cancelled", what)
        except Exception:
            log.exception("%s ended with an error", what)
