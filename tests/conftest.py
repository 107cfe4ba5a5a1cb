"""Test harness: every data test gets a freshly migrated database of its own, on SQLite and on
PostgreSQL.

The migrations run once per backend into a template (a SQLite file, a PostgreSQL template
database); each test then gets a copy, so tests are isolated and the schema always comes from the
migrations, never from ``create_all``. On PostgreSQL the copies are recycled (``PostgresPool``):
a test's database is emptied back to the template's rows for the next test, unless the test
changed its schema, grants or settings, in which case it is dropped and another copy is made.
"""

from __future__ import annotations

import gc
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal import migrate, passwords
from portal.database import create_engine, create_sessionmaker
from portal.settings import Settings, SmtpSettings
from server.app import create_app, database_state, readiness_engine_for

POSTGRES_URL = os.environ.get(
    "PORTAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("PORTAL_REQUIRE_POSTGRES") == "1"
# The app's role in tests on PostgreSQL; POSTGRES_URL's user (a superuser) owns the schema.
RUNTIME_ROLE = os.environ.get("PORTAL_TEST_RUNTIME_ROLE", "portal_app_test")
TEST_JWT_SECRET = "test-secret-" + "x" * 64
BACKENDS = ["sqlite", "postgres"]
T = TypeVar("T")

# Hypothesis: CI (CI=true) runs every property with its full number of examples; elsewhere a
# fifth of them, so that a local `make test` stays quick. A test names its full count with
# ``examples(n)``; properties that name none get Hypothesis's default (100) or 20.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
hypothesis_settings.register_profile("ci", print_blob=True)
hypothesis_settings.register_profile("dev", max_examples=20)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if IN_CI else "dev"))


# Staff passwords are hashed with argon2id's cheapest parameters (about 0.1 ms instead of 100 ms
# each): a test that needs the real cost (tests/admin/test_sign_in_attacks.py) hashes with
# PasswordHasher() itself.
passwords.use_cheap_hashing()

# The collector in the test processes: measured over tests/admin and tests/api on SQLite, the
# default thresholds (700, 10, 10) spent 14% of the CPU in 7,400 collections (11 s of 14 in
# full ones, each walking every long-lived object: modules, the apps, caches); these and a
# freeze after collection cut the run's CPU by a sixth. Cycles are still collected, only
# later; tests that measure memory measure under the defaults (``default_collector``).
DEFAULT_GC_THRESHOLDS = gc.get_threshold()
gc.set_threshold(50_000, 50, 1_000)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()


@contextmanager
def default_collector() -> Iterator[None]:
    """Python's own collector thresholds, as the app runs with them (for memory measurements)."""
    tuned = gc.get_threshold()
    gc.set_threshold(*DEFAULT_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*tuned)


# A test that never touches the database checks the same thing on both backends: it runs once.
no_database = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def examples(full: int) -> int:
    """A property's number of examples: ``full`` in CI, a fifth of it (at least 5) elsewhere."""
    return full if IN_CI else max(5, full // 5)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


def as_runtime_role(owner_url: str) -> str:
    """The same database, connected as the app's runtime role (trust auth: no password)."""
    return (
        make_url(owner_url)
        .set(username=RUNTIME_ROLE, password=None)
        .render_as_string(hide_password=False)
    )


def _postgres_admin() -> psycopg.Connection:
    try:
        return psycopg.connect(_libpq(POSTGRES_URL), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at {POSTGRES_URL} is not reachable ({exc.__class__.__name__})"
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason}, and PORTAL_REQUIRE_POSTGRES=1 requires it", pytrace=False)
        pytest.skip(reason)


def _in_own_thread(call: Callable[[], T]) -> T:
    """Runs ``call`` in a thread with no event loop: migrations use ``asyncio.run``, which fails
    where one is running (as Playwright's sync API leaves one, when a browser test is the first
    to ask for a template)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(call).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    _in_own_thread(lambda: migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    name = f"portal_template_{os.getpid()}"
    with _postgres_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    owner_url = _with_database(POSTGRES_URL, name)
    # As `portal db upgrade` does: migrate as the owner, then create and grant the runtime role.
    _in_own_thread(lambda: migrate.upgrade_database(owner_url, as_runtime_role(owner_url)))
    yield name
    with _postgres_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_from_template(admin: psycopg.Connection, name: str, template_name: str) -> None:
    """A copy of the migrated template. PostgreSQL 15's default strategy (WAL_LOG) copies it
    block by block in tens of milliseconds, where FILE_COPY forces two checkpoints (0.3 to 2 s
    here). A test's commits need not reach the disk (``synchronous_commit = off``: no fsync
    wait, about 4 ms a commit on this machine; visibility and locking are unchanged)."""
    admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')


def fresh_postgres_database(dropper: ThreadPoolExecutor) -> Iterator[str]:
    """An empty PostgreSQL database (no schema), dropped afterwards (by ``dropper``)."""
    name = f"portal_empty_{uuid.uuid4().hex[:12]}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(POSTGRES_URL, name)
    finally:
        dropper.submit(_drop_database, name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(owner_database_url: str, backend: str) -> str:
    """A freshly migrated database for this test alone, as the app connects to it: on
    PostgreSQL as the runtime role, which owns nothing and has only the declared grants."""
    return owner_database_url if backend == "sqlite" else as_runtime_role(owner_database_url)


@pytest.fixture
def owner_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """The test's database as the role that owns the schema and runs the migrations: tests
    that play an insider tamper through it. On SQLite (no roles) it is ``database_url``."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "portal.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    pool: PostgresPool = request.getfixturevalue("postgres_pool")
    name = pool.acquire()
    try:
        yield _with_database(POSTGRES_URL, name)
    finally:
        pool.release(name)


