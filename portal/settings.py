"""Settings, read once from ``PORTAL_*`` environment variables.

Defaults run the embedded mode: SQLite under ``var/``, a development JWT secret kept under
``var/``, email printed to the log. ``PORTAL_ENV=production`` makes the values that must not be
guessed (database URL, JWT key) required.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"PORTAL_{name}")
    return default if value is None or value == "" else value


def _env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"PORTAL_{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"PORTAL_{name} must be at least {minimum}, got {value}")
    return value


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"PORTAL_{name} must be true or false, got {raw!r}")


def _env_networks(name: str) -> tuple[str, ...]:
    """A comma-separated list of IP addresses and CIDR blocks, each written as a network."""
    networks = []
    for item in (_env(name) or "").split(","):
        if not item.strip():
            continue
        try:
            networks.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise SettingsError(
                f"PORTAL_{name}: {item.strip()!r} is not an IP address or CIDR block"
            ) from None
    return tuple(networks)


def _env_hosts(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of host names (no scheme, no port)."""
    raw = _env(name)
    if raw is None:
        return default
    hosts = tuple(item.strip().lower().strip("[]") for item in raw.split(",") if item.strip())
    for host in hosts:
        if any(ch in host for ch in "/@*\\ \t") or (":" in host and not _is_ip(host)):
            raise SettingsError(f"PORTAL_{name}: {host!r} is not a host name (no scheme or port)")
    if not hosts:
        raise SettingsError(f"PORTAL_{name} names no host")
    return hosts


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


LOCAL_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = None
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    use_tls: bool = False
    sender: str = "Messages <no-reply@localhost>"
    timeout_seconds: int = 10

    @property
    def configured(self) -> bool:
        return self.host is not None


@dataclass(frozen=True)
class DatabaseBounds:
    """How long the service waits on its database before answering 503, in milliseconds.

    0 means no bound (PostgreSQL's own default). Statement, lock and idle-in-transaction bounds
    are set on every PostgreSQL connection; SQLite has one bound, how long a writer waits for the
    database lock. The pool bound is how long a request waits for a free connection.
    """

    statement_timeout_ms: int = 5000
    lock_timeout_ms: int = 3000
    idle_in_transaction_timeout_ms: int = 10000
    connect_timeout_seconds: int = 3  # libpq counts whole seconds
    pool_timeout_ms: int = 3000
    sqlite_busy_timeout_ms: int = 5000
    # Kept open: a worker serves 16+ requests at once, each holding one connection; overflow
    # connections are opened and closed per use, which costs a busy worker (the profile).
    pool_size: int = 20
    max_overflow: int = 10


UNBOUNDED = DatabaseBounds(
    statement_timeout_ms=0,
    lock_timeout_ms=0,
    idle_in_transaction_timeout_ms=0,
    connect_timeout_seconds=10,
    pool_timeout_ms=30000,
    sqlite_busy_timeout_ms=30000,
)


@dataclass(frozen=True)
class Settings:
    environment: str = "development"
    var_dir: Path = PROJECT_ROOT / "var"
    database_url: str = ""  # the app's (runtime) role
    migration_database_url: str = ""  # the schema owner's; empty: database_url
    database_echo: bool = False
    database_bounds: DatabaseBounds = field(default_factory=DatabaseBounds)
    request_timeout_ms: int = 10000
    readiness_timeout_ms: int = 1000
    jwt_algorithm: str = "HS256"
    jwt_secret: str = ""
    jwt_public_key: str | None = None
    jwt_private_key: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_default_ttl_seconds: int = 3600
    session_secret: str = ""
    base_url: str = "http://127.0.0.1:8000"
    thread_url_template: str = "http://127.0.0.1:8000/threads/{thread_id}"
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    rate_limit_messages: int = 10
    rate_limit_window_seconds: int = 24 * 3600
    offline_after_seconds: int = 300
    email_max_attempts: int = 6
    email_backoff_base_seconds: int = 30
    email_backoff_max_seconds: int = 3600
    email_worker_in_serve: bool = True
    email_poll_seconds: float = 5.0
    retention_days: int = 365
    retention_allow_short: bool = False
    audit_signing_key: str | None = None  # PEM of an Ed25519 private key
    audit_checkpoint_dir: Path | None = None
    audit_checkpoint_minutes: int = 60
    # Who runs a console command that changes or exports something (a staff email); ``--as``
    # overrides it. Required in production.
    operator: str | None = None
    access_log: bool = True
    # Peers whose X-Forwarded-For is believed (a reverse proxy in front of the service).
    # (IP networks as text: settings are plain values, and reports encode them)
    trusted_proxies: tuple[str, ...] = ()
    # The Host header values answered; any other host gets 400 (SQLAdmin builds URLs from it).
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def owner_database_url(self) -> str:
        """The URL migrations run with: the role that owns the schema."""
        return self.migration_database_url or self.database_url

    @property
    def jwt_verify_key(self) -> str:
        return self.jwt_secret if self.jwt_algorithm.startswith("HS") else self.jwt_public_key or ""

    @property
    def jwt_signing_key(self) -> str | None:
        return self.jwt_secret if self.jwt_algorithm.startswith("HS") else self.jwt_private_key


