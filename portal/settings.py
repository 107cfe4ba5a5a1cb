"""Settings, read once from ``PORTAL_*`` environment variables.

Every setting is declared once, as a field of :class:`Settings` (or of its groups
:class:`SmtpSettings` and :class:`DatabaseBounds`) made by :func:`setting`: its variable, its
default, what it means and what the loader checks. The loader reads the declarations, and the
table of settings in ``docs/operations.md`` is generated from them (``portal settings
--markdown``; a test checks that the document holds the current table).

Defaults run the embedded mode: SQLite under ``var/``, email printed to the log, and development
secrets read from ``var/`` when ``portal db upgrade`` has written them there (otherwise made up
in memory for the one process). Loading settings writes nothing. ``PORTAL_ENV=production`` makes
the values that must not be guessed (database URL, JWT key, session secret, audit signing key)
required.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Declared:
    """One setting: the variable it is read from and everything the loader and the docs say."""

    env: str  # without the PORTAL_ prefix
    default: Any
    help: str
    kind: str  # text, int, bool, path, networks, hosts, milliseconds_as_seconds
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    one_line: bool = False
    must_contain: str | None = None
    prefixes: tuple[str, ...] = ()
    upper: bool = False
    strip_trailing_slash: bool = False
    from_file: bool = False  # also PORTAL_<ENV>_FILE, a path to read the value from
    shown_default: str | None = None  # the docs' default when it is not a plain value

    @property
    def variable(self) -> str:
        return f"PORTAL_{self.env}"

    def raw(self) -> str | None:
        """The variable's text (an empty variable counts as unset), or its file's content."""
        value = os.environ.get(self.variable)
        if value:
            return value.replace("\\n", "\n") if self.from_file else value
        if not self.from_file:
            return None
        path = os.environ.get(f"{self.variable}_FILE")
        if not path:
            return None
        try:
            # a secret file's final newline (``echo … > file``) is not part of the secret
            return Path(path).read_text().rstrip("\r\n")
        except OSError as exc:
            raise SettingsError(
                f"{self.variable}_FILE: cannot read {path}: {exc.strerror}"
            ) from None

    def parse(self, raw: str) -> Any:
        name = self.variable
        if self.kind == "bool":
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise SettingsError(f"{name} must be true or false, got {raw!r}")
        if self.kind in ("int", "milliseconds_as_seconds"):
            try:
                number = int(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
            minimum = self.minimum or 0
            if number < minimum:
                raise SettingsError(f"{name} must be at least {minimum}, got {number}")
            return number / 1000 if self.kind == "milliseconds_as_seconds" else number
        if self.kind == "path":
            return Path(raw).resolve()
        if self.kind == "networks":
            return _networks(name, raw)
        if self.kind == "hosts":
            return _hosts(name, raw)
        return self._text(name, raw)

    def _text(self, name: str, raw: str) -> str:
        value = raw.upper() if self.upper else raw
        if self.strip_trailing_slash:
            value = value.rstrip("/")
        if self.choices and value not in self.choices:
            raise SettingsError(f"{name} {value!r} is not one of " + ", ".join(self.choices))
        if self.one_line and ("\r" in value or "\n" in value):
            raise SettingsError(f"{name} must be one line")
        if self.must_contain is not None and self.must_contain not in value:
            raise SettingsError(f"{name} must contain {self.must_contain}")
        if self.prefixes and not value.startswith(self.prefixes):
            raise SettingsError(f"{name} must start with " + " or ".join(self.prefixes))
        return value

    def rule(self) -> str:
        """What the loader checks, in words, for the docs."""
        if self.kind == "bool":
            return "true or false"
        if self.kind in ("int", "milliseconds_as_seconds"):
            return f"a whole number, at least {self.minimum or 0}"
        if self.kind == "path":
            return "a path"
        if self.kind == "networks":
            return "IP addresses or CIDR blocks, comma-separated"
        if self.kind == "hosts":
            return "host names without scheme or port, comma-separated"
        rules = []
        if self.choices:
            rules.append("one of " + ", ".join(self.choices))
        if self.one_line:
            rules.append("one line")
        if self.must_contain:
            rules.append(f"contains `{self.must_contain}`")
        if self.prefixes:
            rules.append("starts with " + " or ".join(f"`{p}`" for p in self.prefixes))
        return "; ".join(rules)


def setting(
    env: str,
    default: T,
    help: str,
    *,
    kind: str | None = None,
    minimum: int | None = None,
    choices: tuple[str, ...] = (),
    one_line: bool = False,
    must_contain: str | None = None,
    prefixes: tuple[str, ...] = (),
    upper: bool = False,
    strip_trailing_slash: bool = False,
    from_file: bool = False,
    shown_default: str | None = None,
) -> T:
    """A settings field read from ``PORTAL_<env>``: its one declaration."""
    if kind is None:
        kind = (
            "bool"
            if isinstance(default, bool)
            else "int"
            if isinstance(default, int)
            else "path"
            if isinstance(default, Path)
            else "text"
        )
    declared = Declared(
        env=env,
        default=default,
        help=help,
        kind=kind,
        minimum=minimum,
        choices=choices,
        one_line=one_line,
        must_contain=must_contain,
        prefixes=prefixes,
        upper=upper,
        strip_trailing_slash=strip_trailing_slash,
        from_file=from_file,
        shown_default=shown_default,
    )
    return field(default=default, metadata={"setting": declared})


def _networks(name: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list of IP addresses and CIDR blocks, each written as a network."""
    networks = []
    for item in raw.split(","):
        if not item.strip():
            continue
        try:
            networks.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise SettingsError(
                f"{name}: {item.strip()!r} is not an IP address or CIDR block"
            ) from None
    return tuple(networks)