# What a test could change in its database besides rows: relations, columns, defaults,
# constraints, indexes, triggers (and whether they are enabled), functions, policies, grants,
# owners, the database's own settings. Equal before and after a test: only rows changed.
_SCHEMA_FINGERPRINT = """
WITH ns AS (
    SELECT oid FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'
), rel AS (SELECT oid FROM pg_class WHERE relnamespace IN (SELECT oid FROM ns))
SELECT md5(string_agg(line, E'\\n' ORDER BY line)) FROM (
    SELECT concat_ws(':', 'n', nspname, nspowner::regrole, nspacl) FROM pg_namespace
    WHERE oid IN (SELECT oid FROM ns)
    UNION ALL
    SELECT concat_ws(':', 'c', oid::regclass, relkind, relowner::regrole, relacl, reloptions,
                     relpersistence, relrowsecurity, relforcerowsecurity, relreplident)
    FROM pg_class WHERE oid IN (SELECT oid FROM rel)
    UNION ALL
    SELECT concat_ws(':', 'a', a.attrelid::regclass, a.attname, format_type(a.atttypid,
                     a.atttypmod), a.attnotnull, a.attidentity, a.attgenerated, a.attacl,
                     pg_get_expr(d.adbin, d.adrelid))
    FROM pg_attribute a LEFT JOIN pg_attrdef d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum)
    WHERE a.attrelid IN (SELECT oid FROM rel) AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT concat_ws(':', 'k', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace IN (SELECT oid FROM ns)
    UNION ALL
    SELECT concat_ws(':', 'i', pg_get_indexdef(indexrelid)) FROM pg_index
    WHERE indrelid IN (SELECT oid FROM rel)
    UNION ALL
    SELECT concat_ws(':', 't', tgrelid::regclass, tgname, tgenabled, pg_get_triggerdef(oid))
    FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM rel)
    UNION ALL
    SELECT concat_ws(':', 'r', ev_class::regclass, rulename, ev_enabled, md5(ev_action))
    FROM pg_rewrite WHERE ev_class IN (SELECT oid FROM rel)
    UNION ALL
    SELECT concat_ws(':', 'p', polrelid::regclass, polname, polcmd, polpermissive, polroles,
                     pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid))
    FROM pg_policy WHERE polrelid IN (SELECT oid FROM rel)
    UNION ALL
    SELECT concat_ws(':', 'f', oid::regprocedure, proowner::regrole, proacl, prosecdef,
                     proconfig, md5(prosrc))
    FROM pg_proc WHERE pronamespace IN (SELECT oid FROM ns)
    UNION ALL
    SELECT concat_ws(':', 'y', oid::regtype, typowner::regrole, typacl) FROM pg_type
    WHERE typnamespace IN (SELECT oid FROM ns) AND typrelid = 0
    UNION ALL
    SELECT concat_ws(':', 'e', enumtypid::regtype, enumlabel, enumsortorder) FROM pg_enum
    UNION ALL
    SELECT concat_ws(':', 'x', extname, extversion) FROM pg_extension
    UNION ALL
    SELECT concat_ws(':', 'v', evtname, evtevent, evtenabled) FROM pg_event_trigger
    UNION ALL
    SELECT concat_ws(':', 'g', defaclrole::regrole, defaclnamespace, defaclobjtype, defaclacl)
    FROM pg_default_acl
    UNION ALL
    SELECT concat_ws(':', 'd', datdba::regrole, datacl, datconnlimit, datallowconn)
    FROM pg_database WHERE datname = current_database()
    UNION ALL
    SELECT concat_ws(':', 's', setrole, setconfig) FROM pg_db_role_setting
    WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
) AS catalog(line)
"""

_USER_TABLES = """
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY 1
"""


