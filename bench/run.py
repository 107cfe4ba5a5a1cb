"""The API benchmark: ``make bench`` (full scale) and ``make bench-quick`` (small, under 2 minutes).

    .venv/bin/python -m bench.run [--quick] [--seconds S] [--workers N] [--profile OP]

PostgreSQL only. In one run it
1. (re)creates the database ``portal_bench`` (``PORTAL_BENCH_URL`` names another, as the role
   that owns the schema) and migrates it with ``portal db upgrade``, which creates the app's
   runtime role ``portal_bench_app`` (``PORTAL_BENCH_RUNTIME_ROLE``): the served app and the floor
   run as that role, as production does; the seeder, a bulk loader, runs as the owner;
2. seeds the small world (a tenth of the messages) and measures list threads and unread count
   on it, then seeds the rest (bench/seed.py) and checks the invariants in SQL;
3. plans every statement of each hot operation, captured from the app itself, with EXPLAIN and
   fails (after the table) if one reads ``messages`` or ``message_threads`` sequentially
   (full scale only: on the quick world's small tables a sequential scan is the right plan);
4. starts the app as production does (``portal serve`` with a worker per core,
   ``PORTAL_ENV=production``, a JWT secret of its own) and drives each operation with wrk
   (bench/requests.lua) at 16 connections for a fixed time, after a short warm-up, with many
   users' tokens; then the same operation's database work from bench/floor.py at the same
   concurrency (the floor);
5. right before each read (list, detail, unread), measures ``/health/live`` (no database) on the
   same server with wrk at the same 16 connections: the read's bound is 1/(1/live + 1/floor),
   the most the framework's own cost plus the database work's allows (target: every read at
   0.75 of it or more);
6. after the main run, serves the app under each ASGI server in turn (``portal serve --server
   uvicorn|granian``; ``--server`` picks the main run's, ``--no-compare-servers`` skips this)
   and measures ``/health/live`` and the unread count under both;
7. prints one table (API/floor, and for the reads their bound and API/bound) and writes it to
   ``var/bench/latest.json``; the last two lines are
   ``bench bound: list X.XX, detail X.XX, unread X.XX of 1/(1/live + 1/floor)`` and
   ``bench: send X.XX, list X.XX, detail X.XX, unread X.XX, read X.XX of raw`` (API/floor).

So that the rate limit is not what is measured, the server runs with
``PORTAL_RATE_LIMIT_MESSAGES=1000`` per ``PORTAL_RATE_LIMIT_WINDOW_SECONDS=60`` (the same window
count query runs on every send; it just never refuses). Users are marked active before each
operation, as on a busy platform, so a send writes no notification email and authentication
skips its once-a-minute activity write.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bench import floor, new_paths, parallel_seed, paths_wrk, seed, sizes
from bench.explain import Case, Checked, capture_and_check

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "var" / "bench"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/portal_bench"
DEFAULT_RUNTIME_ROLE = "portal_bench_app"
CONNECTIONS = 16
RATE_LIMIT = 1000
RATE_WINDOW_SECONDS = 60
OPERATIONS = ("send", "list", "detail", "unread", "read")
LABELS = {
    "send": "send (POST /api/v1/messages)",
    "list": "list threads (page 1)",
    "detail": "thread detail (50 messages)",
    "unread": "unread count",
    "read": "mark read",
}


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Measured:
    """One operation measured both ways."""

    operation: str
    api_rate: float
    api_p50_ms: float
    api_p99_ms: float
    api_errors: int
    api_requests: int
    floor_rate: float
    floor_p50_ms: float
    floor_p99_ms: float
    floor_errors: int

    @property
    def ratio(self) -> float:
        return self.api_rate / self.floor_rate if self.floor_rate else 0.0


# --- database ---------------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    dsn = libpq(url)
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    admin = psycopg.conninfo.make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def portal_command() -> str:
    return str(Path(sys.executable).parent / "portal")


def migrate(env: dict[str, str]) -> None:
    subprocess.run([portal_command(), "db", "upgrade"], env=env, check=True, capture_output=True)


def vacuum_analyze(dsn: str) -> None:
    """VACUUM ANALYZE, then a CHECKPOINT: the seed's dirty pages are written now, not by the
    checkpointer in the middle of the next measurement (which slowed the API and the floor
    alike at 500,000 messages against 50,000, blurring the scaling figures)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        # PORTAL_BENCH_URL's role may be no superuser (nor pg_checkpoint): then carry on.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")


