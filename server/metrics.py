"""Prometheus metrics at ``/metrics``, for a scraper holding ``PORTAL_METRICS_TOKEN``.

- Requests: RequestMetricsMiddleware, labelled by route template, never
  by raw path; unrouted requests are not counted, so a scan cannot grow the label set.
- The database pool: connections in use and the pool's size, per process, summed over the live
  processes.
- Moderation: decisions by kind and source, time from a report to the first staff action on it,
  and handling time (report to decision), observed when the transaction that does them commits,
  whichever path (dashboard, API, admin panel, console) did it.
- At each scrape, from the database (``portal.services.service_figures``): the queue's undecided
  reports per stage and reason with the oldest one's age, open appeals, and the email outbox.

No label names a person: stages, reasons, kinds, routes and statuses only.

Under several worker processes (``portal serve --workers N``) every process writes its samples
to ``PROMETHEUS_MULTIPROC_DIR`` (which ``portal serve`` sets up before the workers start) and a
scrape of any worker adds them all up, so counters do not depend on which worker answers.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any, Final

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException
from litestar.status_codes import HTTP_401_UNAUTHORIZED, HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session

from portal.events.hub import EventHub
from portal.models import FlagReport, ModerationDecision
from portal.models.base import utcnow
from portal.services.moderation_types import DECIDED
from portal.services.service_figures import outbox_snapshot, queue_snapshot
from portal.settings import Settings

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
# From a minute to a month: moderation is measured in hours, its tail in days.
SPAN_BUCKETS: Final = (
    60,
    300,
    900,
    1800,
    3600,
    4 * 3600,
    8 * 3600,
    86400,
    3 * 86400,
    7 * 86400,
    30 * 86400,
)

DECISIONS = Counter(
    "portal_moderation_decisions",
    "Moderation decisions taken, by kind and source",
    ["kind", "source"],
)
FIRST_ACTION = Histogram(
    "portal_moderation_time_to_first_action_seconds",
    "From a report to the first staff action on it (a claim, an escalation or a decision)",
    buckets=SPAN_BUCKETS,
)
HANDLING = Histogram(
    "portal_moderation_handling_seconds",
    "From a report to its decision",
    buckets=SPAN_BUCKETS,
)
POOL_IN_USE = Gauge(
    "portal_db_pool_connections_in_use",
    "Database connections checked out of the pools, over the live processes",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "portal_db_pool_size",
    "Connections the pools keep open, over the live processes",
    multiprocess_mode="livesum",
)
POOL_OVERFLOW = Gauge(
    "portal_db_pool_max_overflow",
    "Extra connections the pools may open under load, over the live processes",
    multiprocess_mode="livesum",
)

# Set by the event hub of each process as its streams open and close (watch_streams).
EVENT_STREAMS = Gauge(
    "portal_event_streams_open",
    "Server-sent event streams open, by audience, over the live processes",
    ["audience"],
    multiprocess_mode="livesum",
)

_OBSERVED = "portal_metrics_observed"


APP_NAME: Final = "portal"
_REQUEST_LABELS: Final = ("method", "path", "status_code", "app_name")
# The names, labels and values Litestar's Prometheus middleware gave them (it served until the
# third performance round: RequestMetricsMiddleware does its work without a Request object per
# request, nor a label lookup per metric).
REQUESTS = Counter("portal_requests_total", "Total requests", _REQUEST_LABELS)
REQUEST_ERRORS = Counter("portal_requests_error_total", "Total errors in requests", _REQUEST_LABELS)
REQUEST_TIME = Histogram(
    "portal_request_duration_seconds", "Request duration, in seconds", _REQUEST_LABELS
)
IN_PROGRESS = Gauge(
    "portal_requests_in_progress",
    "Total requests currently in progress",
    _REQUEST_LABELS,
    multiprocess_mode="livesum",
)
METRICS_PATH: Final = "/metrics"


class RequestMetricsMiddleware:
    """Counts and times each routed HTTP request by method, route template and status.

    A plain ASGI middleware in each route's stack (so unrouted requests are not counted): the
    labelled children are looked up once per route, method and status and kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = {}

    def _metrics_for(self, method: str, path: str, status: int) -> tuple[Any, Any, Any, Any]:
        key = (method, path, status)
        children = self._children.get(key)
        if children is None:
            values = (method, path, str(status), APP_NAME)
            children = (
                REQUESTS.labels(*values),
                REQUEST_ERRORS.labels(*values),
                REQUEST_TIME.labels(*values),
                IN_PROGRESS.labels(*values),
            )
            self._children[key] = children
        return children

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path_template"]
        started = time.perf_counter()
        span = {"status": 200, "duration": 0.0}

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                span["status"] = message["status"]
            elif message["type"] == "http.response.body":
                span["duration"] = time.perf_counter() - started
            await send(message)

        # As Litestar's middleware did: in progress under status 200, whatever the answer.
        in_progress = self._metrics_for(method, path, 200)[3]
        in_progress.inc()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            in_progress.dec()
            status = int(span["status"])
            requests, errors, timing, _ = self._metrics_for(method, path, status)
            if status >= HTTP_500_INTERNAL_SERVER_ERROR:
                errors.inc()
            requests.inc()
            timing.observe(span["duration"])


def watch_streams(hub: EventHub) -> None:
    """The hub's open streams, by audience, in the ``portal_event_streams_open`` gauge."""
    hub.on_streams_changed = lambda audience, count: EVENT_STREAMS.labels(audience).set(count)