class PostgresPool:
    """This process's copies of the PostgreSQL template, recycled between tests.

    Making a copy for every test (``CREATE DATABASE ... TEMPLATE``, then a ``DROP DATABASE``
    that forces a checkpoint) cost about 0.2 s of setup and more of the server's time and disk
    per test; emptying the rows a test left costs a few milliseconds. A copy goes back to the
    pool only when its catalog (``_SCHEMA_FINGERPRINT``) is as it was made — a test that dropped
    a trigger, changed a grant or a setting leaves a copy that is dropped instead — and no
    connection to it outlives the test (they are ended first, as DROP ... WITH (FORCE) does).
    Emptying deletes every row with triggers off (``session_replication_role = replica``:
    the append-only and hold triggers), vacuums the tables back to no pages (a copy that keeps
    a page is dropped instead) and copies back the rows the
    migrations wrote (``alembic_version``); a copy that has grown past ``MAX_BYTES`` (the dead
    rows of big tests) is replaced by a new one, so tests see a database like a fresh copy."""

    MAX_BYTES = 32 * 1024 * 1024

    def __init__(self, template: str, dropper: ThreadPoolExecutor) -> None:
        self.template = template
        self.dropper = dropper
        self.idle: list[str] = []
        self.fingerprints: dict[str, str] = {}
        with psycopg.connect(_libpq(_with_database(POSTGRES_URL, template))) as connection:
            self.tables = [row[0] for row in connection.execute(_USER_TABLES)]
            self._with_pages = " UNION ALL ".join(
                f"SELECT '{table}' WHERE pg_relation_size('{table}') > 0" for table in self.tables
            )
            self.seed: dict[str, bytes] = {}
            for table in self.tables:
                if connection.execute(f"SELECT EXISTS (SELECT FROM {table})").fetchone() != (
                    False,
                ):
                    with connection.cursor().copy(f"COPY {table} TO STDOUT") as copy:
                        self.seed[table] = b"".join(bytes(block) for block in copy)

    def acquire(self) -> str:
        if self.idle:
            return self.idle.pop()
        name = f"portal_test_{uuid.uuid4().hex[:12]}"
        with _postgres_admin() as admin:
            create_from_template(admin, name, self.template)
        with psycopg.connect(_libpq(_with_database(POSTGRES_URL, name))) as connection:
            self.fingerprints[name] = self._fingerprint(connection)
        return name

    def release(self, name: str) -> None:
        if not self._emptied(name):
            self.fingerprints.pop(name, None)
            # Dropped while the next test runs; the session waits for all drops at the end.
            self.dropper.submit(_drop_database, name)
            return
        self.idle.append(name)

    def close(self) -> None:
        for name in self.idle:
            self.dropper.submit(_drop_database, name)
        self.idle.clear()

    @staticmethod
    def _fingerprint(connection: psycopg.Connection) -> str:
        row = connection.execute(_SCHEMA_FINGERPRINT).fetchone()
        assert row is not None
        return str(row[0])

    def _emptied(self, name: str) -> bool:
        """Empties the database back to the template's rows; False if it cannot be reused."""
        url = _libpq(_with_database(POSTGRES_URL, name))
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            prepared = connection.execute(
                "SELECT EXISTS (SELECT FROM pg_prepared_xacts WHERE database = current_database())"
            ).fetchone()
            if prepared != (False,) or self._fingerprint(connection) != self.fingerprints[name]:
                return False
            size = connection.execute("SELECT pg_database_size(current_database())").fetchone()
            if size is None or size[0] > self.MAX_BYTES:
                return False
            # DELETE then VACUUM, not TRUNCATE: the same empty heaps (VACUUM gives back the
            # pages of a table it finds all dead, so rows come back in the order they are
            # written, as on a fresh copy) for a hundredth of the cost (TRUNCATE makes new
            # files for every table and index: 60 ms on a quiet machine, 300-600 ms under load).
            with connection.transaction():
                connection.execute("SET LOCAL session_replication_role = replica")
                connection.execute("; ".join(f"DELETE FROM {table}" for table in self.tables))
            # Only the tables that were written to have pages to give back.
            written = [row[0] for row in connection.execute(self._with_pages)]
            if written:
                connection.execute(f"VACUUM (PROCESS_TOAST FALSE) {', '.join(written)}")
                if connection.execute(self._with_pages).fetchone() is not None:
                    return False
            with connection.transaction():
                connection.execute("SET LOCAL session_replication_role = replica")
                for table, rows in self.seed.items():
                    with connection.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                        copy.write(rows)
        return True


@pytest.fixture(scope="session")
def postgres_pool(
    postgres_template: str, postgres_dropper: ThreadPoolExecutor
) -> Iterator[PostgresPool]:
    pool = PostgresPool(postgres_template, postgres_dropper)
    yield pool
    pool.close()


