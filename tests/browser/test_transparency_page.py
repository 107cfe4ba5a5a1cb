"""The transparency page in Chromium: a compliance officer picks a period in the form, reads its
figures, and saves the report and the statements of reasons (not-boosted POST forms: the
browser downloads the files and stays on the page); axe-core finds no serious violation."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from tests.browser.accessibility import serious_violations
from tests.browser.conftest import ARTIFACTS, FRONT_END_ONLY, Browsing, LiveServer
from tests.browser.test_dashboard import sign_in
from tests.portal.transparency_world import TransparencyWorld, build_transparency_world

pytestmark = FRONT_END_ONLY

PAGE = "/mod/compliance/transparency"


def saved(page: Any, button: str, path: Path) -> bytes:
    with page.expect_download() as download:
        page.click(button)
    download.value.save_as(path)
    return path.read_bytes()


def test_a_compliance_officer_reads_the_figures_and_saves_the_files(
    live_server: LiveServer, browsing: Browsing, tmp_path: Path
) -> None:
    live = live_server
    world: TransparencyWorld = live.run(build_transparency_world, live.settings)
    page = browsing.new_page()
    sign_in(page, live, world.officer, then="/mod/compliance")
    page.click(f"a[href='{PAGE}']")
    page.wait_for_url(re.compile(re.escape(live.url + PAGE) + r"/?$"))

    page.fill("#period-form input[name=from]", "2026-01-01")
    page.fill("#period-form input[name=to]", "2026-06-30")
    page.click("#period-form button[type=submit]")
    page.wait_for_url(re.compile(r".*from=2026-01-01&to=2026-06-30$"))
    received = page.locator('[data-figure="reports.received"]')
    assert received.inner_text() == "7"
    assert page.locator('[data-figure="decisions.median_seconds_from_report"]').inner_text() == (
        "2 h 30 min"
    )
    page.wait_for_load_state("networkidle")
    assert serious_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "transparency-page.png"), full_page=True)

    url = page.url
    report = saved(page, "form.download button[value=csv]", tmp_path / "report.csv")
    rows = list(csv.reader(io.StringIO(report.decode())))
    assert ["reports", "received", "7"] in rows
    statements = saved(
        page,
        "form[action$='/statements'] button[type=submit]",
        tmp_path / "statements.json",
    )
    batches = json.loads(statements)["batches"]
    assert sum(len(batch["statements"]) for batch in batches) == 4
    assert page.url == url  # the downloads left the page as it was
    assert browsing.foreign_requests() == []
