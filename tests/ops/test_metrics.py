"""/metrics (both databases): closed without the token, requests labelled by route template,
the trust-and-safety gauges equal to the queue, decisions and their timings counted on commit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession

from portal.models.base import utcnow
from portal.services import moderation, moderation_records
from portal.services.service_figures import queue_snapshot
from portal.settings import Settings
from tests.conftest import settings_with
from tests.portal.trends_world import build

TOKEN = "scrape-" + "k" * 32
BEARER = {"authorization": f"Bearer {TOKEN}"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def total(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """The sum over the samples of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


async def scrape(
    client: AsyncTestClient[Litestar],
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def _use_token(app: Litestar, settings: Settings, token: str | None) -> None:
    app.state.settings = settings_with(settings, metrics_token=token)


async def test_metrics_are_closed_without_the_token(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    _use_token(app, settings, None)
    assert (await client.get("/metrics", headers=BEARER)).status_code == 404
    _use_token(app, settings, TOKEN)
    refused = await client.get("/metrics")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    wrong = await client.get("/metrics", headers={"authorization": "Bearer " + "x" * 39})
    assert wrong.status_code == 401 and "portal_" not in wrong.text
    assert (await client.get("/metrics", headers=BEARER)).status_code == 200


def _labels(found: Iterable[tuple[str, tuple[tuple[str, str], ...]]]) -> set[str]:
    return {value for _, labels in found for _, value in labels}


async def test_gauges_match_the_queue_and_decisions_are_counted(
    app: Litestar, client: AsyncTestClient[Litestar], session: AsyncSession, settings: Settings
) -> None:
    _use_token(app, settings, TOKEN)
    world = await build(session, settings, now=utcnow() + timedelta(minutes=1))
    before = await scrape(client)

    # the queue as the dashboard counts it, and as the gauges do
    figures = await moderation_records.overview(session)
    snapshot = await queue_snapshot(session)
    expected = {("open", "spam"): 2, ("claimed", "harassment"): 1, ("escalated", "scam"): 1}
    assert {(c.stage, c.reason): c.reports for c in snapshot.cells} == expected
    for (stage, reason), n in expected.items():
        assert value(before, "portal_queue_open_reports", stage=stage, reason=reason) == n
        assert value(before, "portal_queue_open_items", stage=stage, reason=reason) == n
    open_reports = total(before, "portal_queue_open_reports", stage="open") + total(
        before, "portal_queue_open_reports", stage="claimed"
    )
    assert open_reports == figures.open_reports == 3
    assert total(before, "portal_queue_open_items", stage="escalated") == figures.escalated_items
    oldest = value(before, "portal_queue_oldest_open_age_seconds")
    assert figures.oldest_open_age_seconds is not None
    assert abs(oldest - figures.oldest_open_age_seconds) < 120
    assert value(before, "portal_appeals_open") == 1
    assert value(before, "portal_email_outbox", status="failed") == 0

    # a decision: counted on commit, with its report's first action and handling time
    r1 = world.messages[0]
    await moderation.dismiss(session, r1.id, actor=world.ada)
    after = await scrape(client)
    kind = {"kind": "dismissed", "source": "notice"}
    assert (
        value(after, "portal_moderation_decisions_total", **kind)
        == value(before, "portal_moderation_decisions_total", **kind) + 1
    )
    for name in (
        "portal_moderation_time_to_first_action_seconds_count",
        "portal_moderation_handling_seconds_count",
    ):
        assert value(after, name) == value(before, name) + 1
    assert value(after, "portal_queue_open_reports", stage="open", reason="spam") == 1

    # requests by route template; no id of anyone in any label
    page = await client.get(f"/mod/reports/{r1.id}", follow_redirects=False)
    assert page.status_code in (200, 303)
    labelled = await scrape(client)
    paths = {
        dict(labels).get("path") for name, labels in labelled if name == "portal_requests_total"
    }
    assert "/mod/reports/{message_id}" in paths
    ids = {str(x) for x in (r1.id, world.ada.id, world.ben.id, world.admin.id)}
    assert not ids & _labels(labelled)
    assert not any(str(r1.id) in (p or "") for p in paths)
