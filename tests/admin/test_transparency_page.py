"""The transparency page (/mod/compliance/transparency): the Art. 15 figures of a period for the
compliance and admin roles (refused to moderators), the period's errors naming the field, and
the downloads of the report and of the statements of reasons, each an audit event."""

from __future__ import annotations

import csv
import io
import json
import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import AuditEvent
from portal.services.transparency import default_period
from portal.settings import Settings
from tests.admin.support import post_form, sign_in, snapshot
from tests.portal.moderation_support import staff
from tests.portal.transparency_world import build_transparency_world, expected_figures

PAGE = "/mod/compliance/transparency"
PERIOD = {"from": "2026-01-01", "to": "2026-06-30"}
Q = "&#39;"  # a quote, as the page escapes it


def figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{re.escape(name)}">([^<]*)<', html)
    assert found is not None, name
    return found.group(1)


def table(html: str, table_id: str) -> dict[str, str]:
    """The figures of one table of the page, by their name."""
    found = re.search(rf'<table [^>]*id="{table_id}">(.*?)</table>', html, re.S)
    assert found is not None, table_id
    return dict(re.findall(r'data-figure="([^"]+)">([^<]*)<', found.group(1)))


async def transparency_events(session: AsyncSession) -> list[AuditEvent]:
    async with read_transaction(session):
        return list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.like("transparency%"))
                .order_by(AuditEvent.occurred_at)
            )
        )


async def test_the_page_shows_the_figures_of_the_period(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await build_transparency_world(session, settings)
    expected = expected_figures()
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.officer)
        index = (await client.get("/mod/compliance")).text
        assert f'href="{PAGE}"' in index  # the compliance section links to it
        before = await snapshot(session)
        response = await client.get(PAGE, params=PERIOD)
        assert response.status_code == 200, response.text
        html = response.text
        assert "2026-01-01 to 2026-06-30" in html
        assert figure(html, "reports.received") == "7"
        assert figure(html, "reports.notices_of_illegal_content") == "2"
        assert figure(html, "decisions.total") == "6"
        assert figure(html, "decisions.median_seconds_from_report") == "2 h 30 min"
        assert figure(html, "appeals.received") == "2"
        assert figure(html, "appeals.median_seconds_to_decide") == "1 d 12 h"
        assert figure(html, "appeals.decisions_reversed") == "1"
        assert figure(html, "suspensions.total") == "2"
        assert figure(html, "suspensions.indefinite") == "1"
        by_reason = {k: int(v) for k, v in table(html, "reports-by-reason").items()}
        assert by_reason == expected["reports"]["by_reason"]
        categories = {k: int(v) for k, v in table(html, "reports-by-category").items()}
        assert categories == {k: v for k, v in expected["reports"]["by_category"].items() if v}
        assert table(html, "restrictions-by-ground") == {
            "terms_of_service": "3",
            "illegal_content": "1",
        }
        kinds = {k: int(v) for k, v in table(html, "decisions-by-kind").items()}
        assert kinds == expected["decisions"]["by_kind"]
        outcomes = {k: int(v) for k, v in table(html, "appeals-by-outcome").items()}
        assert outcomes == expected["appeals"]["by_outcome"]
        shown = {world.officer.display_name, world.officer.email}  # the one signed in
        for value in set(world.personal) - shown:
            assert value.lower() not in html.lower(), value

        empty = (await client.get(PAGE, params={"from": "2020-01-01", "to": "2020-01-31"})).text
        assert figure(empty, "reports.received") == "0"
        assert figure(empty, "decisions.median_seconds_from_report") == "—"
        assert figure(empty, "appeals.median_seconds_to_decide") == "—"

        # without a period: the last full calendar half-year, in the form
        default = default_period()
        page = (await client.get(PAGE)).text
        assert f'name="from" required value="{default.first}"' in page
        assert f'name="to" required value="{default.last}"' in page
        assert f"{default.first} to {default.last}" in page
        assert await snapshot(session) == before  # reading the figures writes nothing

        for params, detail in [
            ({"from": "2026-13-01", "to": "2026-06-30"}, f"from: {Q}2026-13-01{Q} is not a date"),
            ({"from": "2026-07-01", "to": "2026-06-30"}, "to: 2026-06-30 is before from"),
            ({"from": "2026-01-01"}, "to: a date is required"),
        ]:  # fmt: skip
            refused = await client.get(PAGE, params=params)
            assert refused.status_code == 400 and detail in refused.text, detail
            assert 'data-figure="reports.received"' not in refused.text