def mark_everyone_active(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE users SET last_active_at = now()")


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``portal serve`` in its own process group, logging to var/bench/serve.log."""

    def __init__(self, env: dict[str, str], workers: int, kind: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.kind = kind
        log_path = OUT_DIR / "serve.log"
        self._log = log_path.open("ab")
        choice = ["--server", kind] if kind else []
        self.process = subprocess.Popen(
            [
                portal_command(),
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                *choice,
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(
                    f"portal serve exited with {self.process.returncode}; see {log_path}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("portal serve did not become ready in 120 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


# --- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request of a workload, both as wrk sends it and as the floor does the same work."""

    method: str
    path: str
    token: str
    body: dict[str, Any] | None
    sample: floor.Sample


def wrk_run(
    server: Server, requests: list[Request], name: str, seconds: float, threads: int
) -> dict[str, Any]:
    api_requests = []
    for r in requests:
        headers = {"Authorization": f"Bearer {r.token}"}
        body = ""
        if r.body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(r.body, separators=(",", ":"))
        api_requests.append(paths_wrk.HeaderRequest(r.method, r.path, headers, body))
    lines, result_file = paths_wrk.prepare(OUT_DIR, name, api_requests)
    subprocess.run(
        paths_wrk.command(server.url, lines, seconds, threads, CONNECTIONS),
        env={**os.environ, "BENCH_WRK_OUT": str(result_file)},
        check=True,
        capture_output=True,
    )
    result = json.loads(result_file.read_text())
    errors = result["errors"]
    result["error_total"] = sum(errors.values())
    result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def floor_run(
    dsn: str, operation: floor.Operation, requests: list[Request], seconds: float
) -> floor.Result:
    samples = [r.sample for r in requests]
    for attempt in range(6):
        try:
            return asyncio.run(
                floor.drive(dsn, operation, samples, connections=CONNECTIONS, seconds=seconds)
            )
        except psycopg.OperationalError as exc:
            # A shared PostgreSQL whose connection slots others hold for now: wait, try again.
            if "connection slots" not in str(exc) or attempt == 5:
                raise
            say("  note: PostgreSQL has no free connection slot; the floor waits 10 s")
            time.sleep(10)
    raise AssertionError("unreachable")


FLOOR_OPERATIONS: dict[str, floor.Operation] = {
    "send": partial(floor.send, rate_limit=RATE_LIMIT, window_seconds=RATE_WINDOW_SECONDS),
    "list": floor.list_threads,
    "detail": floor.thread_detail,
    "unread": floor.unread_count,
    "read": floor.mark_read,
}


# --- the framework's own ceiling: /health/live, each read's bound, the ASGI servers ---------

READS = ("list", "detail", "unread")
LIVE_PATH = "/health/live"
SERVERS = ("uvicorn", "granian")
BOUND_TARGET = 0.75


@dataclass
class Live:
    """``/health/live`` (no database, the same middleware but authentication) on one server at
    the same concurrency: what the server and the framework alone can answer."""

    server: str
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


def bound(live_rate: float, floor_rate: float) -> float:
    """The most a read can do: the framework's own time per request plus the database work's,
    1/(1/live + 1/floor)."""
    return 1 / (1 / live_rate + 1 / floor_rate) if live_rate and floor_rate else 0.0


def read_bounds(results: list[Measured], lives: dict[str, Live]) -> dict[str, dict[str, float]]:
    """Per read operation: /health/live measured beside it, its bound and the API's rate as a
    share of the bound."""
    out = {}
    for m in results:
        live = lives.get(m.operation)
        if live is not None:
            limit = bound(live.rate, m.floor_rate)
            out[m.operation] = {
                "live_rate": live.rate,
                "bound_rate": round(limit, 1),
                "api_over_bound": round(m.api_rate / limit, 4) if limit else 0.0,
            }
    return out


def bound_cells(m: Measured, bounds: dict[str, dict[str, float]]) -> str:
    """The table's two extra columns for one row (empty but for the reads)."""
    if m.operation not in bounds:
        return " – | – |"
    b = bounds[m.operation]
    return f" {b['bound_rate']:,.0f} | {b['api_over_bound']:.2f} |"


def bound_lines(lives: dict[str, Live], servers: dict[str, dict[str, Any]]) -> list[str]:
    """/health/live and the servers compared, for the lines under the table."""
    lines = []
    if lives:
        lines.append(
            f"{LIVE_PATH} (no database, {next(iter(lives.values())).server}) right before each "
            "read: "
            + ", ".join(
                f"{op} {live.rate:,.0f}/s (p99 {live.p99_ms:.1f} ms, {live.errors} errors)"
                for op, live in lives.items()
            )
            + f"; bound = 1/(1/live + 1/floor), target every read >= {BOUND_TARGET:.2f} of it"
        )
    for kind, figures in servers.items():
        lines.append(
            f"server {kind}: {LIVE_PATH} {figures['live']['rate']:,.0f}/s "
            f"(p99 {figures['live']['p99_ms']:.1f} ms), unread count "
            f"{figures['unread']['rate']:,.0f}/s (p99 {figures['unread']['p99_ms']:.1f} ms)"
        )
    if len(servers) == 2:
        a, b = (servers[k] for k in SERVERS)
        lines.append(
            f"granian/uvicorn: {LIVE_PATH} {_share(b['live']['rate'], a['live']['rate']):.2f}, "
            f"unread {_share(b['unread']['rate'], a['unread']['rate']):.2f}"
        )
    return lines


def _share(a: float, b: float) -> float:
    return a / b if b else 0.0


def _mean_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: round(sum(r[key] for r in runs) / len(runs), 1) for key in runs[0]}