def watch_pool(engine: AsyncEngine, settings: Settings) -> None:
    """Counts the engine's checked-out connections into the pool gauges."""
    pool = engine.sync_engine.pool
    if event.contains(pool, "checkout", _checked_out):
        return
    POOL_SIZE.inc(settings.database_bounds.pool_size)
    POOL_OVERFLOW.inc(settings.database_bounds.max_overflow)
    event.listen(pool, "checkout", _checked_out)
    event.listen(pool, "checkin", _checked_in)


def _checked_out(*_: Any) -> None:
    POOL_IN_USE.inc()


def _checked_in(*_: Any) -> None:
    POOL_IN_USE.dec()


def _status_change(report: FlagReport) -> tuple[str | None, str | None]:
    from sqlalchemy import inspect

    history = inspect(report).attrs.status.history
    before = history.deleted[0] if history.deleted else None
    after = history.added[0] if history.added else None
    return before, after


def _after_flush(session: Session, _context: Any) -> None:
    found: list[tuple[str, Any]] = session.info.setdefault(_OBSERVED, [])
    for item in session.new:
        if isinstance(item, ModerationDecision):
            found.append(("decision", (item.kind, item.source)))
    now = utcnow()
    for item in session.dirty:
        if not isinstance(item, FlagReport):
            continue
        before, after = _status_change(item)
        if after is None or before == after or item.created_at is None:
            continue
        if before == "open":
            found.append(("first", (now - item.created_at).total_seconds()))
        if after in DECIDED:
            decided = item.decided_at or now
            found.append(("handled", (decided - item.created_at).total_seconds()))


def _after_commit(session: Session) -> None:
    for what, value in session.info.pop(_OBSERVED, []):
        if what == "decision":
            DECISIONS.labels(*value).inc()
        elif what == "first":
            FIRST_ACTION.observe(max(0.0, value))
        else:
            HANDLING.observe(max(0.0, value))


def _after_rollback(session: Session) -> None:
    session.info.pop(_OBSERVED, None)


def observe_moderation() -> None:
    """Moderation counters and histograms, observed on commit of any session in this process."""
    if event.contains(Session, "after_flush", _after_flush):
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", lambda session, _: _after_rollback(session))


class _Snapshot(Collector):
    """Metric families computed for one scrape."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


class _Local(Collector):
    """This process's own registry (one process, no multiprocess directory)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


async def _database_families(sessions: async_sessionmaker[Any]) -> list[Metric]:
    async with sessions() as session:
        queue = await queue_snapshot(session)
        outbox = await outbox_snapshot(session)
    reports = GaugeMetricFamily(
        "portal_queue_open_reports",
        "Undecided reports, by queue stage and reason",
        labels=["stage", "reason"],
    )
    items = GaugeMetricFamily(
        "portal_queue_open_items",
        "Reported messages with undecided reports, by queue stage and reason",
        labels=["stage", "reason"],
    )
    oldest = GaugeMetricFamily(
        "portal_queue_oldest_age_seconds",
        "Age of the oldest undecided report, by queue stage and reason",
        labels=["stage", "reason"],
    )
    for cell in queue.cells:
        reports.add_metric([cell.stage, cell.reason], cell.reports)
        items.add_metric([cell.stage, cell.reason], cell.items)
        oldest.add_metric([cell.stage, cell.reason], cell.oldest_age_seconds)
    overall = GaugeMetricFamily(
        "portal_queue_oldest_open_age_seconds",
        "Age of the oldest undecided report (0 when there is none)",
        value=queue.oldest_age_seconds or 0,
    )
    appeals = GaugeMetricFamily(
        "portal_appeals_open", "Appeals waiting for a decision", value=queue.open_appeals
    )
    appeal_age = GaugeMetricFamily(
        "portal_appeals_oldest_open_age_seconds",
        "Age of the oldest open appeal (0 when there is none)",
        value=queue.oldest_appeal_age_seconds or 0,
    )
    outbox_rows = GaugeMetricFamily(
        "portal_email_outbox",
        "Notification emails waiting, being sent or failed",
        labels=["status"],
    )
    for status, count in outbox.by_status.items():
        outbox_rows.add_metric([status], count)
    outbox_age = GaugeMetricFamily(
        "portal_email_outbox_oldest_pending_age_seconds",
        "Age of the oldest email waiting to be sent (0 when there is none)",
        value=outbox.oldest_pending_age_seconds or 0,
    )
    return [reports, items, oldest, overall, appeals, appeal_age, outbox_rows, outbox_age]


def _authorized(request: Request[Any, Any, Any], token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@get("/metrics", include_in_schema=False, name="metrics")
async def metrics(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    settings: Settings = state.settings
    token = (settings.metrics_token or "").strip()
    if not token:
        raise NotFoundException()
    if not _authorized(request, token):
        return Response(
            b"a bearer token is required\n",
            status_code=HTTP_401_UNAUTHORIZED,
            media_type="text/plain",
            headers={"www-authenticate": 'Bearer realm="metrics"'},
        )
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Local())
    registry.register(_Snapshot(await _database_families(state.sessionmaker)))
    return Response(
        generate_latest(registry),
        media_type=CONTENT_TYPE_LATEST,
        headers={"cache-control": "no-store"},
    )


def mark_process_dead() -> None:
    """Drops this process's live gauges from the shared directory as it ends."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
