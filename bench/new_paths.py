"""The paths `make bench` measures besides the API's hot operations (issue 21, item 4), while
bench/run.py's server is up, after its own runs: the staff queue and a report page at 10,000
open reports (bench/staff_paths.py), staff sign-in with the unread count alongside
(bench/signin_bench.py), the compliance export of the 10,000-message thread as JSON and PDF
(bench/exports_bench.py) and event delivery at 1,000 streams (bench/sse.py, on a one-process
``portal serve`` of its own: without Redis an event reaches only the streams of its own worker).
``--quick`` runs them all at smaller sizes; ``--skip-new-paths`` leaves them out."""

from __future__ import annotations

import argparse
import dataclasses
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bench import exports_bench, signin_bench, sse, staff_paths
from bench.path_rows import Row, table
from bench.paths_wrk import HeaderRequest

if TYPE_CHECKING:
    from bench.run import Bench, Server


@dataclass(frozen=True)
class Sizes:
    open_reports: int
    export_runs: int
    streams: int
    sse_rate: float
    sse_seconds: float


FULL = Sizes(open_reports=10_000, export_runs=3, streams=1_000, sse_rate=20, sse_seconds=15)
MIN_SECONDS = 6.0
STAFF_CONNECTIONS = 4  # a few moderators at once; the queue page is not a public endpoint
QUICK = Sizes(open_reports=1_000, export_runs=2, streams=200, sse_rate=20, sse_seconds=5)


@dataclass
class NewPaths:
    rows: list[Row]

    def table(self) -> str:
        return table(self.rows)

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.rows]


def sse_row(result: sse.SSEResult) -> Row:
    return Row(
        f"SSE delivery, commit to client ({result.streams:,} streams)",
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        worst_ms=result.worst_ms,
        errors=result.sent - result.delivered + result.refused,
        note=f"{result.delivered:,} of {result.sent:,} delivered; one process, "
        f"streams opened in {result.open_seconds:.1f} s",
    )


def attempt(label: str, measure: Callable[[], list[Row]]) -> list[Row]:
    """The rows of one path, or one row saying it failed: a path that cannot be measured (the
    shared database out of connections, a page answering 500) must not lose the whole table."""
    try:
        return measure()
    except Exception as exc:  # any failure becomes a row
        print(f"  {label}: failed: {exc!r}", flush=True)
        return [Row(label, errors=1, note=f"failed: {type(exc).__name__}: {exc}"[:160])]


def measure(bench: Bench, server: Server) -> NewPaths | None:
    """The rows, or ``None`` with ``--skip-new-paths``."""
    from bench import run

    if bench.args.skip_new_paths:
        return None
    assert bench.world is not None
    sizes = QUICK if bench.args.quick else FULL
    run.say("new paths:")
    # A staff page takes hundreds of milliseconds: a 3 s run at 16 connections might finish none.
    seconds = max(bench.seconds, MIN_SECONDS)
    target = staff_paths.Target(
        server.url, run.OUT_DIR, seconds, bench.warmup, bench.wrk_threads, run.CONNECTIONS
    )
    staff_target = dataclasses.replace(target, connections=STAFF_CONNECTIONS)
    rows = attempt(
        "staff queue and report page",
        lambda: staff_paths.measure(staff_target, bench.url, bench.dsn, sizes.open_reports),
    )
    people = run._participants(bench.world.phase_one, random.Random(21))
    unread = [
        HeaderRequest(
            "GET", "/api/v1/messages/unread-count", {"Authorization": f"Bearer {bench.token(p.id)}"}
        )
        for p in people
    ]
    rows += attempt(
        "staff sign-in",
        lambda: signin_bench.measure(
            target, bench.url, unread, lambda: run.mark_everyone_active(bench.dsn)
        ),
    )
    long_thread = bench.world.threads_of("long")[0]
    rows += attempt(
        "compliance export",
        lambda: exports_bench.measure(
            bench.runtime_url, long_thread.id, bench.scale.long_thread_messages, sizes.export_runs
        ),
    )
    args = argparse.Namespace(
        streams=sizes.streams, rate=sizes.sse_rate, seconds=sizes.sse_seconds, redis=None
    )
    rows += attempt(
        f"SSE delivery ({sizes.streams:,} streams)",
        lambda: [sse_row(sse.serve_and_measure(args, bench.runtime_url))],
    )
    return NewPaths(rows)
