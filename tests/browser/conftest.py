"""One real server per browser test module, and one headless Chromium for all of them.

The app runs under uvicorn on a free 127.0.0.1 port, in a thread, against a migrated copy of the
test template, once on SQLite and once on PostgreSQL. The browser is Debian's chromium driven by
Playwright (never a downloaded browser build); without it these tests are skipped, unless
PORTAL_REQUIRE_BROWSER=1 (as in CI), which makes that a failure. Every request the browser makes
is recorded, so a test can prove that nothing left 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
import uvicorn

from portal.database import create_engine, create_sessionmaker
from portal.settings import PROJECT_ROOT, Settings, SmtpSettings
from server.app import create_app
from tests.conftest import (
    BACKENDS,
    POSTGRES_URL,
    TEST_JWT_SECRET,
    _drop_database,
    _postgres_admin,
    _with_database,
    as_runtime_role,
    create_from_template,
)

CHROMIUM = "/usr/bin/chromium"
PLAYWRIGHT_DISABLED_FEATURES = [
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "msForceBrowserSignIn",
    "msEdgeUpdateLaunchServicesPreferredVersion",
]
OMNIBOX_WEBUI_FEATURES = ["WebUIOmniboxPopup", "WebUIOmniboxAimPopup", "WebUIOmniboxFullPopup"]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Nothing may leave the machine: every other host fails to resolve. (Not Playwright's request
    # routing, which sends every request through this process and turns the HTTP cache off.)
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    # Chromium keeps the last --disable-features it is given: Playwright's own list (1.64's
    # chromiumSwitches.ts), then the omnibox's WebUI popups, which headless Chromium builds in
    # a renderer of their own for every browser context (about 0.6 s of CPU each).
    "--disable-features=" + ",".join(PLAYWRIGHT_DISABLED_FEATURES + OMNIBOX_WEBUI_FEATURES),
]
ARTIFACTS = PROJECT_ROOT / "var" / "test-artifacts"
T = TypeVar("T")


def _need_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("PORTAL_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and PORTAL_REQUIRE_BROWSER=1 requires it", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    settings: Settings
    _executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))

    def run(self, make: Any, *args: Any, **kwargs: Any) -> Any:
        """Runs ``await make(session, *args, **kwargs)`` against the server's database, in a thread
        of its own (the sync Playwright API owns this thread's event loop)."""

        async def call() -> Any:
            engine = create_engine(self.settings.database_url)
            try:
                async with create_sessionmaker(engine)() as session:
                    return await make(session, *args, **kwargs)
            finally:
                await engine.dispose()

        return self._executor.submit(asyncio.run, call()).result()

    def run_coroutine(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._executor.submit(asyncio.run, coroutine).result()


# For a module that checks what the browser does with a page (focus, keys, accessibility), not
# what the database does: the pages are the same on both backends, whose data paths the
# dashboard's other browser tests and every service test already run on each.
FRONT_END_ONLY = pytest.mark.parametrize("live_database", ["sqlite"], indirect=True, scope="module")


@pytest.fixture(scope="module", params=BACKENDS)
def live_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database for the module's live server: a copy of the test template, as the
    app's runtime role on PostgreSQL."""
    _need_browser()
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        database = tmp_path_factory.mktemp("live") / "portal.sqlite3"
        shutil.copyfile(template, database)
        yield f"sqlite+aiosqlite:///{database}"
        return
    template_name: str = request.getfixturevalue("postgres_template")
    dropper: ThreadPoolExecutor = request.getfixturevalue("postgres_dropper")
    name = f"portal_live_{uuid.uuid4().hex[:12]}"
    with _postgres_admin() as admin:
        create_from_template(admin, name, template_name)
    try:
        yield as_runtime_role(_with_database(POSTGRES_URL, name))
    finally:
        dropper.submit(_drop_database, name)


@pytest.fixture(scope="module")
def live_server(
    live_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("live-var")
    port = _free_port()
    settings = Settings(
        environment="test",
        var_dir=directory,
        database_url=live_database,
        jwt_secret=TEST_JWT_SECRET,
        session_secret="browser-session-" + "z" * 40,
        base_url=f"http://127.0.0.1:{port}",
        smtp=SmtpSettings(),
        email_worker_in_serve=False,
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    live = LiveServer(url=f"http://127.0.0.1:{port}", settings=settings)
    yield live
    server.should_exit = True
    thread.join(timeout=10)
    live._executor.shutdown()


@dataclass
class Browsing:
    """The shared browser as one module uses it: every URL its pages asked for, and the
    contexts it opened (closed when the module ends)."""

    browser: Any
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)

    def new_page(self, *, scripts: bool = True) -> Any:
        context = self.browser.new_context(
            viewport={"width": 1360, "height": 860}, java_script_enabled=scripts
        )
        self.contexts.append(context)
        context.on("request", lambda request: self.requests.append(request.url))
        page = context.new_page()
        page.on(
            "console",
            lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        return page

    def foreign_requests(self) -> list[str]:
        return [
            url
            for url in self.requests
            if not url.startswith(("data:", "about:")) and urlsplit(url).hostname != "127.0.0.1"
        ]


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """Playwright's driver and Chromium, started once for as long as this process runs browser
    tests one after another (their modules are handed out first, so usually once per process;
    starting both cost about a second of CPU per module). Torn down before any other test runs
    here: the sync API keeps an event loop running in this thread, in which ``asyncio.run``
    fails (the test templates are therefore migrated in a thread of their own)."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browsing(live_server: LiveServer, chromium: Any) -> Iterator[Browsing]:
    browsing = Browsing(chromium)
    try:
        yield browsing
    finally:
        # Before the module's server stops: no page is left retrying a stream against it.
        for context in browsing.contexts:
            context.close()