def _drop_database(name: str) -> None:
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_dropper() -> Iterator[ThreadPoolExecutor]:
    """Drops the tests' databases in the background, several at a time: PostgreSQL 15 forces
    a checkpoint for every DROP DATABASE, and drops waiting together share one (twelve drops
    took 3 to 6 s each one after another on this machine under load, 0.5 to 0.7 s eight at a
    time); one at a time they fell minutes behind the tests, which the session then waited for."""
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="drop-db") as executor:
        yield executor


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        var_dir=tmp_path,
        database_url=database_url,
        jwt_secret=TEST_JWT_SECRET,
        session_secret="test-session-" + "y" * 40,
        smtp=SmtpSettings(),
        email_worker_in_serve=False,
        # the hosts the test clients name (Litestar's, and httpx's over ASGITransport)
        allowed_hosts=("127.0.0.1", "localhost", "testserver.local", "testserver"),
    )


def settings_with(settings: Settings, **changes: object) -> Settings:
    return replace(settings, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with create_sessionmaker(engine)() as session:
        yield session


@pytest.fixture
async def owner_session(owner_database_url: str) -> AsyncIterator[AsyncSession]:
    """A session as the schema's owner (an insider with the migration credentials, or an
    administrator): on SQLite the same as ``session``'s database."""
    engine = create_engine(owner_database_url)
    async with create_sessionmaker(engine)() as session:
        yield session
    await engine.dispose()


@pytest.fixture(scope="session")
def built_apps() -> dict[str, tuple[Settings, Litestar]]:
    """The app of each backend, built once in this process (per pytest-xdist worker): building
    one registers every route, schema and panel (tens of milliseconds on a quiet machine, far
    more under load), which each of hundreds of tests did before."""
    return {}


def _same_build(one: Settings, other: Settings) -> bool:
    """Whether two settings build the same app: they differ in the database (and var dir) only,
    which the app holds in its state alone (server.app.database_state)."""
    unset = {"database_url": "", "var_dir": Path()}
    return replace(one, **unset) == replace(other, **unset)  # type: ignore[arg-type]


@pytest.fixture
async def app(
    settings: Settings,
    backend: str,
    built_apps: dict[str, tuple[Settings, Litestar]],
    request: pytest.FixtureRequest,
) -> AsyncIterator[Litestar]:
    """The app on this test's database: built once per backend and process, with the state of
    this database (engines, sessions, caches) swapped in, and a fresh SQLAdmin (which keeps the
    sessionmaker it was built with). A test that changes the app itself (registers a route)
    is marked ``own_app`` and gets one of its own."""
    engine = create_engine(
        settings.database_url, echo=settings.database_echo, bounds=settings.database_bounds
    )
    readiness_engine = readiness_engine_for(settings)
    built = None if request.node.get_closest_marker("own_app") else built_apps.get(backend)
    if built is not None and _same_build(built[0], settings):
        app = built[1]
        for key, value in database_state(settings, engine, readiness_engine).items():
            app.state[key] = value
        if "sqladmin" in app.state:
            del app.state["sqladmin"]
    else:
        app = create_app(settings, engine=engine, readiness_engine=readiness_engine)
        if not request.node.get_closest_marker("own_app"):
            built_apps.setdefault(backend, (settings, app))
    try:
        yield app
    finally:
        await engine.dispose()
        await readiness_engine.dispose()


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.fixture
def empty_database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A database with no schema at all, for migration tests."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    dropper: ThreadPoolExecutor = request.getfixturevalue("postgres_dropper")
    yield from fresh_postgres_database(dropper)


@pytest.hookimpl(tryfirst=True)
@pytest.hookimpl(trylast=True)  # after pytest's own ordering by fixture scope
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (--dist loadgroup) a browser module's tests on one backend share a
    worker, so that their module-scoped server and browser start once. Those groups, the
    longest units of work, are handed out first: the many short tests then even out the end of
    the run, instead of one worker finishing a long group while the other waits."""
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if module.startswith("tests/browser/"):
            callspec = getattr(item, "callspec", None)
            backend = callspec.params.get("live_database", "") if callspec else ""
            item.add_marker(pytest.mark.xdist_group(f"{module}:{backend}"))
    items.sort(key=lambda item: not item.nodeid.startswith("tests/browser/"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line saying how many tests ran on each backend, so a skipped PostgreSQL shows."""
    counts: dict[str, dict[str, int]] = {name: {} for name in BACKENDS}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") not in ("call", "setup"):
                continue
            if outcome == "passed" and report.when != "call":
                continue
            for name in BACKENDS:
                if f"[{name}" in report.nodeid or f"-{name}]" in report.nodeid:
                    counts[name][outcome] = counts[name].get(outcome, 0) + 1
    parts = [
        f"{name}: " + (", ".join(f"{n} {o}" for o, n in sorted(c.items())) or "none")
        for name, c in counts.items()
    ]
    terminalreporter.write_line("database backends — " + "; ".join(parts))
