"""The day's figures and the trend charts (/mod/overview); each chart's table as CSV
(``/mod/overview?chart=KEY&format=csv``)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard import charts
from dashboard.charts import Series
from dashboard.pages import duration, render
from dashboard.queue import nav_counts, signed_in
from dashboard.staff_auth import requires
from portal.permissions import Capability
from portal.services import appeals, moderation_records, trends
from portal.services.csv_cells import csv_row
from portal.services.trends import Trends

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>")


@dataclass(frozen=True)
class Chart:
    """A chart, its table (``rows`` as shown) and the same table for its CSV (``raw``)."""

    key: str
    title: str
    summary: str
    svgs: list[Markup]
    legend: Markup | None
    header: list[str]
    rows: list[list[Any]]
    raw: list[list[Any]]

    @property
    def panels(self) -> list[tuple[str, Markup]]:
        """Each drawing with its title (shown above it when the chart has several)."""
        return [(Markup(_TITLE.search(svg).group(1)), svg) for svg in self.svgs]  # type: ignore[union-attr]

    @property
    def long(self) -> bool:
        return len(self.rows) > 14


def _tick(day: date) -> str:
    return f"{day:%b} {day.day}"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def _shown(seconds: float | None) -> str:
    """A span in its two largest units (``1h 30m``, ``2d 3h``), for the tables."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    for size, unit, smaller, small_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "m")):
        if whole >= size:
            rest = (whole % size) // smaller
            return f"{whole // size}{unit} {rest}{small_unit}" if rest else f"{whole // size}{unit}"
    return duration(whole)


def _rounded(value: float | None) -> int | None:
    return None if value is None else round(value)


def _reports_chart(t: Trends) -> Chart:
    r = t.reports
    days = [d.isoformat() for d in r.days]
    ticks = [_tick(d) for d in r.days]
    series = [Series(reason.replace("_", " "), r.counts[reason]) for reason in r.reasons]
    total = sum(r.totals())
    busiest = max(range(len(days)), key=lambda i: r.totals()[i]) if total else None
    summary = f"{total} reports in {len(days)} days"
    if busiest is not None:
        summary += f"; the busiest day {days[busiest]} with {r.totals()[busiest]}"
    header = ["day", *[s.name for s in series], "total"]
    rows = [
        [day, *[r.counts[x][i] for x in r.reasons], r.totals()[i]] for i, day in enumerate(days)
    ]
    return Chart(
        "reports",
        "Reports per day by reason",
        summary,
        [
            charts.stacked_columns(
                "Reports per day by reason", summary, ticks, series, label_every=30
            )
        ],
        charts.legend(series),
        header,
        rows,
        rows,
    )


def _queue_chart(t: Trends) -> Chart:
    q = t.queue
    days = [d.isoformat() for d in q.days]
    oldest = _shown(q.oldest_age_seconds)
    summary = f"{q.open_now} reports open now (oldest {oldest}); " + ", ".join(
        f"{s.stage} {s.reports}" for s in q.stages
    )
    series = [Series("open at the end of the day", q.open_at_day_end)]
    return Chart(
        "queue",
        "Open queue",
        summary,
        [
            charts.lines(
                "Open reports at the end of each day",
                summary,
                [_tick(d) for d in q.days],
                series,
                label_every=30,
            ),
            charts.bars(
                "Oldest open report per stage",
                "; ".join(f"{s.stage}: {_shown(s.oldest_age_seconds)}" for s in q.stages),
                [
                    (s.stage, None if s.oldest_age_seconds is None else s.oldest_age_seconds)
                    for s in q.stages
                ],
                unit=lambda v: duration(round(v)),
            ),
        ],
        None,
        ["stage", "reports", "oldest age"],
        [[s.stage, s.reports, _shown(s.oldest_age_seconds)] for s in q.stages],
        [[s.stage, s.reports, s.oldest_age_seconds] for s in q.stages]
        + [["day " + d, v, None] for d, v in zip(days, q.open_at_day_end, strict=True)],
    )


def _times_chart(t: Trends) -> Chart:
    weeks = [_tick(w.week) for w in t.weeks]

    def hours(values: list[float | None]) -> list[float | None]:
        return [None if v is None else v / 3600 for v in values]

    first = [
        Series("first action, median", hours([w.first_action_median for w in t.weeks])),
        Series("first action, p90", hours([w.first_action_p90 for w in t.weeks]), dashed=True),
    ]
    handling = [
        Series("handling, median", hours([w.handling_median for w in t.weeks])),
        Series("handling, p90", hours([w.handling_p90 for w in t.weeks]), dashed=True),
    ]
    decided = sum(w.reports for w in t.weeks)
    summary = f"{decided} reports decided in {len(weeks)} weeks, by the week of the decision"
    unit = lambda v: f"{v:.1f} h"  # noqa: E731
    return Chart(
        "times",
        "Time to first action and handling time per week",
        summary,
        [
            charts.lines(
                "Time to first action, hours", summary, weeks, first, unit=unit, label_every=4
            ),
            charts.lines(
                "Handling time, hours",
                summary,
                weeks,
                handling,
                unit=unit,
                label_every=4,
                first_colour=2,
            ),
        ],
        charts.legend([*first, *handling]),
        [
            "week of",
            "reports",
            "first action median",
            "first action p90",
            "handling median",
            "handling p90",
        ],
        [
            [
                w.week.isoformat(),
                w.reports,
                _shown(w.first_action_median),
                _shown(w.first_action_p90),
                _shown(w.handling_median),
                _shown(w.handling_p90),
            ]
            for w in t.weeks
        ],
        [
            [
                w.week.isoformat(),
                w.reports,
                _rounded(w.first_action_median),
                _rounded(w.first_action_p90),
                _rounded(w.handling_median),
                _rounded(w.handling_p90),
            ]
            for w in t.weeks
        ],
    )


