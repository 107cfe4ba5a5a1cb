"""The overview's trend charts in Chromium: drawn, labelled, axe-clean; a screenshot is kept
under var/test-artifacts/ for a person to look at."""

from __future__ import annotations

from datetime import timedelta

from portal.models.base import utcnow
from tests.browser.accessibility import serious_violations
from tests.browser.conftest import ARTIFACTS, FRONT_END_ONLY, Browsing, LiveServer
from tests.browser.test_dashboard import sign_in
from tests.portal.trends_world import build

pytestmark = FRONT_END_ONLY


def test_the_charts_are_drawn_and_accessible(live_server: LiveServer, browsing: Browsing) -> None:
    live = live_server
    world = live.run(build, live.settings, utcnow() + timedelta(minutes=1))
    page = browsing.new_page()
    sign_in(page, live, world.admin, then="/mod/overview")
    charts = page.locator("svg.chart[role=img]")
    assert charts.count() >= 8
    for i in range(charts.count()):
        chart = charts.nth(i)
        assert chart.locator("title").count() == 1 and chart.locator("desc").count() == 1
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300
    assert page.locator("#chart-moderators table.data tbody tr").count() == 2
    page.screenshot(path=str(ARTIFACTS / "overview-charts.png"), full_page=True)
    assert serious_violations(page) == []
