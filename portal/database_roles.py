"""The runtime role on PostgreSQL: what the app may do to each table, declared once.

Migrations run as the role that owns the schema (``PORTAL_MIGRATION_DATABASE_URL``); the app and
the worker connect as a runtime role (``PORTAL_DATABASE_URL``) that owns nothing, so it cannot
switch off a trigger, rewrite the audit log or delete a legal hold, whatever SQL it sends.
``portal db upgrade`` creates that role when it is missing and applies :data:`RUNTIME_GRANTS`
after migrating: every privilege of the role on the schema's tables and sequences is revoked and
granted again from the table, so a privilege dropped from it is taken away too.

SQLite has no roles: there the triggers alone protect the evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)

_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})


@dataclass(frozen=True)
class Grant:
    """The runtime role's privileges on one table. ``update_only`` limits UPDATE to those
    columns; ``update_except`` allows UPDATE of every column but those."""

    privileges: frozenset[str]
    update_only: tuple[str, ...] = ()
    update_except: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = self.privileges - _PRIVILEGES
        if unknown:  # TRUNCATE, REFERENCES, TRIGGER: never for the runtime role
            raise ValueError(f"not a runtime privilege: {', '.join(sorted(unknown))}")
        if (self.update_only or self.update_except) and "UPDATE" in self.privileges:
            raise ValueError("column-level UPDATE replaces the table-level UPDATE")


def grant(
    *privileges: str, update_only: Iterable[str] = (), update_except: Iterable[str] = ()
) -> Grant:
    return Grant(frozenset(privileges), tuple(update_only), tuple(update_except))


READ_WRITE = grant("SELECT", "INSERT", "UPDATE")

# Every table of the migrated schema, with what the app does to it. A table missing here is
# refused by tests/portal/test_database_roles.py; a new table is one line.
RUNTIME_GRANTS: dict[str, Grant] = {
    "alembic_version": grant(),  # the migrations' own: the app never reads or writes it
    "applications": READ_WRITE,
    # An appeal is decided once; what it said and who made it never change.
    "appeals": grant(
        "SELECT",
        "INSERT",
        update_only=("status", "decided_by_id", "decided_at", "reasoning", "outcome_decision_id"),
    ),
    # An upload's facts never change; its scan verdict, its message and its purge are set once.
    "attachments": grant(
        "SELECT",
        "INSERT",
        update_only=("message_id", "scan_status", "scan_signature", "scanned_at", "purged_at"),
    ),
    "audit_chain_heads": grant("SELECT", "INSERT", update_only=("position", "hash")),
    "audit_events": grant("SELECT", "INSERT"),  # append-only
    "email_outbox": READ_WRITE,
    "flag_reports": READ_WRITE,
    "idempotency_keys": grant("SELECT", "INSERT", "UPDATE", "DELETE"),  # expired keys go
    "inbox_totals": READ_WRITE,  # kept by every write to a thread (services.inbox_totals)
    "legal_holds": grant(
        "SELECT",
        "INSERT",
        # An EEOC charge hold's final disposition is recorded once known (migration 0013).
        update_only=(
            "lifted_at",
            "lifted_by_type",
            "lifted_by_id",
            "lifted_reason",
            "final_disposition_on",
        ),
    ),
    # Unblocking deletes the row; blocking again locks it (FOR UPDATE needs UPDATE).
    "message_blocklist": grant("SELECT", "INSERT", "UPDATE", "DELETE"),
    "message_threads": READ_WRITE,
    "messages": grant(
        "SELECT",
        "INSERT",
        update_except=(
            "id",
            "thread_id",
            "sender_id",
            "recipient_id",
            "message_type",
            "created_at",
        ),
    ),
    # A statement of reasons is never rewritten; only its being overturned is added later.
    "moderation_decisions": grant("SELECT", "INSERT", update_only=("overturned", "overturned_at")),
    "moderator_notes": READ_WRITE,
    "policies": READ_WRITE,
    "queue_views": grant("SELECT", "INSERT", "UPDATE", "DELETE"),  # a moderator's own views
    "rate_limit_violations": READ_WRITE,
    # A compliance review closes an item (and releases a held counter-report); what the
    # employer did, and when, never changes. A watch is never changed at all.
    "retaliation_items": grant(
        "SELECT",
        "INSERT",
        update_only=("status", "reviewed_by_id", "reviewed_at", "review_note", "released_at"),
    ),
    "retaliation_watches": grant("SELECT", "INSERT"),
    "staff_sign_in_windows": READ_WRITE,
    "staff_users": READ_WRITE,
    "users": READ_WRITE,
}


class RuntimeRoleError(Exception):
    """The runtime role cannot be set up as asked; the message says what to do."""


@dataclass(frozen=True)
class RoleSetup:
    role: str | None
    created: bool = False
    skipped_reason: str | None = None


def _one(cursor: psycopg.Cursor[TupleRow]) -> TupleRow:
    """The row of a query that always returns one (a function call, a catalogue lookup)."""
    row = cursor.fetchone()
    if row is None:
        raise LookupError("expected a row, got none")
    return row


def libpq_url(url: str | URL) -> str:
    """A ``postgresql+psycopg://`` URL as libpq (psycopg.connect) takes it, password kept."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def setup_runtime_role(owner_url: str, runtime_url: str) -> RoleSetup:
    """Creates the role named by ``runtime_url`` if missing and applies :data:`RUNTIME_GRANTS`
    on the database ``owner_url`` (the schema owner's URL) names. Idempotent.

    Skipped when both URLs name the same role (or on SQLite): the app then runs as the owner,
    which ``skipped_reason`` says for ``portal db upgrade`` to warn about.
    """
    if not owner_url.startswith("postgresql"):
        return RoleSetup(None, skipped_reason="SQLite has no roles")
    owner, runtime = make_url(owner_url), make_url(runtime_url)
    if runtime.database != owner.database:
        raise RuntimeRoleError(
            f"PORTAL_DATABASE_URL names database {runtime.database!r} but "
            f"PORTAL_MIGRATION_DATABASE_URL names {owner.database!r}: they must be the same"
        )
    with psycopg.connect(libpq_url(owner), autocommit=False) as connection:
        (owner_role,) = _one(connection.execute("SELECT current_user"))
        role = runtime.username or owner_role
        if role == owner_role:
            reason = (
                f"the app connects as {role!r}, the role that owns the schema: it can switch off "
                "the audit log's and legal holds' protection; set PORTAL_MIGRATION_DATABASE_URL "
                "to the owner's URL and PORTAL_DATABASE_URL to a role of its own"
            )
            return RoleSetup(role, skipped_reason=reason)
        try:
            created = _ensure_role(connection, role, runtime.password)
            _refuse_powerful_role(connection, role)
            apply_grants(connection, role)
        except psycopg.Error as exc:  # e.g. the migration role does not own the tables
            problem = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RuntimeRoleError(f"granting the runtime role {role!r}: {problem}") from None
        connection.commit()
    return RoleSetup(role, created=created)