SUPPORTED_JWT_ALGORITHMS = frozenset(
    {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}
)


# Employment records are kept one year from the making of the record or the personnel action,
# whichever is later (29 CFR 1602.14).
MINIMUM_RETENTION_DAYS = 365

DATABASE_URL_PREFIXES = ("sqlite+aiosqlite://", "postgresql+psycopg://")


def _check_database_url(name: str, url: str) -> None:
    if not url.startswith(DATABASE_URL_PREFIXES):
        raise SettingsError(
            f"PORTAL_{name} must start with sqlite+aiosqlite:// or postgresql+psycopg://"
        )


def _read_key(name: str) -> str | None:
    """A PEM key given inline (``PORTAL_X``) or as a file path (``PORTAL_X_FILE``)."""
    inline = _env(name)
    if inline:
        return inline.replace("\\n", "\n")
    path = _env(f"{name}_FILE")
    if path is None:
        return None
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise SettingsError(f"PORTAL_{name}_FILE: cannot read {path}: {exc.strerror}") from None


def _development_secret(var_dir: Path, filename: str) -> str:
    """A random secret created on first run and kept under var/, so tokens survive restarts."""
    path = var_dir / filename
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret


def load_settings() -> Settings:
    environment = _env("ENV", "development") or "development"
    production = environment == "production"
    var_dir = Path(_env("VAR_DIR", str(PROJECT_ROOT / "var")) or "var").resolve()

    database_url = _env("DATABASE_URL")
    if database_url is None:
        if production:
            raise SettingsError("PORTAL_DATABASE_URL is required when PORTAL_ENV=production")
        var_dir.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite+aiosqlite:///{var_dir / 'portal.sqlite3'}"
    _check_database_url("DATABASE_URL", database_url)
    migration_database_url = _env("MIGRATION_DATABASE_URL") or ""
    if migration_database_url:
        _check_database_url("MIGRATION_DATABASE_URL", migration_database_url)
        if migration_database_url.split(":", 1)[0] != database_url.split(":", 1)[0]:
            raise SettingsError(
                "PORTAL_MIGRATION_DATABASE_URL and PORTAL_DATABASE_URL must name the same kind "
                "of database"
            )
    retention_days = _env_int("RETENTION_DAYS", 365, minimum=1)
    retention_allow_short = _env_bool("RETENTION_ALLOW_SHORT", False)
    if retention_days < MINIMUM_RETENTION_DAYS and not retention_allow_short:
        raise SettingsError(
            f"PORTAL_RETENTION_DAYS must be at least {MINIMUM_RETENTION_DAYS} (29 CFR 1602.14 "
            f"requires one year), got {retention_days}; PORTAL_RETENTION_ALLOW_SHORT=1 allows "
            "less, for tests only"
        )

    algorithm = (_env("JWT_ALGORITHM", "HS256") or "HS256").upper()
    if algorithm not in SUPPORTED_JWT_ALGORITHMS:
        raise SettingsError(
            f"PORTAL_JWT_ALGORITHM {algorithm!r} is not one of "
            + ", ".join(sorted(SUPPORTED_JWT_ALGORITHMS))
        )
    jwt_secret = _env("JWT_SECRET") or ""
    public_key = _read_key("JWT_PUBLIC_KEY")
    if algorithm.startswith("HS"):
        if not jwt_secret:
            if production:
                raise SettingsError("PORTAL_JWT_SECRET is required when PORTAL_ENV=production")
            jwt_secret = _development_secret(var_dir, "jwt-secret")
        elif len(jwt_secret) < 32:
            raise SettingsError("PORTAL_JWT_SECRET must be at least 32 characters")
    elif public_key is None:
        raise SettingsError(f"PORTAL_JWT_PUBLIC_KEY (or _FILE) is required for {algorithm}")

    session_secret = _env("SESSION_SECRET") or ""
    if not session_secret:
        if production:
            raise SettingsError("PORTAL_SESSION_SECRET is required when PORTAL_ENV=production")
        session_secret = _development_secret(var_dir, "session-secret")

    base_url = (_env("BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/")
    thread_url_template = _env("THREAD_URL", base_url + "/threads/{thread_id}") or ""
    if "{thread_id}" not in thread_url_template:
        raise SettingsError("PORTAL_THREAD_URL must contain {thread_id}")

    sender = _env("SMTP_FROM", SmtpSettings.sender) or SmtpSettings.sender
    if "\r" in sender or "\n" in sender:
        raise SettingsError("PORTAL_SMTP_FROM must be one line")

    smtp = SmtpSettings(
        host=_env("SMTP_HOST"),
        port=_env_int("SMTP_PORT", 587, minimum=1),
        username=_env("SMTP_USERNAME"),
        password=_env("SMTP_PASSWORD"),
        starttls=_env_bool("SMTP_STARTTLS", True),
        use_tls=_env_bool("SMTP_TLS", False),
        sender=sender,
        timeout_seconds=_env_int("SMTP_TIMEOUT_SECONDS", 10, minimum=1),
    )

    audit_signing_key = _read_key("AUDIT_SIGNING_KEY")
    if audit_signing_key is None and production:
        # An unsigned export proves nothing to its recipient: anyone can recompute its hashes.
        raise SettingsError(
            "PORTAL_AUDIT_SIGNING_KEY (or _FILE) is required when PORTAL_ENV=production"
        )
    if audit_signing_key is not None:
        from portal.services.compliance.signing import SigningKeyError, load_private_key

        try:
            load_private_key(audit_signing_key)
        except SigningKeyError as exc:
            raise SettingsError(f"PORTAL_AUDIT_SIGNING_KEY: {exc}") from None

    return Settings(
        environment=environment,
        var_dir=var_dir,
        database_url=database_url,
        migration_database_url=migration_database_url,
        database_echo=_env_bool("DATABASE_ECHO", False),
        database_bounds=DatabaseBounds(
            statement_timeout_ms=_env_int("DB_STATEMENT_TIMEOUT_MS", 5000),
            lock_timeout_ms=_env_int("DB_LOCK_TIMEOUT_MS", 3000),
            idle_in_transaction_timeout_ms=_env_int("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 10000),
            connect_timeout_seconds=_env_int("DB_CONNECT_TIMEOUT_SECONDS", 3, minimum=1),
            pool_timeout_ms=_env_int("DB_POOL_TIMEOUT_MS", 3000, minimum=1),
            sqlite_busy_timeout_ms=_env_int("DB_SQLITE_BUSY_TIMEOUT_MS", 5000),
            pool_size=_env_int("DB_POOL_SIZE", 20, minimum=1),
            max_overflow=_env_int("DB_POOL_MAX_OVERFLOW", 10),
        ),
        request_timeout_ms=_env_int("REQUEST_TIMEOUT_MS", 10000),
        readiness_timeout_ms=_env_int("READINESS_TIMEOUT_MS", 1000, minimum=1),
        jwt_algorithm=algorithm,
        jwt_secret=jwt_secret,
        jwt_public_key=public_key,
        jwt_private_key=_read_key("JWT_PRIVATE_KEY"),
        jwt_audience=_env("JWT_AUDIENCE"),
        jwt_issuer=_env("JWT_ISSUER"),
        jwt_default_ttl_seconds=_env_int("JWT_TTL_SECONDS", 3600, minimum=1),
        session_secret=session_secret,
        base_url=base_url,
        thread_url_template=thread_url_template,
        smtp=smtp,
        rate_limit_messages=_env_int("RATE_LIMIT_MESSAGES", 10, minimum=1),
        rate_limit_window_seconds=_env_int("RATE_LIMIT_WINDOW_SECONDS", 24 * 3600, minimum=1),
        offline_after_seconds=_env_int("OFFLINE_AFTER_SECONDS", 300, minimum=0),
        email_max_attempts=_env_int("EMAIL_MAX_ATTEMPTS", 6, minimum=1),
        email_backoff_base_seconds=_env_int("EMAIL_BACKOFF_BASE_SECONDS", 30, minimum=0),
        email_backoff_max_seconds=_env_int("EMAIL_BACKOFF_MAX_SECONDS", 3600, minimum=0),
        email_worker_in_serve=_env_bool("EMAIL_WORKER_IN_SERVE", True),
        # A line per request costs a few percent of a busy worker; production's proxy logs them.
        access_log=_env_bool("ACCESS_LOG", not production),
        email_poll_seconds=float(_env_int("EMAIL_POLL_MILLISECONDS", 5000, minimum=10)) / 1000,
        retention_days=retention_days,
        retention_allow_short=retention_allow_short,
        audit_signing_key=audit_signing_key,
        audit_checkpoint_dir=_checkpoint_dir(),
        audit_checkpoint_minutes=_env_int("AUDIT_CHECKPOINT_MINUTES", 60, minimum=1),
        operator=_env("OPERATOR"),
        trusted_proxies=_env_networks("TRUSTED_PROXIES"),
        allowed_hosts=_env_hosts("ALLOWED_HOSTS", _default_hosts(base_url)),
    )


def _checkpoint_dir() -> Path | None:
    # Not required to exist yet: a directory mounted from elsewhere may come and go, and the
    # worker says so each time it cannot write there.
    raw = _env("AUDIT_CHECKPOINT_DIR")
    return None if raw is None else Path(raw).resolve()


def _default_hosts(base_url: str) -> tuple[str, ...]:
    base_host = (urlsplit(base_url).hostname or "").lower()
    return tuple(dict.fromkeys([*LOCAL_HOSTS, base_host] if base_host else LOCAL_HOSTS))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