async def test_downloads_are_the_report_and_the_statements_and_are_audited(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await build_transparency_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.officer)
        page = (await client.get(PAGE, params=PERIOD)).text
        assert 'action="/mod/compliance/transparency/report"' in page
        assert 'action="/mod/compliance/transparency/statements"' in page
        assert page.count('hx-boost="false"') >= 2
        files = {}
        for fmt in ("json", "csv"):
            response = await post_form(client, f"{PAGE}/report", {**PERIOD, "format": fmt})
            assert response.status_code == 200, response.text
            assert response.headers["content-disposition"] == (
                f'attachment; filename="transparency-report-2026-01-01-2026-06-30.{fmt}"'
            )
            files[fmt] = response.content
        statements = await post_form(client, f"{PAGE}/statements", PERIOD)
        assert statements.status_code == 200, statements.text
        assert statements.headers["content-type"].startswith("application/json")
        assert statements.headers["content-disposition"] == (
            'attachment; filename="statements-of-reasons-2026-01-01-2026-06-30.json"'
        )

        before = await snapshot(session)
        for path, data, detail in [
            ("report", {**PERIOD, "format": "xml"}, f"format: {Q}xml{Q} is not one of"),
            ("report", {"from": "2026-01-01", "to": "", "format": "csv"}, "to: a date is required"),
            ("statements", {"from": "2026-02-30", "to": "2026-06-30"}, f"from: {Q}2026-02-30{Q}"),
        ]:  # fmt: skip
            refused = await post_form(client, f"{PAGE}/{path}", data)
            assert refused.status_code == 400 and detail in refused.text, detail
        assert await snapshot(session) == before

    document = json.loads(files["json"])
    for section, figures in expected_figures().items():
        assert document[section] == figures
    rows = list(csv.reader(io.StringIO(files["csv"].decode())))
    assert ["reports", "received", "7"] in rows
    batches = json.loads(statements.content)["batches"]
    assert [len(batch["statements"]) for batch in batches] == [4]
    assert [s["puid"] for s in batches[0]["statements"]] == [
        str(world.decisions[k].id) for k in ("d1", "d2", "d3", "d4")
    ]
    events = await transparency_events(session)
    assert [(e.action, e.actor_id) for e in events] == [
        ("transparency_report.exported", world.officer.id),
        ("transparency_report.exported", world.officer.id),
        ("transparency_statements.exported", world.officer.id),
    ]
    assert [e.details.get("format") for e in events] == ["json", "csv", None]
    assert events[2].details["statements"] == 4


async def test_only_compliance_and_admin_get_in(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await build_transparency_world(session, settings)
    admin = await staff(session, "admin", "Ada Admin")
    posts = [
        (f"{PAGE}/report", {**PERIOD, "format": "json"}),
        (f"{PAGE}/statements", PERIOD),
    ]
    async with AsyncTestClient(app=app) as client:
        signed_out = await client.get(PAGE, follow_redirects=False)
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/mod/login?next=/mod/compliance")

        await sign_in(client, world.moderator)
        before = await snapshot(session)
        for params in (PERIOD, {}):
            refused = await client.get(PAGE, params=params, follow_redirects=False)
            assert refused.status_code == 403
            assert "needs the role compliance or admin" in refused.text
            assert 'data-figure="reports.received"' not in refused.text
        for path, data in posts:
            assert (await post_form(client, path, data)).status_code == 403, path
        assert await snapshot(session) == before

        await sign_in(client, world.officer)
        for path, data in posts:  # the CSRF token is needed (an export writes an event)
            missing = await client.post(path, data=data, follow_redirects=False)
            assert missing.status_code == 403 and "The form expired" in missing.text

        await sign_in(client, admin)
        allowed = await client.get(PAGE, params=PERIOD)
        assert allowed.status_code == 200 and figure(allowed.text, "reports.received") == "7"
    assert await transparency_events(session) == []
