"""Settings come from PORTAL_* variables once; a bad or missing production value is one clear
error naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.settings import SettingsError, get_settings, load_settings
from server.cli import main


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PORTAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()


def test_embedded_defaults_keep_a_generated_secret(tmp_path: Path) -> None:
    first = load_settings()
    assert first.database_url == f"sqlite+aiosqlite:///{tmp_path / 'portal.sqlite3'}"
    assert first.jwt_algorithm == "HS256"
    assert len(first.jwt_secret) >= 32
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0
    assert load_settings().jwt_secret == first.jwt_secret
    assert first.rate_limit_messages == 10
    assert first.rate_limit_window_seconds == 86400
    assert first.smtp.configured is False


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_DATABASE_URL", "postgresql+psycopg://u@db/portal")
    monkeypatch.setenv("PORTAL_RATE_LIMIT_MESSAGES", "25")
    monkeypatch.setenv("PORTAL_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("PORTAL_JWT_AUDIENCE", "messaging")
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://u@db/portal"
    assert settings.rate_limit_messages == 25
    assert settings.smtp.configured is True
    assert settings.jwt_audience == "messaging"


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("PORTAL_RATE_LIMIT_MESSAGES", "ten", "PORTAL_RATE_LIMIT_MESSAGES"),
        ("PORTAL_RATE_LIMIT_MESSAGES", "0", "PORTAL_RATE_LIMIT_MESSAGES"),
        ("PORTAL_JWT_ALGORITHM", "none", "PORTAL_JWT_ALGORITHM"),
        ("PORTAL_JWT_ALGORITHM", "RS256", "PORTAL_JWT_PUBLIC_KEY"),
        ("PORTAL_JWT_SECRET", "short", "PORTAL_JWT_SECRET"),
        ("PORTAL_DATABASE_URL", "mysql://x/y", "PORTAL_DATABASE_URL"),
        ("PORTAL_MIGRATION_DATABASE_URL", "mysql://x/y", "PORTAL_MIGRATION_DATABASE_URL"),
        ("PORTAL_SMTP_STARTTLS", "maybe", "PORTAL_SMTP_STARTTLS"),
        ("PORTAL_THREAD_URL", "https://app.example/messages", "PORTAL_THREAD_URL"),
        ("PORTAL_SMTP_FROM", "a@example.com\r\nBcc: x@example.com", "PORTAL_SMTP_FROM"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, named: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=named):
        load_settings()


def test_production_requires_its_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_ENV", "production")
    with pytest.raises(SettingsError, match="PORTAL_DATABASE_URL"):
        load_settings()
    monkeypatch.setenv("PORTAL_DATABASE_URL", "postgresql+psycopg://u@db/portal")
    with pytest.raises(SettingsError, match="PORTAL_JWT_SECRET"):
        load_settings()
    monkeypatch.setenv("PORTAL_JWT_SECRET", "s" * 40)
    with pytest.raises(SettingsError, match="PORTAL_SESSION_SECRET"):
        load_settings()
    monkeypatch.setenv("PORTAL_SESSION_SECRET", "t" * 40)
    # Without a signing key its exports prove nothing to their recipient (anyone can recompute
    # an unsigned report's hashes), so production refuses to start.
    with pytest.raises(SettingsError, match="PORTAL_AUDIT_SIGNING_KEY"):
        load_settings()
    monkeypatch.setenv("PORTAL_AUDIT_SIGNING_KEY", _signing_key_pem())
    assert load_settings().environment == "production"


def _signing_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def test_serve_with_missing_production_setting_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_ENV", "production")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "portal: error: PORTAL_DATABASE_URL is required when PORTAL_ENV=production"
    ]


def test_access_log_is_off_by_default_in_production_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().access_log is True
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_DATABASE_URL", "postgresql+psycopg://u@db/portal")
    monkeypatch.setenv("PORTAL_JWT_SECRET", "s" * 40)
    monkeypatch.setenv("PORTAL_SESSION_SECRET", "t" * 40)
    monkeypatch.setenv("PORTAL_AUDIT_SIGNING_KEY", _signing_key_pem())
    assert load_settings().access_log is False
    monkeypatch.setenv("PORTAL_ACCESS_LOG", "true")
    assert load_settings().access_log is True


def test_serve_uses_the_c_event_loop_and_http_parser() -> None:
    from server.cli import _fastest

    # Both are pinned dependencies; the fallback is for platforms without their wheels.
    assert _fastest("uvloop", fallback="asyncio") == "uvloop"
    assert _fastest("httptools", fallback="h11") == "httptools"
    assert _fastest("no_such_module_here", fallback="h11") == "h11"


def test_the_migration_url_defaults_to_the_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_DATABASE_URL", "postgresql+psycopg://portal_app@db/portal")
    assert load_settings().owner_database_url == "postgresql+psycopg://portal_app@db/portal"
    monkeypatch.setenv(
        "PORTAL_MIGRATION_DATABASE_URL", "postgresql+psycopg://portal_owner@db/portal"
    )
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://portal_app@db/portal"
    assert settings.owner_database_url == "postgresql+psycopg://portal_owner@db/portal"


@pytest.mark.parametrize("days", ["1", "30", "364"])
def test_retention_below_a_year_is_refused_unless_allowed_for_tests(
    monkeypatch: pytest.MonkeyPatch, days: str
) -> None:
    monkeypatch.setenv("PORTAL_RETENTION_DAYS", days)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "PORTAL_RETENTION_DAYS must be at least 365" in str(refused.value)
    assert "PORTAL_RETENTION_ALLOW_SHORT" in str(refused.value)
    monkeypatch.setenv("PORTAL_RETENTION_ALLOW_SHORT", "1")
    assert load_settings().retention_days == int(days)


def test_retention_of_a_year_or_more_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().retention_days == 365
    monkeypatch.setenv("PORTAL_RETENTION_DAYS", "2555")
    assert load_settings().retention_days == 2555
