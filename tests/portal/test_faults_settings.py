"""The database and request bounds are read from PORTAL_* variables, with sane defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.settings import DatabaseBounds, SettingsError, get_settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PORTAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()


def test_defaults_bound_every_wait_to_a_few_seconds() -> None:
    settings = load_settings()
    assert settings.database_bounds == DatabaseBounds()
    bounds = settings.database_bounds
    assert 0 < bounds.lock_timeout_ms <= bounds.statement_timeout_ms <= 10_000
    assert 0 < bounds.pool_timeout_ms <= 10_000
    assert 0 < bounds.sqlite_busy_timeout_ms <= 10_000
    assert bounds.idle_in_transaction_timeout_ms > 0
    # The database's bounds end a stuck statement before the request's own bound does.
    assert settings.request_timeout_ms > bounds.statement_timeout_ms
    assert settings.readiness_timeout_ms <= 1000


def test_bounds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "DB_STATEMENT_TIMEOUT_MS": "4000",
        "DB_LOCK_TIMEOUT_MS": "1500",
        "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS": "0",
        "DB_CONNECT_TIMEOUT_SECONDS": "2",
        "DB_POOL_TIMEOUT_MS": "800",
        "DB_POOL_SIZE": "4",
        "DB_POOL_MAX_OVERFLOW": "0",
        "DB_SQLITE_BUSY_TIMEOUT_MS": "700",
        "REQUEST_TIMEOUT_MS": "9000",
        "READINESS_TIMEOUT_MS": "250",
    }.items():
        monkeypatch.setenv(f"PORTAL_{name}", value)
    settings = load_settings()
    assert settings.database_bounds == DatabaseBounds(
        statement_timeout_ms=4000,
        lock_timeout_ms=1500,
        idle_in_transaction_timeout_ms=0,
        connect_timeout_seconds=2,
        pool_timeout_ms=800,
        sqlite_busy_timeout_ms=700,
        pool_size=4,
        max_overflow=0,
    )
    assert settings.request_timeout_ms == 9000
    assert settings.readiness_timeout_ms == 250


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_DB_STATEMENT_TIMEOUT_MS", "5s"),
        ("PORTAL_DB_LOCK_TIMEOUT_MS", "-1"),
        ("PORTAL_DB_POOL_TIMEOUT_MS", "0"),
        ("PORTAL_DB_POOL_SIZE", "0"),
        ("PORTAL_DB_CONNECT_TIMEOUT_SECONDS", "0"),
        ("PORTAL_READINESS_TIMEOUT_MS", "0"),
    ],
)
def test_bad_bounds_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()