def _ensure_role(connection: psycopg.Connection, role: str, password: str | None) -> bool:
    exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if exists:
        return False
    statement = sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role))
    if password:
        statement += sql.SQL(" PASSWORD {}").format(sql.Literal(password))
    try:
        with connection.transaction():
            connection.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        raise RuntimeRoleError(
            f"the runtime role {role!r} does not exist and the migration role may not create "
            f"roles: create it (CREATE ROLE {role} LOGIN PASSWORD '…') or grant CREATEROLE"
        ) from None
    except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        return False  # another upgrade created it meanwhile
    return True


def _refuse_powerful_role(connection: psycopg.Connection, role: str) -> None:
    superuser, bypass_rls = _one(
        connection.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", (role,)
        )
    )
    if superuser or bypass_rls:
        raise RuntimeRoleError(
            f"the runtime role {role!r} is a superuser: give the app a plain role"
        )
    (member,) = _one(connection.execute("SELECT pg_has_role(%s, current_user, 'MEMBER')", (role,)))
    if member:
        raise RuntimeRoleError(
            f"the runtime role {role!r} is a member of the migration role, so it has the owner's "
            f"rights: revoke that (REVOKE <owner> FROM {role}) and run 'portal db upgrade' again"
        )
    owned = connection.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND pg_get_userbyid(c.relowner) = %s"
        " ORDER BY c.relname LIMIT 5",
        (role,),
    ).fetchall()
    if owned:
        names = ", ".join(row[0] for row in owned)
        raise RuntimeRoleError(
            f"the runtime role {role!r} owns {names}: hand them to the migration role "
            f"(REASSIGN OWNED BY {role} TO <owner>, as a superuser), then run "
            "'portal db upgrade' again"
        )


def apply_grants(connection: psycopg.Connection, role: str) -> None:
    """Revokes everything ``role`` holds on the schema's tables and sequences and grants
    :data:`RUNTIME_GRANTS`, for the tables that exist."""
    who = sql.Identifier(role)
    (schema,) = _one(connection.execute("SELECT current_schema()"))
    for kind in ("TABLES", "SEQUENCES"):
        connection.execute(
            sql.SQL("REVOKE ALL ON ALL {} IN SCHEMA {} FROM {}").format(
                sql.SQL(kind), sql.Identifier(schema), who
            )
        )
    columns: dict[str, list[str]] = {}
    for table, column in connection.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = %s ORDER BY table_name, ordinal_position",
        (schema,),
    ):
        columns.setdefault(table, []).append(column)
    undeclared = sorted(set(columns) - set(RUNTIME_GRANTS))
    if undeclared:
        log.warning(
            "no runtime grant declared for %s: the app cannot use it (portal/database_roles.py)",
            ", ".join(undeclared),
        )
    for table, declared in RUNTIME_GRANTS.items():
        if table not in columns:
            continue  # an older revision
        target = sql.Identifier(table)
        if declared.privileges:
            connection.execute(
                sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                    sql.SQL(", ").join(sql.SQL(p) for p in sorted(declared.privileges)), target, who
                )
            )
        updatable = [
            c
            for c in columns[table]
            if (declared.update_only and c in declared.update_only)
            or (declared.update_except and c not in declared.update_except)
        ]
        if updatable:
            connection.execute(
                sql.SQL("GRANT UPDATE ({}) ON TABLE {} TO {}").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in updatable), target, who
                )
            )
    # Sequences behind serial/identity columns of tables the app inserts into.
    for (sequence,) in connection.execute(
        "SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid"
        " JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace n ON n.oid = s.relnamespace"
        " WHERE s.relkind = 'S' AND n.nspname = %s AND t.relname = ANY(%s)",
        (schema, [t for t, g in RUNTIME_GRANTS.items() if "INSERT" in g.privileges]),
    ).fetchall():
        connection.execute(
            sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sql.Identifier(sequence), who)
        )
    # A role that may not grant on a table only gets a warning from PostgreSQL: check the result.
    for table, declared in RUNTIME_GRANTS.items():
        for privilege in sorted(declared.privileges) if table in columns else ():
            (held,) = _one(
                connection.execute(
                    "SELECT has_table_privilege(%s, %s, %s)",
                    (role, f"{sql.Identifier(schema).as_string(connection)}.{table}", privilege),
                )
            )
            if not held:
                raise RuntimeRoleError(
                    f"the migration role could not grant {privilege} on {table} to {role!r}: "
                    "run 'portal db upgrade' as the role that owns the schema"
                )
