"""Least privilege on PostgreSQL: the app runs as a role that owns nothing and holds only what
portal/database_roles.py declares, so whoever has the app's credentials cannot switch the
evidence's protection off, rewrite the audit log or delete a hold; ``portal db upgrade`` (as the
owner) creates that role and grants it, idempotently. SQLite has no roles (its triggers stand)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal import migrate
from portal.audit import Actor
from portal.database import create_engine, create_sessionmaker
from portal.database_roles import RUNTIME_GRANTS, RuntimeRoleError, libpq_url
from portal.models import AuditEvent, Message
from portal.models.base import utcnow
from portal.services.compliance.holds import lift_hold, place_hold
from portal.services.compliance.integrity import check_all_chains
from portal.services.compliance.reports import stream_report
from portal.services.compliance.retention import purge_expired
from portal.services.compliance.verify import verify_export
from portal.settings import Settings, get_settings
from server.cli import main
from tests.api.helpers import auth
from tests.conftest import RUNTIME_ROLE, _postgres_admin, settings_with
from tests.portal.compliance_world import build_world

postgres_only = pytest.mark.parametrize("backend", ["postgres"])

ALL_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


async def test_every_table_of_the_migrated_schema_has_a_declared_grant(
    owner_database_url: str,
) -> None:
    """A table added by a migration without a line in RUNTIME_GRANTS fails here (the app
    could not use it on PostgreSQL), and so does a grant for a table no migration makes."""
    engine = create_engine(owner_database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert tables - set(RUNTIME_GRANTS) == set(), "declare these in portal/database_roles.py"
    assert set(RUNTIME_GRANTS) - tables == set(), "no migration makes these tables"


def test_the_declared_grants_keep_the_evidence_append_only() -> None:
    assert RUNTIME_GRANTS["audit_events"].privileges == {"SELECT", "INSERT"}
    holds = RUNTIME_GRANTS["legal_holds"]
    assert holds.privileges == {"SELECT", "INSERT"}
    assert set(holds.update_only) == {
        "lifted_at",
        "lifted_by_type",
        "lifted_by_id",
        "lifted_reason",
        # a standing EEOC charge hold's final disposition date, once known (the database's
        # lift-once trigger allows nothing else on a standing hold)
        "final_disposition_on",
    }
    assert RUNTIME_GRANTS["alembic_version"].privileges == frozenset()
    assert all("TRUNCATE" not in g.privileges for g in RUNTIME_GRANTS.values())


def _runtime_role(database_url: str) -> str:
    role = make_url(database_url).username
    assert role is not None
    return role


@postgres_only
def test_the_runtime_role_holds_exactly_the_declared_privileges(
    database_url: str, owner_database_url: str
) -> None:
    role = _runtime_role(database_url)
    with psycopg.connect(libpq_url(owner_database_url)) as owner:
        assert owner.execute("SELECT current_user").fetchone() != (role,)
        owned = owner.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = %s",
            (role,),
        ).fetchone()
        assert owned == (0,)
        for table, declared in RUNTIME_GRANTS.items():
            for privilege in ALL_PRIVILEGES:
                (held,) = owner.execute(  # type: ignore[misc]
                    "SELECT has_table_privilege(%s, %s, %s)", (role, f"public.{table}", privilege)
                ).fetchone()
                assert held == (privilege in declared.privileges), (table, privilege)
        columns = owner.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        ).fetchall()
        for table, column in columns:
            declared = RUNTIME_GRANTS[table]
            (may_update,) = owner.execute(  # type: ignore[misc]
                "SELECT has_column_privilege(%s, %s, %s, 'UPDATE')",
                (role, f"public.{table}", column),
            ).fetchone()
            expected = (
                "UPDATE" in declared.privileges
                or column in declared.update_only
                or bool(declared.update_except and column not in declared.update_except)
            )
            assert may_update == expected, (table, column)


INSIDER_ATTACKS = (
    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    "ALTER TABLE audit_events DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "UPDATE audit_events SET details = '{\"forged\": true}'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "DROP TABLE audit_events",
    "DELETE FROM legal_holds",
    "UPDATE legal_holds SET reason = 'nothing to see'",
    "UPDATE legal_holds SET scope = 'thread', thread_id = gen_random_uuid()",
    "ALTER TABLE messages DISABLE TRIGGER messages_legal_hold_content",
    "TRUNCATE messages",
    "TRUNCATE legal_holds",
    "TRUNCATE audit_chain_heads",
    "DELETE FROM audit_chain_heads",
    "UPDATE messages SET sender_id = recipient_id",
    "SELECT * FROM alembic_version",
    "UPDATE alembic_version SET version_num = '0001'",
    "DELETE FROM alembic_version",
    "INSERT INTO alembic_version VALUES ('0001')",
    "CREATE OR REPLACE FUNCTION portal_audit_append_only() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    "CREATE TABLE audit_events_copy (id int)",
    "SET session_replication_role = replica",
)


@postgres_only
async def test_the_insider_attack_is_refused_as_the_runtime_role(
    database_url: str, session: AsyncSession, settings: Settings
) -> None:
    await build_world(session, settings_with(settings, rate_limit_messages=100))
    await session.commit()
    events_before = list(await session.scalars(select(AuditEvent.hash)))
    await session.commit()
    with psycopg.connect(libpq_url(database_url)) as insider:
        for statement in INSIDER_ATTACKS:
            with pytest.raises(psycopg.errors.InsufficientPrivilege), insider.transaction():
                insider.execute(statement)
    assert list(await session.scalars(select(AuditEvent.hash))) == events_before
    assert (await check_all_chains(session)).problems == []


async def test_the_app_works_as_the_runtime_role(
    session: AsyncSession,
    engine: AsyncEngine,
    settings: Settings,
    client: AsyncTestClient[Litestar],
    database_url: str,
    backend: str,
) -> None:
    """Sending, flagging, removing, deleting, placing and lifting holds, purging and exporting,
    all through the runtime role's connection (on PostgreSQL, not the owner's)."""
    if backend == "postgres":
        assert await session.scalar(text("SELECT current_user")) == RUNTIME_ROLE
        await session.commit()
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    officer = Actor.staff(world.officer.id)
    reply = await client.post(
        "/api/v1/messages",
        json={"recipient_id": str(world.employer.id), "body": "One more thing"},
        headers=auth(settings, world.candidate.id),
    )
    assert reply.status_code == 201, reply.text
    hold = await place_hold(
        session,
        actor=officer,
        reason="second charge",
        case_reference="C-2",
        user_id=world.candidate.id,
    )
    await lift_hold(session, hold.id, actor=officer, reason="withdrawn")
    result = await purge_expired(session, 365, actor=officer, now=utcnow())
    assert result.held_threads == []  # nothing expired yet; the run is still recorded
    report = await stream_report(
        create_sessionmaker(engine), world.thread_id, "json", actor=officer, settings=settings
    )
    data = b"".join([chunk async for chunk in report.chunks])
    assert verify_export(data).events > 0
    assert (await check_all_chains(session)).problems == []
    assert await session.scalar(select(Message.is_removed).where(Message.id == world.removed.id))


@pytest.fixture
def fresh_role() -> Iterator[str]:
    role = f"portal_app_{uuid.uuid4().hex[:10]}"
    yield role
    with _postgres_admin() as admin:
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def _drop_grants(owner_url: str, role: str) -> None:
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as owner:
        owner.execute(f'DROP OWNED BY "{role}"')


def _privileges(owner_url: str, role: str) -> set[tuple[str, str]]:
    with psycopg.connect(libpq_url(owner_url)) as owner:
        return {
            (table, privilege)
            for table, privilege in owner.execute(
                "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
                " WHERE grantee = %s",
                (role,),
            )
        }


@postgres_only
def test_db_upgrade_creates_the_role_and_grants_idempotently(
    empty_database_url: str, fresh_role: str
) -> None:
    owner_url = empty_database_url
    runtime_url = (
        make_url(owner_url)
        .set(username=fresh_role, password="s3cret-pw")
        .render_as_string(hide_password=False)
    )
    try:
        first = migrate.upgrade_database(owner_url, runtime_url)
        assert (first.role, first.created, first.skipped_reason) == (fresh_role, True, None)
        granted = _privileges(owner_url, fresh_role)
        assert ("audit_events", "INSERT") in granted
        assert ("audit_events", "UPDATE") not in granted

        # A privilege granted by hand since is taken back; nothing else changes.
        with psycopg.connect(libpq_url(owner_url), autocommit=True) as owner:
            owner.execute(f'GRANT DELETE, TRUNCATE ON audit_events TO "{fresh_role}"')
            (login, password_set) = owner.execute(  # type: ignore[misc]
                "SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid WHERE rolname = %s",
                (fresh_role,),
            ).fetchone()
        assert login and password_set
        second = migrate.upgrade_database(owner_url, runtime_url)
        assert (second.created, second.skipped_reason) == (False, None)
        assert _privileges(owner_url, fresh_role) == granted

        # The runtime role can connect with the URL's password and use what it was given.
        with psycopg.connect(libpq_url(runtime_url)) as app:
            assert app.execute("SELECT count(*) FROM audit_events").fetchone() == (0,)
    finally:
        _drop_grants(owner_url, fresh_role)


@postgres_only
def test_db_upgrade_command_uses_the_owner_url_and_warns_when_the_app_is_the_owner(
    empty_database_url: str, fresh_role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime_url = make_url(empty_database_url).set(username=fresh_role).render_as_string(False)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("PORTAL_MIGRATION_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("PORTAL_DATABASE_URL", runtime_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["db", "upgrade"], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        assert f"runtime role {fresh_role}: created and granted" in result.stdout
        again = CliRunner().invoke(main, ["db", "upgrade"], catch_exceptions=False)
        assert f"runtime role {fresh_role}: granted" in again.stdout

        # One URL for both (a deployment that has not split them): it works, with a warning.
        monkeypatch.delenv("PORTAL_MIGRATION_DATABASE_URL")
        monkeypatch.setenv("PORTAL_DATABASE_URL", empty_database_url)
        get_settings.cache_clear()
        alone = CliRunner().invoke(main, ["db", "upgrade"], catch_exceptions=False)
        assert alone.exit_code == 0
        assert "owns the schema" in alone.stderr and "PORTAL_MIGRATION_DATABASE_URL" in alone.stderr
    finally:
        get_settings.cache_clear()
        _drop_grants(empty_database_url, fresh_role)


@postgres_only
@pytest.mark.parametrize(
    ("power", "refusal"),
    [("ALTER ROLE {role} SUPERUSER", "superuser"), ("GRANT postgres TO {role}", "member")],
)
def test_db_upgrade_refuses_a_runtime_role_with_the_owners_rights(
    empty_database_url: str, fresh_role: str, power: str, refusal: str
) -> None:
    runtime_url = make_url(empty_database_url).set(username=fresh_role).render_as_string(False)
    with _postgres_admin() as admin:
        admin.execute(f'CREATE ROLE "{fresh_role}" LOGIN')
        admin.execute(power.format(role=f'"{fresh_role}"'))
    with pytest.raises(RuntimeRoleError, match=refusal):
        migrate.upgrade_database(empty_database_url, runtime_url)