def _wrk_figures(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "rate": round(result["rate"], 1),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "errors": result["error_total"],
    }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.scale = seed.QUICK if args.quick else seed.FULL
        if args.messages:  # docs/scaling.md
            self.scale = seed.scaled(args.messages)
        self.url = os.environ.get("PORTAL_BENCH_URL", DEFAULT_URL)
        self.dsn = libpq(self.url)
        runtime_role = os.environ.get("PORTAL_BENCH_RUNTIME_ROLE", DEFAULT_RUNTIME_ROLE)
        self.runtime_url = (
            make_url(self.url)
            .set(username=runtime_role, password=None)
            .render_as_string(hide_password=False)
        )
        self.runtime_dsn = libpq(self.runtime_url)
        self.seconds = args.seconds or (3.0 if args.quick else 10.0)
        self.warmup = 1.0 if args.quick else 2.0
        self.workers = args.workers or os.cpu_count() or 1
        self.wrk_threads = min(2, os.cpu_count() or 1)
        self.rng = random.Random(1010)
        self.env = {
            **os.environ,
            "PORTAL_ENV": "production",
            "PORTAL_MIGRATION_DATABASE_URL": self.url,
            "PORTAL_DATABASE_URL": self.runtime_url,
            "PORTAL_JWT_SECRET": secrets.token_urlsafe(48),
            "PORTAL_SESSION_SECRET": secrets.token_urlsafe(48),
            # Production requires one; a throwaway key of this run's own.
            "PORTAL_AUDIT_SIGNING_KEY": _throwaway_signing_key(),
            "PORTAL_VAR_DIR": str(OUT_DIR / "var"),
            "PORTAL_RATE_LIMIT_MESSAGES": str(RATE_LIMIT),
            "PORTAL_RATE_LIMIT_WINDOW_SECONDS": str(RATE_WINDOW_SECONDS),
            # No upload is measured; production otherwise requires a clamd to scan them.
            "PORTAL_ALLOW_UNSCANNED": "1",
        }
        # The tokens and the in-process app (EXPLAIN capture) read the same settings.
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("PORTAL_")})
        from portal.settings import load_settings

        self.settings = load_settings()
        self._tokens: dict[uuid.UUID, str] = {}
        self.world: seed.World | None = None
        self.profile_file: Path | None = None
        self.new_paths: new_paths.NewPaths | None = None
        self.lives: dict[str, Live] = {}
        self.servers: dict[str, dict[str, Any]] = {}

    def token(self, user_id: uuid.UUID) -> str:
        if user_id not in self._tokens:
            from portal.tokens import issue_user_token

            self._tokens[user_id] = issue_user_token(self.settings, user_id, ttl_seconds=6 * 3600)
        return self._tokens[user_id]

    # workloads

    def inbox_requests(self, people: list[seed.Person], path: str, op: str) -> list[Request]:
        return [
            Request("GET", path, self.token(p.id), None, floor.Sample(p.id, p.role)) for p in people
        ]

    def detail_requests(
        self,
        threads: list[seed.ThreadPlan],
        page: int = 1,
        who: str = "random",
        after: dict[uuid.UUID, uuid.UUID] | None = None,
    ) -> list[Request]:
        requests = []
        for plan in threads:
            if who == "employer" or (who == "random" and self.rng.random() < 0.5):
                person = plan.employer
            else:
                person = plan.candidate
            cursor = after.get(plan.id) if after else None
            query = "" if page == 1 else f"?page={page}"
            if cursor is not None:
                query = f"?after={cursor}"
            requests.append(
                Request(
                    "GET",
                    f"/api/v1/messages/threads/{plan.id}{query}",
                    self.token(person.id),
                    None,
                    floor.Sample(person.id, person.role, target=plan.id, page=page, after=cursor),
                )
            )
        return requests

    def send_requests(self, count: int) -> list[Request]:
        assert self.world is not None
        plans = [plan for plan in self.world.plans if plan.application_id is None]
        known = {(plan.employer.id, plan.candidate.id) for plan in plans}
        bodies = seed._bodies(self.rng)
        requests = []
        for _ in range(count):
            if self.rng.random() < 0.05:  # a pair's first message: the thread is created
                employer = self.rng.choice(self.world.employers)
                candidate = self.rng.choice(self.world.candidates)
                if (employer.id, candidate.id) in known:
                    continue
                known.add((employer.id, candidate.id))
            else:
                plan = self.rng.choice(plans)
                employer, candidate = plan.employer, plan.candidate
            sender, recipient = (
                (employer, candidate) if self.rng.random() < 0.5 else (candidate, employer)
            )
            body = self.rng.choice(bodies)
            requests.append(
                Request(
                    "POST",
                    "/api/v1/messages",
                    self.token(sender.id),
                    {"recipient_id": str(recipient.id), "body": body},
                    floor.Sample(sender.id, sender.role, target=recipient.id, body=body),
                )
            )
        return requests

    def read_requests(self) -> list[Request]:
        """Unread messages of random recipients, each marked read once (split between the
        warm-up, the API and the floor by the caller)."""
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                "SELECT m.id, m.recipient_id, u.role FROM messages m"
                " JOIN users u ON u.id = m.recipient_id"
                " WHERE NOT m.is_read AND NOT m.is_deleted ORDER BY random() LIMIT 120000"
            ).fetchall()
        return [
            Request(
                "PUT",
                f"/api/v1/messages/{message_id}/read",
                self.token(recipient_id),
                None,
                floor.Sample(recipient_id, role, target=message_id),
            )
            for message_id, recipient_id, role in rows
        ]

    # measuring

    def measure(
        self,
        server: Server,
        op: str,
        warm: list[Request],
        api: list[Request],
        floor_requests: list[Request],
        *,
        name: str | None = None,
        seconds: float | None = None,
    ) -> Measured:
        name = name or op
        seconds = seconds or self.seconds
        if op in READS and name == op:
            self.measure_live_beside(server, op, api)
        mark_everyone_active(self.dsn)
        wrk_run(server, warm, f"{name}-warmup", self.warmup, self.wrk_threads)
        profiler = self._start_profiler(server, name, seconds)
        api_result = wrk_run(server, api, name, seconds, self.wrk_threads)
        if profiler is not None:
            profiler.wait()
        floor_run(self.runtime_dsn, FLOOR_OPERATIONS[op], warm, min(self.warmup, 1.0))
        floor_result = floor_run(self.runtime_dsn, FLOOR_OPERATIONS[op], floor_requests, seconds)
        if op == "read" and (
            api_result["requests"] > len(api) or floor_result.requests > len(floor_requests)
        ):
            say(
                "  note: mark read ran out of distinct unread messages and marked some again "
                "(a cheaper no-op): seed more unread messages or run shorter"
            )
        measured = Measured(
            operation=name,
            api_rate=api_result["rate"],
            api_p50_ms=api_result["p50_us"] / 1000,
            api_p99_ms=api_result["p99_us"] / 1000,
            api_errors=api_result["error_total"],
            api_requests=api_result["requests"],
            floor_rate=floor_result.rate,
            floor_p50_ms=floor_result.percentile(50),
            floor_p99_ms=floor_result.percentile(99),
            floor_errors=floor_result.errors,
        )
        say(
            f"  {name:<14} API {measured.api_rate:8.0f}/s p99 {measured.api_p99_ms:6.1f} ms, "
            f"floor {measured.floor_rate:8.0f}/s, ratio {measured.ratio:.2f}"
            + (f", API errors {measured.api_errors}" if measured.api_errors else "")
            + (f", floor errors {measured.floor_errors}" if measured.floor_errors else "")
        )
        return measured

    def measure_live_beside(self, server: Server, op: str, requests: list[Request]) -> None:
        """/health/live on ``server`` right before the read ``op`` (the machine's load moves
        between runs), as wrk drives the reads: 16 connections, a bearer token it does not
        read. The last one measured per read is its bound's."""
        live_requests = [dataclasses.replace(requests[0], path=LIVE_PATH)]
        wrk_run(server, live_requests, "live-warmup", min(self.warmup, 1.0), self.wrk_threads)
        result = wrk_run(server, live_requests, f"live-{op}", self.seconds / 2, self.wrk_threads)
        self.lives[op] = live = Live(server=server.kind or "uvicorn", **_wrk_figures(result))
        say(f"  {'live':<14} API {live.rate:8.0f}/s p99 {live.p99_ms:6.1f} ms (no database)")

    def compare_servers(self, people: list[seed.Person]) -> dict[str, dict[str, Any]]:
        """/health/live and the unread count under each ASGI server, API only (the floor is the
        main run's). Both servers run at once (the idle one costs nothing) and the runs
        alternate between them, twice, so that a change in the machine's load falls on both."""
        count = self.inbox_requests(people, "/api/v1/messages/unread-count", "unread")
        workloads = {"live": [dataclasses.replace(count[0], path=LIVE_PATH)], "unread": count}
        seconds = self.seconds / 2
        servers: dict[str, Server] = {}
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
        try:
            for kind in SERVERS:
                try:
                    servers[kind] = Server(self.env, self.workers, kind)
                except SystemExit as exc:  # the main run's figures are still worth a report
                    say(f"  {kind:<14} not measured: {exc}")
            for server in servers.values():
                for name, requests in workloads.items():
                    wrk_run(server, requests, f"{server.kind}-{name}-warmup", self.warmup,
                            self.wrk_threads)  # fmt: skip
            for _ in range(2):
                for name, requests in workloads.items():
                    for kind, server in servers.items():
                        mark_everyone_active(self.dsn)
                        result = wrk_run(server, requests, f"{kind}-{name}", seconds,
                                         self.wrk_threads)  # fmt: skip
                        runs.setdefault(kind, {}).setdefault(name, []).append(_wrk_figures(result))
        finally:
            for server in servers.values():
                server.stop()
        out: dict[str, dict[str, Any]] = {}
        for kind, by_name in runs.items():
            out[kind] = {name: _mean_figures(figures) for name, figures in by_name.items()}
            out[kind]["runs"] = by_name
            say(
                f"  {kind:<14} {LIVE_PATH} {out[kind]['live']['rate']:8.0f}/s, "
                f"unread {out[kind]['unread']['rate']:8.0f}/s (mean of 2 alternating runs)"
            )
        return out

    def _start_profiler(self, server: Server, name: str, seconds: float) -> Any:
        if self.args.profile != name:
            return None
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.profile_file = OUT_DIR / f"profile-{name}.txt"
        return subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(server.process.pid),
                "--subprocesses",
                "--duration",
                str(max(1, int(seconds) - 1)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(self.profile_file),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _split(self, requests: list[Request], parts: int) -> list[list[Request]]:
        size = len(requests) // parts
        return [requests[i * size : (i + 1) * size] for i in range(parts)]

    # the run

    def run(self) -> int:
        started = time.monotonic()
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        (OUT_DIR / "serve.log").unlink(missing_ok=True)
        say(
            f"bench ({self.scale.name}): database {self.dsn.rsplit('/', 1)[-1]}, "
            f"{self.workers} workers, {CONNECTIONS} connections, {self.seconds:g} s per run"
        )
        recreate_database(self.url)
        migrate(self.env)
        self.world = world = seed.plan_world(self.scale)
        now = seed.now_utc()
        seeding = time.monotonic()
        with psycopg.connect(self.dsn) as conn:
            seed.seed_people(conn, world, now)
        small = self._seed_threads(world.phase_one, now, 1, "seed (small)")
        vacuum_analyze(self.dsn)
        self._say_sizes(f"seeded the first phase in {time.monotonic() - seeding:.0f} s")
        small_people = _participants(world.phase_one, self.rng)
        server = Server(self.env, self.workers, self.args.server)
        try:
            say(f"at {small:,} messages:")
            small_results = self._inbox_runs(server, small_people, seconds=self.seconds / 2)
            seeding = time.monotonic()
            big = small + self._seed_threads(world.phase_two, seed.now_utc(), 2, "seed (rest) ")
            say(f"seeded the rest in {time.monotonic() - seeding:.0f} s")
            vacuum_analyze(self.dsn)
            self._say_sizes(f"seeded and vacuumed the rest in {time.monotonic() - seeding:.0f} s")
            with psycopg.connect(self.dsn) as conn:
                broken = seed.check_invariants(conn)
            if broken:
                raise SystemExit("the seeded data breaks invariants: " + "; ".join(broken))
            total_messages = big
            say(f"seeded {len(world.people):,} users, {len(world.plans):,} threads, "
                f"{total_messages:,} messages; invariants hold")  # fmt: skip
            explained = self._explain(small_people)
            say(f"at {total_messages:,} messages:")
            results = self._main_runs(server, small_people)
            big_inbox = {m.operation: m for m in results if m.operation in ("list", "unread")}
            long_pages = self._long_thread_runs(server)
            self.new_paths = new_paths.measure(self, server)
        finally:
            server.stop()
        if self.args.compare_servers:
            self.servers = self.compare_servers(small_people)
        return self._report(
            results, small_results, big_inbox, long_pages, explained, small, total_messages,
            time.monotonic() - started,
        )  # fmt: skip

    def _seed_threads(
        self, plans: list[seed.ThreadPlan], now: datetime, seed_value: int, label: str
    ) -> int:
        share = self.scale.unread_share
        if self.args.messages:  # a big world: a process per core (docs/scaling.md)
            written = parallel_seed.seed_threads(
                self.dsn, plans, now, seed_value=seed_value, label=label, unread_share=share
            )
        else:
            with psycopg.connect(self.dsn) as conn:
                written = seed.seed_threads(
                    conn, plans, now, seed=seed_value, label=label, unread_share=share
                )
        with psycopg.connect(self.dsn) as conn:
            seed.fill_inbox_totals(conn)
        return written

    def _say_sizes(self, heading: str) -> None:
        with psycopg.connect(self.dsn) as conn:
            say(f"{heading}; sizes: {sizes.describe(sizes.database_sizes(conn))}")

    def _inbox_runs(
        self, server: Server, people: list[seed.Person], *, seconds: float
    ) -> dict[str, Measured]:
        out = {}
        for op, path in (
            ("list", "/api/v1/messages/threads"),
            ("unread", "/api/v1/messages/unread-count"),
        ):
            requests = self.inbox_requests(people, path, op)
            out[op] = self.measure(server, op, requests, requests, requests, seconds=seconds)
        return out

    def _main_runs(self, server: Server, inbox_people: list[seed.Person]) -> list[Measured]:
        assert self.world is not None
        results = []
        send = self.send_requests(30_000)
        warm, api, floor_requests = self._split(send, 3)
        results.append(self.measure(server, "send", warm, api, floor_requests))
        inbox = self._inbox_runs(server, inbox_people, seconds=self.seconds)
        results.append(inbox["list"])
        detail = self.detail_requests(self.world.threads_of("detail"))
        results.append(self.measure(server, "detail", detail, detail, detail))
        results.append(inbox["unread"])
        warm, api, floor_requests = self._split(self.read_requests(), 3)
        results.append(self.measure(server, "read", warm, api, floor_requests))
        return results

    def _long_thread_runs(self, server: Server) -> dict[str, Measured]:
        assert self.world is not None
        long_thread = self.world.threads_of("long")
        last = math.ceil(self.scale.long_thread_messages / seed.DETAIL_MESSAGES)
        out = {}
        for label, page in (("first", 1), ("last", last)):
            requests = self.detail_requests(long_thread, page=page, who="employer")
            out[label] = self.measure(
                server, "detail", requests, requests, requests,
                name=f"detail-p{page}", seconds=self.seconds / 2,
            )  # fmt: skip
        # The same last page by the cursor: after the message just before it.
        cursors = self._messages_before_page(long_thread, last)
        requests = self.detail_requests(long_thread, who="employer", after=cursors)
        out["last_by_cursor"] = self.measure(
            server, "detail", requests, requests, requests,
            name=f"detail-p{last}-after", seconds=self.seconds / 2,
        )  # fmt: skip
        return out

    def _messages_before_page(
        self, threads: list[seed.ThreadPlan], page: int
    ) -> dict[uuid.UUID, uuid.UUID]:
        """Per thread, the message just before ``page`` (the ``after`` cursor that starts it)."""
        with psycopg.connect(self.dsn) as conn:
            return {
                plan.id: conn.execute(
                    "SELECT id FROM messages WHERE thread_id = %s AND NOT is_deleted"
                    " ORDER BY created_at, id OFFSET %s LIMIT 1",
                    (plan.id, (page - 1) * seed.DETAIL_MESSAGES - 1),
                ).fetchone()[0]  # type: ignore[index]
                for plan in threads
            }

    def _explain(self, inbox_people: list[seed.Person]) -> list[Checked]:
        assert self.world is not None
        from server.app import create_app

        world = self.world
        threads_of = collections.Counter(plan.employer.id for plan in world.plans)
        busiest = max(world.employers, key=lambda p: threads_of[p.id])  # one pass: 5M-scale
        typical = inbox_people[0]
        detail = world.threads_of("detail")[0]
        long_thread = world.threads_of("long")[0]
        last = math.ceil(self.scale.long_thread_messages / seed.DETAIL_MESSAGES)
        cursor = self._messages_before_page([long_thread], last)[long_thread.id]
        unread = self.read_requests()[0]
        send = self.send_requests(1)[0]
        inbox, count = "/api/v1/messages/threads", "/api/v1/messages/unread-count"
        thread_path = "/api/v1/messages/threads/"
        cases = [
            Case("list (busiest employer)", "GET", inbox, self.token(busiest.id)),
            Case("list (a user)", "GET", inbox, self.token(typical.id)),
            Case("unread (busiest employer)", "GET", count, self.token(busiest.id)),
            Case("unread (a user)", "GET", count, self.token(typical.id)),
            Case(
                "detail (50 messages)",
                "GET",
                f"{thread_path}{detail.id}",
                self.token(detail.employer.id),
            ),
            Case(
                f"detail (long thread, page {last})",
                "GET",
                f"{thread_path}{long_thread.id}?page={last}",
                self.token(long_thread.employer.id),
            ),
            Case(
                f"detail (long thread, page {last} by the cursor)",
                "GET",
                f"{thread_path}{long_thread.id}?after={cursor}",
                self.token(long_thread.employer.id),
            ),
            Case("send", send.method, send.path, send.token, send.body),
            Case("mark read", unread.method, unread.path, unread.token),
        ]
        mark_everyone_active(self.dsn)
        for noisy in ("httpx", "portal.email_delivery"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        app = create_app(dataclasses.replace(self.settings, email_worker_in_serve=False))
        checked = asyncio.run(capture_and_check(app, self.dsn, cases))
        for item in checked:
            flag = "SEQ SCAN" if item.seq_scans else "ok"
            say(
                f"  explain {item.case:<34} HTTP {item.status}, "
                f"{item.statements} statements: {flag}"
            )
        return checked

    def _report(
        self,
        results: list[Measured],
        small: dict[str, Measured],
        big: dict[str, Measured],
        long_pages: dict[str, Measured],
        explained: list[Checked],
        small_messages: int,
        total_messages: int,
        elapsed: float,
    ) -> int:
        header = (
            "| operation | requests/s | p50 ms | p99 ms | errors | floor requests/s "
            "| floor p50 ms | floor p99 ms | API/floor | bound requests/s | API/bound |"
        )
        bounds = read_bounds(results, self.lives)
        lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for m in results:
            lines.append(
                f"| {LABELS[m.operation]} | {m.api_rate:,.0f} | {m.api_p50_ms:.1f} | "
                f"{m.api_p99_ms:.1f} | {m.api_errors} | {m.floor_rate:,.0f} | "
                f"{m.floor_p50_ms:.1f} | {m.floor_p99_ms:.1f} | {m.ratio:.2f} |"
                + bound_cells(m, bounds)
            )
        say("")
        say("\n".join(lines))
        scale_lines = []
        for op in ("list", "unread"):
            a, b = small[op], big[op]
            scale_lines.append(
                f"{LABELS[op]}: {a.api_rate:,.0f}/s at {small_messages:,} messages, "
                f"{b.api_rate:,.0f}/s at {total_messages:,}: "
                f"{_times(a.api_rate, b.api_rate):.2f}x the time "
                f"(floor {_times(a.floor_rate, b.floor_rate):.2f}x)"
            )
        first, last = long_pages["first"], long_pages["last"]
        by_cursor = long_pages["last_by_cursor"]
        scale_lines.append(
            f"thread detail of a {self.scale.long_thread_messages:,}-message thread: "
            f"first page {first.api_rate:,.0f}/s, last page {last.api_rate:,.0f}/s: "
            f"the last page takes {_times(first.api_rate, last.api_rate):.2f}x the first's time "
            f"(floor {_times(first.floor_rate, last.floor_rate):.2f}x); by the cursor (after=) "
            f"{by_cursor.api_rate:,.0f}/s, {_times(first.api_rate, by_cursor.api_rate):.2f}x "
            f"(floor {_times(first.floor_rate, by_cursor.floor_rate):.2f}x)"
        )
        scale_lines.extend(bound_lines(self.lives, self.servers))
        say("")
        say("\n".join(scale_lines))
        if self.new_paths is not None:
            say("\n" + self.new_paths.table())
        seq_scans = [(c.case, s) for c in explained for s in c.seq_scans]
        bad_status = [c for c in explained if not 200 <= c.status < 300]
        errors = sum(m.api_errors + m.floor_errors for m in results)
        report = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": _git_commit(),
            "scale": asdict(self.scale),
            "messages": total_messages,
            "workers": self.workers,
            "connections": CONNECTIONS,
            "seconds": self.seconds,
            "rate_limit": {"messages": RATE_LIMIT, "window_seconds": RATE_WINDOW_SECONDS},
            "operations": [{**asdict(m), "ratio": round(m.ratio, 4)} for m in results],
            "inbox_scaling": {
                op: {
                    "small_messages": small_messages,
                    "messages": total_messages,
                    "small": asdict(small[op]),
                    "big": asdict(big[op]),
                }
                for op in ("list", "unread")
            },
            "long_thread_pages": {k: asdict(v) for k, v in long_pages.items()},
            "explain": [asdict(c) for c in explained],
            "live": {op: asdict(live) for op, live in self.lives.items()},
            "read_bounds": bounds,
            "servers": self.servers,
            "elapsed_seconds": round(elapsed, 1),
        }
        if self.new_paths is not None:
            report["new_paths"] = self.new_paths.as_json()
        if self.profile_file is not None:
            report["profile"] = str(self.profile_file)
        (OUT_DIR / "latest.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        say(f"\nwritten to {OUT_DIR.relative_to(ROOT)}/latest.json ({elapsed:.0f} s)")
        status = 0
        if seq_scans:
            say("")
            heading = "EXPLAIN: sequential scans of messages or message_threads"
            for case, scan in seq_scans:
                say(f"{heading}:\n  {case}: {scan}" if heading else f"  {case}: {scan}")
                heading = ""
            if not self.args.quick:
                say("FAILED: a hot query does not use an index at this scale")
                status = 1
        if bad_status:
            say(
                "FAILED: the EXPLAIN capture got "
                + ", ".join(f"{c.case}: HTTP {c.status}" for c in bad_status)
            )
            status = 1
        if errors:
            say(f"note: {errors} requests failed (see the errors columns)")
        ratios = {m.operation: m.ratio for m in results}
        if bounds:
            say(
                "bench bound: "
                + ", ".join(f"{op} {bounds[op]['api_over_bound']:.2f}" for op in READS)
                + " of 1/(1/live + 1/floor)"
            )
        say("bench: " + ", ".join(f"{op} {ratios[op]:.2f}" for op in OPERATIONS) + " of raw")
        return status


def _times(rate: float, slower_rate: float) -> float:
    """How many times longer a request takes at ``slower_rate`` than at ``rate``."""
    return rate / slower_rate if slower_rate else 0.0


def _participants(plans: list[seed.ThreadPlan], rng: random.Random) -> list[seed.Person]:
    people = {p.id: p for plan in plans for p in (plan.employer, plan.candidate)}
    chosen = list(people.values())
    rng.shuffle(chosen)
    return chosen[:1000]


def _throwaway_signing_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def _git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data set, short runs")
    parser.add_argument("--seconds", type=float, help="seconds per measured run")
    parser.add_argument("--workers", type=int, help="portal serve workers (default: one per core)")
    parser.add_argument(
        "--profile", choices=[*OPERATIONS, "detail-p1"], help="py-spy the API run of this operation"
    )
    parser.add_argument("--skip-new-paths", action="store_true", help="only the API operations")
    parser.add_argument(
        "--server",
        choices=SERVERS,
        help="the ASGI server of the main run (default: portal serve's own default)",
    )
    parser.add_argument(
        "--no-compare-servers",
        dest="compare_servers",
        action="store_false",
        help="skip /health/live and unread count under each ASGI server after the main run",
    )
    parser.add_argument(
        "--messages", type=int, help="the full world scaled to this many messages (scaling.md)"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk; `make bench` does it)")
    return Bench(args).run()


if __name__ == "__main__":
    sys.exit(main())