def _kinds_chart(t: Trends) -> Chart:
    items = [(kind.replace("_", " "), float(n)) for kind, n in t.decisions_by_kind.items()]
    total = sum(t.decisions_by_kind.values())
    summary = f"{total} decisions in {trends.WINDOW_DAYS} days"
    raw = [[kind, n] for kind, n in t.decisions_by_kind.items()]
    rows = [[kind.replace("_", " "), n] for kind, n in t.decisions_by_kind.items()]
    return Chart(
        "decisions",
        "Decisions by kind",
        summary,
        [charts.bars("Decisions by kind", summary, items, unit=lambda v: f"{v:.0f}")],
        None,
        ["kind", "decisions"],
        rows,
        raw,
    )


def _overturn_chart(t: Trends) -> Chart:
    rates = t.overturn_by_policy
    summary = (
        "No appeal decided in the last 90 days"
        if not rates
        else "; ".join(f"{r.name}: {r.overturned} of {r.decided}" for r in rates)
    )
    return Chart(
        "overturns",
        "Appeal overturn rate per policy",
        summary,
        [
            charts.bars(
                "Appeal overturn rate per policy",
                summary,
                [(r.name, r.rate) for r in rates],
                unit=_percent,
                top=1.0,
            )
        ]
        if rates
        else [],
        None,
        ["policy", "appeals decided", "overturned", "overturn rate"],
        [
            [r.name, r.decided, r.overturned, "—" if r.rate is None else _percent(r.rate)]
            for r in rates
        ],
        [
            [r.name, r.decided, r.overturned, None if r.rate is None else round(r.rate, 4)]
            for r in rates
        ],
    )


def _moderators_chart(t: Trends) -> Chart | None:
    if t.moderators is None:
        return None
    people = t.moderators
    summary = f"{len(people)} staff members took decisions or had them appealed"
    unit = lambda v: f"{v:.0f}"  # noqa: E731
    return Chart(
        "moderators",
        "Per moderator",
        summary,
        [
            charts.bars(
                "Decisions per moderator",
                summary,
                [(p.name, float(p.decisions)) for p in people],
                unit=unit,
            ),
            charts.bars(
                "Median handling time per moderator, hours",
                "; ".join(f"{p.name}: {_shown(p.handling_median)}" for p in people),
                [(p.name, p.handling_median) for p in people],
                unit=_hours,
            ),
            charts.bars(
                "Appeal overturn rate per moderator",
                "; ".join(f"{p.name}: {p.overturned} of {p.appeals_decided}" for p in people),
                [(p.name, p.overturn_rate) for p in people],
                unit=_percent,
                top=1.0,
            ),
        ]
        if people
        else [],
        None,
        [
            "staff member",
            "decisions",
            "median handling",
            "appeals decided",
            "overturned",
            "overturn rate",
        ],
        [
            [
                p.name,
                p.decisions,
                _shown(p.handling_median),
                p.appeals_decided,
                p.overturned,
                "—" if p.overturn_rate is None else _percent(p.overturn_rate),
            ]
            for p in people
        ],
        [
            [
                p.name,
                p.decisions,
                _rounded(p.handling_median),
                p.appeals_decided,
                p.overturned,
                None if p.overturn_rate is None else round(p.overturn_rate, 4),
            ]
            for p in people
        ],
    )


def overview_charts(t: Trends) -> list[Chart]:
    made = [
        _reports_chart(t),
        _queue_chart(t),
        _times_chart(t),
        _kinds_chart(t),
        _overturn_chart(t),
        _moderators_chart(t),
    ]
    return [chart for chart in made if chart is not None]


def _csv(chart: Chart) -> Response[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    header = chart.header
    if chart.key == "queue":
        header = ["stage or day", "reports", "oldest_age_seconds"]
    elif chart.key == "times":
        header = [
            "week_of",
            "reports",
            "first_action_median_seconds",
            "first_action_p90_seconds",
            "handling_median_seconds",
            "handling_p90_seconds",
        ]
    elif chart.key == "moderators":
        header = [
            "staff_member",
            "decisions",
            "handling_median_seconds",
            "appeals_decided",
            "overturned",
            "overturn_rate",
        ]
    writer.writerow(csv_row(header))
    for row in chart.raw:
        writer.writerow(csv_row(row))
    return Response(
        buffer.getvalue().encode(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="overview-{chart.key}.csv"'},
    )


@get(
    "/mod/overview",
    name="mod.overview",
    guards=[requires(Capability.READ_QUEUE)],
    include_in_schema=False,
)
async def overview(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    chart: FromQuery[str | None] = None,
    format: FromQuery[str | None] = None,
) -> Response[Any]:
    staff = await signed_in(request)
    made = overview_charts(await trends.trends(db_session, staff))
    if format == "csv":
        found = next((c for c in made if c.key == chart), None)
        if found is None:
            raise NotFoundException(f"no chart {chart!r}")
        return _csv(found)
    figures = await moderation_records.overview(db_session)
    open_appeals, oldest_appeal = await appeals.open_appeals_summary(db_session)
    return render(
        request,
        "mod/overview.html",
        {
            "figures": figures,
            "open_appeals": open_appeals,
            "oldest_appeal": oldest_appeal,
            "charts": made,
            "nav": "overview",
            "counts": await nav_counts(db_session, staff),
        },
    )