def _hosts(name: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list of host names (no scheme, no port)."""
    hosts = tuple(item.strip().lower().strip("[]") for item in raw.split(",") if item.strip())
    for host in hosts:
        if any(ch in host for ch in "/@*\\ \t") or (":" in host and not _is_ip(host)):
            raise SettingsError(f"{name}: {host!r} is not a host name (no scheme or port)")
    if not hosts:
        raise SettingsError(f"{name} names no host")
    return hosts


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


LOCAL_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
THREAD_PATH = "/threads/{thread_id}"
DATABASE_URL_PREFIXES = ("sqlite+aiosqlite://", "postgresql+psycopg://")
SUPPORTED_JWT_ALGORITHMS = (
    "ES256",
    "ES384",
    "ES512",
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
)
# Employment records are kept one year from the making of the record or the personnel action,
# whichever is later (29 CFR 1602.14).
MINIMUM_RETENTION_DAYS = 365
# Development secrets that `portal db upgrade` keeps under var/, so tokens survive restarts.
DEVELOPMENT_SECRET_FILES = {"jwt_secret": "jwt-secret", "session_secret": "session-secret"}


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = setting(
        "SMTP_HOST", None, "SMTP server; unset: notifications are logged and marked skipped"
    )
    port: int = setting("SMTP_PORT", 587, "SMTP server port", minimum=1)
    username: str | None = setting("SMTP_USERNAME", None, "SMTP user name")
    password: str | None = setting("SMTP_PASSWORD", None, "SMTP password")
    starttls: bool = setting("SMTP_STARTTLS", True, "upgrade the connection with STARTTLS")
    use_tls: bool = setting("SMTP_TLS", False, "TLS from the start (instead of STARTTLS)")
    sender: str = setting(
        "SMTP_FROM",
        "Messages <no-reply@localhost>",
        "sender address of notifications",
        one_line=True,
    )
    timeout_seconds: int = setting(
        "SMTP_TIMEOUT_SECONDS", 10, "per SMTP connection, in seconds", minimum=1
    )

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

    statement_timeout_ms: int = setting(
        "DB_STATEMENT_TIMEOUT_MS",
        5000,
        "PostgreSQL `statement_timeout` of the service's connections (`0`: none)",
    )
    lock_timeout_ms: int = setting(
        "DB_LOCK_TIMEOUT_MS",
        3000,
        "PostgreSQL `lock_timeout`: longest wait for a row or table lock (`0`: none)",
    )
    idle_in_transaction_timeout_ms: int = setting(
        "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
        10000,
        "PostgreSQL `idle_in_transaction_session_timeout` (`0`: none)",
    )
    connect_timeout_seconds: int = setting(  # libpq counts whole seconds
        "DB_CONNECT_TIMEOUT_SECONDS",
        3,
        "longest wait for a new PostgreSQL connection, in seconds",
        minimum=1,
    )
    pool_timeout_ms: int = setting(
        "DB_POOL_TIMEOUT_MS", 3000, "longest wait for a free pooled connection", minimum=1
    )
    sqlite_busy_timeout_ms: int = setting(
        "DB_SQLITE_BUSY_TIMEOUT_MS",
        5000,
        "SQLite: longest wait for the database's write lock (`0`: do not wait)",
    )
    # Kept open: a worker serves 16+ requests at once, each holding one connection; overflow
    # connections are opened and closed per use, which costs a busy worker (the profile).
    pool_size: int = setting(
        "DB_POOL_SIZE",
        20,
        "connections kept open per process (an API request holds one for its whole duration)",
        minimum=1,
    )
    max_overflow: int = setting(
        "DB_POOL_MAX_OVERFLOW", 10, "extra connections allowed under load, per process"
    )


UNBOUNDED = DatabaseBounds(
    statement_timeout_ms=0,
    lock_timeout_ms=0,
    idle_in_transaction_timeout_ms=0,
    connect_timeout_seconds=10,
    pool_timeout_ms=30000,
    sqlite_busy_timeout_ms=30000,
)


def group(cls: type[T]) -> T:
    """A field holding a group of settings (its own fields are declared with :func:`setting`)."""
    return field(default_factory=cls, metadata={"group": cls})


@dataclass(frozen=True)
class Settings:
    environment: str = setting(
        "ENV", "development", "`production` makes the secrets below required"
    )
    # (`setting` and `group` return dataclass fields, which ruff's RUF009 does not know)
    var_dir: Path = setting(  # noqa: RUF009
        "VAR_DIR",
        PROJECT_ROOT / "var",
        "where the embedded database and the development secrets live",
        shown_default="`var/`",
    )
    database_url: str = setting(  # the app's (runtime) role
        "DATABASE_URL",
        "",
        "the app's (runtime) role: `sqlite+aiosqlite:///PATH` or "
        "`postgresql+psycopg://user:pw@host/db`; required in production",
        prefixes=DATABASE_URL_PREFIXES,
        shown_default="`sqlite+aiosqlite:///var/portal.sqlite3`",
    )
    migration_database_url: str = setting(  # the schema owner's; empty: database_url
        "MIGRATION_DATABASE_URL",
        "",
        "the role that owns the schema: `portal db upgrade`/`downgrade` run as it; the same "
        "kind of database as `PORTAL_DATABASE_URL`",
        prefixes=DATABASE_URL_PREFIXES,
        shown_default="`PORTAL_DATABASE_URL`",
    )
    database_echo: bool = setting(
        "DATABASE_ECHO", False, "log every SQL statement (SQLAlchemy's echo)"
    )
    database_bounds: DatabaseBounds = group(DatabaseBounds)  # noqa: RUF009
    request_timeout_ms: int = setting(
        "REQUEST_TIMEOUT_MS",
        10000,
        "a request that has not begun its answer by then is cancelled with 503 (`0`: no bound)",
    )
    readiness_timeout_ms: int = setting(
        "READINESS_TIMEOUT_MS", 1000, "bound of the readiness check (`/health/ready`)", minimum=1
    )
    jwt_algorithm: str = setting(
        "JWT_ALGORITHM",
        "HS256",
        "the algorithm of the API's bearer tokens",
        choices=SUPPORTED_JWT_ALGORITHMS,
        upper=True,
    )
    jwt_secret: str = setting(
        "JWT_SECRET",
        "",
        "shared secret for HS* tokens, at least 32 characters; required in production",
        shown_default="`var/jwt-secret` (written by `portal db upgrade`)",
        from_file=True,
    )
    jwt_public_key: str | None = setting(
        "JWT_PUBLIC_KEY",
        None,
        "PEM public key for RS*/ES* tokens from the platform's identity provider",
        from_file=True,
    )
    jwt_private_key: str | None = setting(
        "JWT_PRIVATE_KEY", None, "only for `portal token` with RS*/ES*", from_file=True
    )
    jwt_audience: str | None = setting(
        "JWT_AUDIENCE", None, "when set, tokens must carry it (`aud`)"
    )
    jwt_issuer: str | None = setting("JWT_ISSUER", None, "when set, tokens must carry it (`iss`)")
    jwt_default_ttl_seconds: int = setting(
        "JWT_TTL_SECONDS", 3600, "lifetime of tokens made by `portal token`", minimum=1
    )
    session_secret: str = setting(
        "SESSION_SECRET",
        "",
        "signs staff sessions and email tracking links; required in production",
        shown_default="`var/session-secret` (written by `portal db upgrade`)",
        from_file=True,
    )
    base_url: str = setting(
        "BASE_URL",
        DEFAULT_BASE_URL,
        "this service's public address (the email open-tracking link)",
        strip_trailing_slash=True,
    )
    thread_url_template: str = setting(
        "THREAD_URL",
        DEFAULT_BASE_URL + THREAD_PATH,
        "where a notification email links: the platform's page for a thread",
        must_contain="{thread_id}",
        shown_default="`{PORTAL_BASE_URL}/threads/{thread_id}`",
    )
    smtp: SmtpSettings = group(SmtpSettings)  # noqa: RUF009
    rate_limit_messages: int = setting(
        "RATE_LIMIT_MESSAGES", 10, "messages a sender may send per window", minimum=1
    )
    rate_limit_window_seconds: int = setting(
        "RATE_LIMIT_WINDOW_SECONDS", 24 * 3600, "the rolling window, in seconds", minimum=1
    )
    offline_after_seconds: int = setting(
        "OFFLINE_AFTER_SECONDS", 300, "inactivity after which a recipient gets an email"
    )
    email_max_attempts: int = setting(
        "EMAIL_MAX_ATTEMPTS",
        6,
        "delivery attempts before a notification is marked failed",
        minimum=1,
    )
    email_backoff_base_seconds: int = setting(
        "EMAIL_BACKOFF_BASE_SECONDS", 30, "first wait of the capped exponential backoff"
    )
    email_backoff_max_seconds: int = setting(
        "EMAIL_BACKOFF_MAX_SECONDS", 3600, "longest wait of the capped exponential backoff"
    )
    email_worker_in_serve: bool = setting(
        "EMAIL_WORKER_IN_SERVE",
        True,
        "deliver email inside `portal serve`; `false` when `portal worker` runs",
    )
    email_poll_seconds: float = setting(
        "EMAIL_POLL_MILLISECONDS",
        5.0,
        "how often the delivery loop looks for due email, in milliseconds",
        kind="milliseconds_as_seconds",
        minimum=10,
        shown_default="`5000`",
    )
    retention_days: int = setting(
        "RETENTION_DAYS",
        365,
        "retention period for the compliance purge; less than 365 is refused (29 CFR 1602.14)",
        minimum=1,
    )
    appeal_window_months: int = setting(
        "APPEAL_WINDOW_MONTHS",
        6,
        "how long after being told of a moderation decision its people may appeal it "
        "(DSA Art. 20: never less than 6)",
        minimum=6,
    )
    queue_target_hours: int = setting(
        "QUEUE_TARGET_HOURS",
        24,
        "how long a reported item may wait in the moderation queue before it is marked overdue",
        minimum=1,
    )
    queue_urgent_target_hours: int = setting(
        "QUEUE_URGENT_TARGET_HOURS",
        1,
        "the same for an item reported for harassment or threats",
        minimum=1,
    )
    retention_allow_short: bool = setting(
        "RETENTION_ALLOW_SHORT", False, "allows a retention period under 365 days: for tests only"
    )
    audit_signing_key: str | None = setting(  # PEM of an Ed25519 private key
        "AUDIT_SIGNING_KEY",
        None,
        "PEM Ed25519 private key; every JSON audit report and every checkpoint is signed with "
        "it; required in production",
        from_file=True,
    )
    audit_checkpoint_dir: Path | None = setting(  # noqa: RUF009
        # Not required to exist yet: a directory mounted from elsewhere may come and go, and
        # the worker says so each time it cannot write there.
        "AUDIT_CHECKPOINT_DIR",
        None,
        "where `portal worker` (and `portal serve` running the worker) writes signed checkpoints "
        "of every chain's head; unset: none (needs the signing key too). Mount it from outside "
        "the database host",
        kind="path",
    )
    audit_checkpoint_minutes: int = setting(
        "AUDIT_CHECKPOINT_MINUTES", 60, "how often a checkpoint is written", minimum=1
    )
    # Who runs a console command that changes or exports something (a staff email); ``--as``
    # overrides it. Required in production.
    operator: str | None = setting(
        "OPERATOR",
        None,
        "the staff email console commands act as when `--as` is not given; required (one or "
        "the other) in production",
    )
    # A line per request costs a few percent of a busy worker; production's proxy logs them.
    access_log: bool = setting(
        "ACCESS_LOG",
        True,
        "`portal serve` logs a line per request (uvicorn's access log)",
        shown_default="`false` in production, else `true`",
    )
    # Peers whose X-Forwarded-For is believed (a reverse proxy in front of the service).
    # (IP networks as text: settings are plain values, and reports encode them)
    trusted_proxies: tuple[str, ...] = setting(
        "TRUSTED_PROXIES",
        (),
        "reverse proxies whose `X-Forwarded-For`/`-Proto` is believed (the client is the "
        "right-most forwarded address that is not a trusted proxy); set `127.0.0.1` behind a "
        "proxy on the same host",
        kind="networks",
        shown_default="none",
    )
    # The Host header values answered; any other host gets 400 (SQLAdmin builds URLs from it).
    allowed_hosts: tuple[str, ...] = setting(
        "ALLOWED_HOSTS",
        LOCAL_HOSTS,
        "the host names the service answers; any other `Host` is a 400 (`/health*` excepted, "
        "for probes by pod IP)",
        kind="hosts",
        shown_default="`127.0.0.1`, `localhost` and the host of `PORTAL_BASE_URL`",
    )
    # Prometheus scrapes /metrics with this bearer token (issue 20); unset, /metrics is a 404.
    metrics_token: str | None = setting(
        "METRICS_TOKEN",
        None,
        "the bearer token `/metrics` requires (Prometheus' `authorization: credentials`); unset: "
        "`/metrics` answers 404. `portal serve` keeps its workers' metrics in "
        "`PROMETHEUS_MULTIPROC_DIR` (default `var/metrics/`, emptied at start)",
        from_file=True,
    )
    retaliation_watch_days: int = setting(
        "RETALIATION_WATCH_DAYS",
        180,
        "how long after a candidate's discrimination or harassment report (or its being upheld) "
        "the employer's adverse actions towards that candidate go to compliance (Title VII "
        "§704(a))",
        minimum=1,
    )
    # Attachments (issue 19): uploaded files, their store and their virus scanner.
    attachment_max_file_bytes: int = setting(
        "ATTACHMENT_MAX_FILE_BYTES",
        25_000_000,
        "largest uploaded file, in bytes (a message's files together: at most 25,000,000)",
        minimum=1,
    )
    storage_url: str | None = setting(
        "STORAGE_URL",
        None,
        "an S3-compatible store's endpoint (`https://s3.eu-west-1.amazonaws.com`, a MinIO or "
        "Ceph address); unset: files under `PORTAL_VAR_DIR/attachments`",
        prefixes=("http://", "https://"),
        strip_trailing_slash=True,
    )
    storage_bucket: str = setting(
        "STORAGE_BUCKET", "portal-attachments", "the S3 bucket (it must exist)", one_line=True
    )
    storage_region: str = setting(
        "STORAGE_REGION", "us-east-1", "the S3 region (signs requests)", one_line=True
    )
    storage_access_key_id: str | None = setting(
        "STORAGE_ACCESS_KEY_ID",
        None,
        "S3 access key id; unset: boto3's own chain (environment, instance role)",
        one_line=True,
    )
    storage_secret_access_key: str | None = setting(
        "STORAGE_SECRET_ACCESS_KEY", None, "S3 secret access key", from_file=True
    )
    storage_presign_seconds: int = setting(
        "STORAGE_PRESIGN_SECONDS",
        0,
        "S3 only: a download answers 303 to a presigned URL valid this many seconds (at most "
        "60); `0`: the app streams the file itself",
    )
    clamd_url: str | None = setting(
        "CLAMD_URL",
        None,
        "ClamAV's clamd, scanning every upload (INSTREAM): `tcp://HOST:PORT` or "
        "`unix:///PATH`; unset: files are accepted after type sniffing, unscanned",
        prefixes=("tcp://", "unix://"),
        one_line=True,
    )
    clamd_timeout_seconds: int = setting(
        "CLAMD_TIMEOUT_SECONDS", 60, "longest wait for clamd's verdict on one file", minimum=1
    )
    allow_unscanned: bool = setting(
        "ALLOW_UNSCANNED",
        False,
        "lets production run without `PORTAL_CLAMD_URL` (uploads are then never scanned)",
    )
    # Real-time events (issue 19): GET /api/v1/events and /mod/events.
    redis_url: str | None = setting(
        "REDIS_URL",
        None,
        "Redis for real-time events across processes (fan-out, resume history, presence); "
        "unset: in memory, for one process",
        prefixes=("redis://", "rediss://", "unix://"),
    )
    events_redis_prefix: str = setting(
        "EVENTS_REDIS_PREFIX", "portal:", "prefix of the event keys in Redis", one_line=True
    )
    events_keepalive_seconds: float = setting(
        "EVENTS_KEEPALIVE_MILLISECONDS",
        15.0,
        "an event stream's keep-alive comment, in milliseconds (it also renews the stream's "
        "presence)",
        kind="milliseconds_as_seconds",
        minimum=10,
        shown_default="`15000`",
    )
    events_max_streams_per_user: int = setting(
        "EVENTS_MAX_STREAMS_PER_USER",
        5,
        "event streams one user may hold open at once (across processes with Redis); more: 429",
        minimum=1,
    )
    events_history: int = setting(
        "EVENTS_HISTORY",
        1000,
        "events kept per user for a client that resumes with `Last-Event-ID` (about, in Redis)",
        minimum=1,
    )
    events_history_hours: int = setting(
        "EVENTS_HISTORY_HOURS",
        24,
        "how long a user's events are kept after the last one",
        minimum=1,
    )
    events_backlog: int = setting(
        "EVENTS_BACKLOG",
        200,
        "live events waiting for one slow stream (a newer `unread.changed` replaces an older); "
        "past it the stream is closed and the client resumes",
        minimum=1,
    )
    events_ticket_seconds: int = setting(
        "EVENTS_TICKET_SECONDS",
        60,
        "lifetime of a ticket from `POST /api/v1/events/ticket` (for EventSource, which cannot "
        "send a bearer token)",
        minimum=1,
    )
    # Development secrets made up in memory by this load (no file under var_dir holds them yet):
    # `write_development_secrets` keeps them. Not a setting.
    unsaved_secrets: tuple[str, ...] = ()

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


def declarations(cls: type[Any] = Settings) -> Iterator[Declared]:
    """Every setting, in declaration order (groups in place)."""
    for item in dataclasses.fields(cls):
        if "setting" in item.metadata:
            yield item.metadata["setting"]
        elif "group" in item.metadata:
            yield from declarations(item.metadata["group"])


def _read(cls: type[T]) -> tuple[T, set[str]]:
    """An instance of ``cls`` with every declared field read from the environment, and the names
    of the fields whose variable was set."""
    values: dict[str, Any] = {}
    given: set[str] = set()
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        if "setting" in item.metadata:
            declared: Declared = item.metadata["setting"]
            raw = declared.raw()
            values[item.name] = declared.default if raw is None else declared.parse(raw)
            if raw is not None:
                given.add(item.name)
        elif "group" in item.metadata:
            values[item.name], _ = _read(item.metadata["group"])
    return cls(**values), given


def load_settings() -> Settings:
    """The settings from the environment, checked; writes nothing."""
    loaded, given = _read(Settings)
    production = loaded.environment == "production"
    var_dir = loaded.var_dir.resolve()
    derived: dict[str, Any] = {"var_dir": var_dir}

    database_url = loaded.database_url
    if "database_url" not in given:
        if production:
            raise SettingsError("PORTAL_DATABASE_URL is required when PORTAL_ENV=production")
        database_url = derived["database_url"] = f"sqlite+aiosqlite:///{var_dir / 'portal.sqlite3'}"
    migration_url = loaded.migration_database_url
    if migration_url and migration_url.split(":", 1)[0] != database_url.split(":", 1)[0]:
        raise SettingsError(
            "PORTAL_MIGRATION_DATABASE_URL and PORTAL_DATABASE_URL must name the same kind "
            "of database"
        )
    if loaded.retention_days < MINIMUM_RETENTION_DAYS and not loaded.retention_allow_short:
        raise SettingsError(
            f"PORTAL_RETENTION_DAYS must be at least {MINIMUM_RETENTION_DAYS} (29 CFR 1602.14 "
            f"requires one year), got {loaded.retention_days}; PORTAL_RETENTION_ALLOW_SHORT=1 "
            "allows less, for tests only"
        )

    unsaved: list[str] = []
    if loaded.jwt_algorithm.startswith("HS"):
        if "jwt_secret" not in given:
            if production:
                raise SettingsError("PORTAL_JWT_SECRET is required when PORTAL_ENV=production")
            derived["jwt_secret"] = _development_secret(var_dir, "jwt_secret", unsaved)
        elif len(loaded.jwt_secret) < 32:
            raise SettingsError("PORTAL_JWT_SECRET must be at least 32 characters")
    elif loaded.jwt_public_key is None:
        raise SettingsError(
            f"PORTAL_JWT_PUBLIC_KEY (or _FILE) is required for {loaded.jwt_algorithm}"
        )
    if "session_secret" not in given:
        if production:
            raise SettingsError("PORTAL_SESSION_SECRET is required when PORTAL_ENV=production")
        derived["session_secret"] = _development_secret(var_dir, "session_secret", unsaved)
    derived["unsaved_secrets"] = tuple(unsaved)

    if "thread_url_template" not in given:
        derived["thread_url_template"] = loaded.base_url + THREAD_PATH
    if "allowed_hosts" not in given:
        derived["allowed_hosts"] = _default_hosts(loaded.base_url)
    if "access_log" not in given:
        derived["access_log"] = not production

    if loaded.audit_signing_key is None and production:
        # An unsigned export proves nothing to its recipient: anyone can recompute its hashes.
        raise SettingsError(
            "PORTAL_AUDIT_SIGNING_KEY (or _FILE) is required when PORTAL_ENV=production"
        )
    if loaded.audit_signing_key is not None:
        from portal.services.compliance.signing import SigningKeyError, load_private_key

        try:
            load_private_key(loaded.audit_signing_key)
        except SigningKeyError as exc:
            raise SettingsError(f"PORTAL_AUDIT_SIGNING_KEY: {exc}") from None

    if loaded.storage_presign_seconds > 60:
        raise SettingsError(
            "PORTAL_STORAGE_PRESIGN_SECONDS must be at most 60, got "
            f"{loaded.storage_presign_seconds}"
        )
    if production and loaded.clamd_url is None and not loaded.allow_unscanned:
        # An unscanned upload reaches the other party as it was sent.
        raise SettingsError(
            "PORTAL_CLAMD_URL is required when PORTAL_ENV=production (uploads are scanned by "
            "ClamAV's clamd); PORTAL_ALLOW_UNSCANNED=1 runs without a scanner"
        )

    return dataclasses.replace(loaded, **derived)


def _development_secret(var_dir: Path, name: str, unsaved: list[str]) -> str:
    """The secret kept under var/ by `portal db upgrade`, or a new one for this process only."""
    path = var_dir / DEVELOPMENT_SECRET_FILES[name]
    if path.exists():
        return path.read_text().strip()
    unsaved.append(name)
    return secrets.token_urlsafe(48)


def make_database_directory(settings: Settings) -> None:
    """The directory of a SQLite database file, made explicitly (``portal db upgrade``)."""
    if settings.is_sqlite:
        database = settings.database_url.split(":///", 1)[-1]
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)


def write_development_secrets(settings: Settings) -> list[Path]:
    """Keeps the development secrets this process made up under var/, made explicitly (``portal
    db upgrade``), so that every later process (and every worker) signs with the same ones.
    Returns the files written."""
    written = []
    for name in settings.unsaved_secrets:
        path = settings.var_dir / DEVELOPMENT_SECRET_FILES[name]
        if path.exists():  # another process wrote it meanwhile
            continue
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(getattr(settings, name) + "\n")
        path.chmod(0o600)
        written.append(path)
    return written


def _default_hosts(base_url: str) -> tuple[str, ...]:
    base_host = (urlsplit(base_url).hostname or "").lower()
    return tuple(dict.fromkeys([*LOCAL_HOSTS, base_host] if base_host else LOCAL_HOSTS))


def settings_table_markdown() -> str:
    """The table of settings in ``docs/operations.md``, generated from the declarations."""
    lines = ["| variable | default | meaning | accepted |", "|---|---|---|---|"]
    for declared in declarations():
        variable = f"`{declared.variable}`" + (" / `_FILE`" if declared.from_file else "")
        default = declared.shown_default or _shown(declared.default)
        cells = [variable, default, declared.help, declared.rule() or "text"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _shown(value: Any) -> str:
    if value is None or value == "" or value == ():
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, tuple):
        return ", ".join(f"`{item}`" for item in value)
    return f"`{value}`"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
