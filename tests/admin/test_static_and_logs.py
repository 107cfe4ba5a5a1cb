"""/static serves only the app's files and the vendor files its pages load, a hostile static path
is a 404 (not a 500), and request data in a log line cannot start a line of its own."""

from __future__ import annotations

import logging

from litestar import Litestar
from litestar.testing import AsyncTestClient, RequestFactory

from api.errors import internal_error_handler
from portal.log_text import loggable
from server.api_docs import SWAGGER_UI_FILES
from tests.conftest import no_database


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@no_database
async def test_only_the_vendor_files_the_pages_load_are_served(app: Litestar) -> None:
    async with AsyncTestClient(app=app) as client:
        for name in SWAGGER_UI_FILES:
            assert (await client.get(f"/static/vendor/swagger-ui/{name}")).status_code == 200
        assert (await client.get("/static/vendor/htmx/htmx.min.js")).status_code == 200
        for path in (
            "/static/vendor/swagger-ui/index.html",
            "/static/vendor/swagger-ui/oauth2-redirect.html",
            "/static/vendor/swagger-ui/swagger-initializer.js",
            "/static/vendor/swagger-ui/package.json",
            "/static/vendor/swagger-ui/",
            "/static/vendor/swagger-ui/swagger-ui-bundle.js.map",
            "/static/vendor/htmx/htmx.js",
            "/static/vendor/htmx/ext/ws.js",
            "/static/vendor/swagger-ui/../htmx.org/dist/htmx.min.js",
        ):
            assert (await client.get(path)).status_code == 404, path
        # the app's own files are all there
        assert (await client.get("/static/mod.css")).status_code == 200


@no_database
async def test_a_control_character_in_a_static_path_is_not_found(app: Litestar) -> None:
    records = Records()
    logger = logging.getLogger("api.errors")
    logger.addHandler(records)
    try:
        async with AsyncTestClient(app=app) as client:
            for path in (
                "/static/mod.css%00.js",
                "/static/vendor/htmx/htmx.min.js%00",
                "/static/vendor/swagger-ui/swagger-ui.css%00",
                "/static/%0aFAKE%20LOG%20LINE",
            ):
                answer = await client.get(path)
                assert answer.status_code == 404, path
    finally:
        logger.removeHandler(records)
    assert [r.getMessage() for r in records.records if r.levelno >= logging.ERROR] == []


def test_request_data_in_a_log_line_is_escaped() -> None:
    forged = "/mod/x\nERROR - 2026-01-01 forged line\r\u202e\x1b[2J"
    request = RequestFactory().get(path="/mod/x")
    request.scope["path"] = forged
    records = Records()
    logger = logging.getLogger("api.errors")
    logger.addHandler(records)
    try:
        internal_error_handler(request, RuntimeError("boom"))
    finally:
        logger.removeHandler(records)
    [record] = records.records
    line = record.getMessage()
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u202e" not in line
    assert "/mod/x\\nERROR - 2026-01-01 forged line\\r\\u202e\\x1b[2J" in line


def test_loggable() -> None:
    assert loggable("/mod/reports/1") == "/mod/reports/1"
    assert loggable("é ü 名前") == "é ü 名前"
    assert loggable("a\nb\tc\\d\x00\x7f\u2028") == "a\\nb\\tc\\\\d\\x00\\x7f\\u2028"
