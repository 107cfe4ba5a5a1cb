"""The browser the tests drive is started as Playwright starts it, less the omnibox's WebUI
popups (conftest.CHROMIUM_ARGS): Chromium keeps only the last --disable-features it is given,
so the project's list must still hold every feature Playwright disables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.browser.conftest import OMNIBOX_WEBUI_FEATURES


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _browser_command_line() -> list[str]:
    """The main Chromium process Playwright's driver (a child of this process) started."""
    for driver in _children(os.getpid()):
        for process in _children(driver):
            arguments = Path(f"/proc/{process}/cmdline").read_bytes().split(b"\0")
            words = [argument.decode() for argument in arguments if argument]
            if "--remote-debugging-pipe" in words:
                return words
    raise AssertionError("no Chromium started by this process's Playwright driver")


def test_playwrights_disabled_features_are_kept_and_no_omnibox_popup_is_built(
    chromium: Any,
) -> None:
    lists = [
        argument.removeprefix("--disable-features=").split(",")
        for argument in _browser_command_line()
        if argument.startswith("--disable-features=")
    ]
    assert len(lists) == 2, lists  # Playwright's, then ours (the one Chromium keeps)
    playwrights, ours = lists
    assert set(playwrights) <= set(ours), sorted(set(playwrights) - set(ours))
    assert set(OMNIBOX_WEBUI_FEATURES) <= set(ours)

    context = chromium.new_context()
    try:
        context.new_page().goto("data:text/html,<title>t</title>")
        targets = chromium.new_browser_cdp_session().send("Target.getTargets")["targetInfos"]
        assert [t["url"] for t in targets if t["type"] != "page"] == []
    finally:
        context.close()
