"""The loops ``portal serve`` runs beside the app (email delivery, audit checkpoints) and the
``portal worker`` process runs alone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.email_delivery import MAX_SENDS_PER_PASS, deliver_due, send_deadline_seconds
from portal.services.compliance.checkpoints import (
    checkpoints_disabled_because,
    write_checkpoint_if_due,
)
from portal.settings import Settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def loop_running(
    what: str, run: Callable[[asyncio.Event], Coroutine[Any, Any, None]], *, stop_within: float
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


async def run_delivery_loop(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    stop: asyncio.Event,
) -> None:
    """Delivers due notifications every ``email_poll_seconds`` until ``stop`` is set.

    An error in a pass (the database away, say) is logged and the loop carries on.
    """
    log.info("email delivery loop started (polling every %g s)", settings.email_poll_seconds)
    failing = False
    while not stop.is_set():
        busy = False
        try:
            stats = await deliver_due(sessionmaker, settings)
            busy = stats.handled >= MAX_SENDS_PER_PASS
            if failing:
                log.info("email delivery recovered")
            failing = False
        except Exception as exc:
            if failing:
                log.warning("email delivery pass failed again: %s: %s", type(exc).__name__, exc)
            else:
                log.exception("email delivery pass failed; retrying")
            failing = True
        if busy:
            continue
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.email_poll_seconds)
    log.info("email delivery loop stopped")


def delivery_loop_running(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AbstractAsyncContextManager[None]:
    """Runs the delivery loop in this process while the block runs, if the settings ask for it
    (``email_worker_in_serve``); on exit lets a send in progress finish, within reason."""
    if not settings.email_worker_in_serve:
        return nullcontext()
    return loop_running(
        "email delivery loop",
        lambda stop: run_delivery_loop(settings, sessionmaker, stop),
        stop_within=send_deadline_seconds(settings) + 1,
    )


async def run_checkpoint_loop(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event
) -> None:
    """Writes a checkpoint every ``audit_checkpoint_minutes`` until ``stop`` is set; says once
    why when checkpoints are not configured. A failed attempt is logged and tried again."""
    reason = checkpoints_disabled_because(settings)
    if reason is not None:
        log.warning("no audit checkpoints are written: %s", reason)
        return
    log.info(
        "audit checkpoints every %d minutes into %s",
        settings.audit_checkpoint_minutes,
        settings.audit_checkpoint_dir,
    )
    retry_seconds = 60.0
    while not stop.is_set():
        wait = min(retry_seconds, settings.audit_checkpoint_minutes * 60.0)
        try:
            path = await write_checkpoint_if_due(settings, sessions)
            if path is not None:
                log.info("audit checkpoint written: %s", path)
        except Exception as exc:
            log.warning("audit checkpoint failed, retrying: %s: %s", type(exc).__name__, exc)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)


def checkpoint_loop_running(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> AbstractAsyncContextManager[None]:
    """Runs the checkpoint loop in this process while the block runs, when ``portal serve``
    runs the worker (``email_worker_in_serve``)."""
    if not settings.email_worker_in_serve:
        return nullcontext()
    return loop_running(
        "audit checkpoint loop",
        lambda stop: run_checkpoint_loop(settings, sessions, stop),
        stop_within=30,
    )
