"""The overview's trends against a world whose figures are known by hand (both databases),
and the page that shows them: charts with their tables, CSV per chart, per-moderator figures
for admins only."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.models.base import utcnow
from portal.services import trends
from portal.services.service_figures import queue_snapshot
from portal.settings import Settings
from tests.admin.support import sign_in
from tests.portal.trends_world import NOW, build
from tests.statements import statements

HOUR = 3600


def _day(month: int, day: int) -> date:
    return date(2026, month, day)


async def test_the_trends_of_a_known_world(session: AsyncSession, settings: Settings) -> None:
    world = await build(session, settings)
    t = await trends.trends(session, world.admin, now=NOW)

    r = t.reports
    assert len(r.days) == trends.WINDOW_DAYS and r.days[-1] == _day(6, 10)
    nonzero = {
        (r.days[i].isoformat(), reason): r.counts[reason][i]
        for reason in r.reasons
        for i in range(len(r.days))
        if r.counts[reason][i]
    }
    assert nonzero == {
        ("2026-06-10", "spam"): 1,
        ("2026-06-09", "harassment"): 1,
        ("2026-06-08", "scam"): 1,
        ("2026-06-08", "spam"): 1,
        ("2026-06-01", "spam"): 1,
        ("2026-06-02", "discrimination"): 1,
    }

    q = t.queue
    by_day = dict(zip(q.days, q.open_at_day_end, strict=True))
    assert by_day[q.days[0]] == 1 and by_day[_day(6, 7)] == 1
    assert [by_day[_day(6, d)] for d in (1, 2, 8, 9, 10)] == [1, 1, 2, 3, 4]
    stages = {s.stage: (s.reports, s.oldest_age_seconds) for s in q.stages}
    r7_age = int((NOW - datetime(2026, 1, 1, tzinfo=NOW.tzinfo)).total_seconds())
    assert stages == {"open": (2, r7_age), "claimed": (1, 24 * HOUR), "escalated": (1, 50 * HOUR)}
    assert q.open_now == 4 and q.oldest_age_seconds == r7_age

    weeks = {w.week: w for w in t.weeks}
    assert len(t.weeks) == trends.WEEKS and t.weeks[-1].week == _day(6, 8)
    first = weeks[_day(6, 1)]
    assert (first.reports, first.first_action_median, first.first_action_p90) == (
        2,
        3.25 * HOUR,
        6 * HOUR,
    )
    assert (first.handling_median, first.handling_p90) == (4 * HOUR, 6 * HOUR)
    this = weeks[_day(6, 8)]
    assert (this.reports, this.first_action_median, this.handling_p90) == (1, HOUR, HOUR)
    assert all(w.reports == 0 for w in t.weeks if w.week < _day(6, 1))

    assert {k: n for k, n in t.decisions_by_kind.items() if n} == {
        "removed": 1,
        "dismissed": 1,
        "warned": 1,
    }
    assert [(x.name, x.decided, x.overturned, x.rate) for x in t.overturn_by_policy] == [
        (trends.NO_POLICY, 1, 0, 0.0),
        ("spam", 1, 1, 1.0),
    ]

    assert t.moderators is not None
    assert [
        (p.name, p.decisions, p.handling_median, p.appeals_decided, p.overturned)
        for p in t.moderators
    ] == [("Ada Lindqvist", 2, 1.5 * HOUR, 1, 1), ("Ben Okafor", 1, 6 * HOUR, 1, 0)]

    seen_by_moderator = await trends.trends(session, world.moderator, now=NOW)
    assert seen_by_moderator.moderators is None


def test_percentiles_are_nearest_rank() -> None:
    assert trends.percentile([], 0.9) is None
    assert trends.percentile([5.0], 0.9) == 5.0
    assert trends.percentile([float(i) for i in range(1, 11)], 0.9) == 9.0
    assert trends.percentile([float(i) for i in range(1, 21)], 0.9) == 18.0


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_the_overview_page_shows_the_charts_and_their_csv(
    client: AsyncTestClient[Litestar], session: AsyncSession, settings: Settings
) -> None:
    world = await build(session, settings, now=utcnow() + timedelta(minutes=1))

    await sign_in(client, world.admin)
    page = await client.get("/mod/overview")
    assert page.status_code == 200
    html = page.text
    assert html.count('<svg class="chart" role="img"') >= 8
    for key in ("reports", "queue", "times", "decisions", "overturns", "moderators"):
        assert f'id="chart-{key}"' in html
        assert f"/mod/overview?chart={key}&amp;format=csv" in html
    assert "Ada Lindqvist" in html and "<title" in html and "<desc" in html

    decisions = await client.get("/mod/overview?chart=decisions&format=csv")
    assert decisions.status_code == 200
    assert decisions.headers["content-type"].startswith("text/csv")
    rows = {row[0]: row[1] for row in _csv(decisions.text)[1:]}
    assert (rows["removed"], rows["dismissed"], rows["warned"], rows["suspended"]) == (
        "1",
        "1",
        "1",
        "0",
    )
    queue = _csv((await client.get("/mod/overview?chart=queue&format=csv")).text)
    assert [row[:2] for row in queue[1:4]] == [["open", "2"], ["claimed", "1"], ["escalated", "1"]]
    reports = _csv((await client.get("/mod/overview?chart=reports&format=csv")).text)
    assert reports[0][-1] == "total" and sum(int(row[-1]) for row in reports[1:]) == 6
    people = _csv((await client.get("/mod/overview?chart=moderators&format=csv")).text)
    assert [row[:2] for row in people[1:]] == [["Ada Lindqvist", "2"], ["Ben Okafor", "1"]]
    missing = await client.get("/mod/overview?chart=nothing&format=csv")
    assert missing.status_code == 404

    await sign_in(client, world.moderator)
    seen = (await client.get("/mod/overview")).text
    assert 'id="chart-moderators"' not in seen and "Ada Lindqvist" not in seen
    refused = await client.get("/mod/overview?chart=moderators&format=csv")
    assert refused.status_code == 404


async def test_the_trends_and_the_scrape_take_fixed_statements(
    session: AsyncSession, settings: Settings, engine: AsyncEngine
) -> None:
    """However many reports, decisions and appeals: the same statements (no query per row)."""
    counts = []
    for _ in range(2):  # a second world doubles every figure
        world = await build(session, settings, now=NOW)
        with statements(engine) as seen:
            await trends.trends(session, world.admin, now=NOW)
        with statements(engine) as scraped:
            await queue_snapshot(session, now=NOW)
        counts.append((len(seen), len(scraped)))
    assert counts[0] == counts[1]
    assert sum("flag_reports" in s for s in scraped) == 1  # the queue and appeals: one statement
