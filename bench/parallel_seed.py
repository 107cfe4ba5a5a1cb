"""Seeding a big world (``--messages``, docs/scaling.md) with two processes per core.

The seeder is CPU-bound in Python (a hash per audit event), about 4,000 messages per second per
core here: 5,000,000 messages from one process would take over twenty minutes on an idle core.
The threads are dealt round robin to the processes, each with its own connection, random
seed and transaction, and COPYs its share with :func:`bench.seed.seed_threads`: threads are
independent (each its own chain, its own pair), so the shares never touch the same row.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime

import psycopg

from bench import seed


def seed_threads(
    dsn: str,
    plans: list[seed.ThreadPlan],
    now: datetime,
    *,
    seed_value: int,
    label: str,
    unread_share: float,
    processes: int | None = None,
) -> int:
    """:func:`bench.seed.seed_threads` over ``processes`` connections (default: two per core,
    since each share's time is split between its Python and its PostgreSQL backend, and this
    machine is shared); returns the number of messages written."""
    processes = max(1, min(processes or 2 * (os.cpu_count() or 1), len(plans)))
    shares = [plans[i::processes] for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = [
            pool.submit(
                _seed_share, dsn, share, now, seed_value * 1000 + i, f"{label} {i}", unread_share
            )
            for i, share in enumerate(shares)
        ]
        return sum(future.result() for future in futures)


def _seed_share(
    dsn: str,
    plans: list[seed.ThreadPlan],
    now: datetime,
    seed_value: int,
    label: str,
    unread_share: float,
) -> int:
    with psycopg.connect(dsn) as conn:
        return seed.seed_threads(
            conn, plans, now, seed=seed_value, label=label, unread_share=unread_share
        )
