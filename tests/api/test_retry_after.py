"""Retry-After to the second (issue 6, mutation-testing survivors): counted from the oldest
message still in the window, with messages sent at different times, rounded up, never down.

The send's clock is controlled, so every figure is exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient

from portal.services import messaging, rate_limit
from portal.settings import Settings
from server.app import create_app
from tests.api.helpers import make_pair, send
from tests.conftest import settings_with

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = START
        for module in (messaging, rate_limit):
            monkeypatch.setattr(module, "utcnow", lambda: self.now, raising=False)

    def at(self, seconds: float) -> None:
        self.now = START + timedelta(seconds=seconds)


async def test_retry_after_counts_from_the_oldest_message_in_the_window_rounded_up(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited = settings_with(settings, rate_limit_messages=3, rate_limit_window_seconds=3600)
    app = create_app(limited)
    clock = Clock(monkeypatch)
    async with AsyncTestClient(app=app) as client:
        employer, candidate = await make_pair(app)

        async def status_at(seconds: float) -> tuple[int, str | None]:
            clock.at(seconds)
            response = await send(client, limited, employer, candidate, f"at {seconds}")
            return response.status_code, response.headers.get("retry-after")

        assert await status_at(0) == (201, None)
        assert await status_at(700.25) == (201, None)
        assert await status_at(1500) == (201, None)
        # The message of 0 s leaves the window at 3600 s: exactly 1000 s from 2600 s.
        assert await status_at(2600) == (429, "1000")
        assert await status_at(3599.5) == (429, "1")  # 0.5 s left: rounded up to 1
        assert await status_at(3650) == (201, None)  # the first one has left
        # In the window now: 700.25 s, 1500 s, 3650 s. The oldest of them, not the first ever
        # sent nor the newest, frees a place at 4300.25 s: 600.25 s from 3700 s, so 601.
        assert await status_at(3700) == (429, "601")
        assert await status_at(4300) == (429, "1")
        assert await status_at(4300.25) == (201, None)


async def test_retry_after_message_says_the_same_seconds(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited = settings_with(settings, rate_limit_messages=1, rate_limit_window_seconds=86400)
    app = create_app(limited)
    clock = Clock(monkeypatch)
    async with AsyncTestClient(app=app) as client:
        employer, candidate = await make_pair(app)
        assert (await send(client, limited, employer, candidate)).status_code == 201
        clock.at(86400 - 3600.9)
        refused = await send(client, limited, employer, candidate)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "3601"
        assert "try again in 3601 seconds" in refused.json()["detail"]
