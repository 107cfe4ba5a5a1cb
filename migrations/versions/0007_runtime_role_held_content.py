"""held messages' content cannot be updated; holds are lifted once; applications' last status change

The database refuses to change a held message's content (subject, body, body_format,
attachments), as it refuses to delete it or mark it purged (0005), on both backends. A legal hold
row changes once, when it is lifted, and only in its ``lifted_*`` columns: no rewriting a hold,
un-lifting it or rewriting why it was lifted, whoever asks.
``applications.status_changed_at`` records the last personnel action on an application: the
retention period runs from the later of it and the thread's last activity (29 CFR 1602.14).
Existing applications take their last update as their last status change (the later bound, so
nothing is purged earlier than the law allows).

The runtime role's grants are not a migration: ``portal db upgrade`` applies them after
migrating (portal/database_roles.py).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATETIME = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)

CONTENT_COLUMNS = ("subject", "body", "body_format", "attachments")
TRIGGER = "messages_legal_hold_content"

# As in 0005: an active hold covering content of thread :t between users :a and :b.
HOLD_MATCH = """
    h.lifted_at IS NULL AND (
        (h.scope = 'thread' AND h.thread_id = {t})
        OR (h.scope = 'user' AND h.user_id IN ({a}, {b}))
        OR (h.scope = 'requisition' AND EXISTS (
            SELECT 1 FROM applications ap
            WHERE ap.employer_id = h.employer_id AND ap.requisition_id = h.requisition_id
              AND ((ap.employer_id = {a} AND ap.candidate_id = {b})
                   OR (ap.employer_id = {b} AND ap.candidate_id = {a}))))
    )"""


HOLD_TRIGGER = "legal_holds_lift_once"
HOLD_FIXED_COLUMNS = (
    "id",
    "scope",
    "thread_id",
    "user_id",
    "employer_id",
    "requisition_id",
    "reason",
    "case_reference",
    "placed_by_type",
    "placed_by_id",
    "placed_at",
)


def _hold_rewritten(distinct: str) -> str:
    changed = " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in HOLD_FIXED_COLUMNS)
    return f"OLD.lifted_at IS NOT NULL OR NEW.lifted_at IS NULL OR {changed}"


def _content_changes(distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in CONTENT_COLUMNS)


def upgrade() -> None:
    # Added, not rebuilt: a rebuild of applications on SQLite would drop its hold trigger.
    op.add_column("applications", sa.Column("status_changed_at", DATETIME, nullable=True))
    op.execute("UPDATE applications SET status_changed_at = updated_at")

    columns = ", ".join(CONTENT_COLUMNS)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION portal_{TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE hold uuid;
            BEGIN
                hold := portal_legal_hold_for(OLD.thread_id, OLD.sender_id, OLD.recipient_id);
                IF hold IS NOT NULL THEN
                    RAISE EXCEPTION 'refused: legal hold % covers this messages row''s content', hold
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RETURN NEW;
            END $$""")
        op.execute(f"""
            CREATE TRIGGER {TRIGGER} BEFORE UPDATE OF {columns} ON messages FOR EACH ROW
            WHEN ({_content_changes("IS DISTINCT FROM")})
            EXECUTE FUNCTION portal_{TRIGGER}()""")
        op.execute(f"""
            CREATE FUNCTION portal_{HOLD_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'refused: legal hold % is only ever lifted, once', OLD.id
                    USING ERRCODE = 'integrity_constraint_violation';
            END $$""")
        op.execute(f"""
            CREATE TRIGGER {HOLD_TRIGGER} BEFORE UPDATE ON legal_holds FOR EACH ROW
            WHEN ({_hold_rewritten("IS DISTINCT FROM")})
            EXECUTE FUNCTION portal_{HOLD_TRIGGER}()""")
    else:
        match = HOLD_MATCH.format(t="OLD.thread_id", a="OLD.sender_id", b="OLD.recipient_id")
        op.execute(f"""
            CREATE TRIGGER {TRIGGER} BEFORE UPDATE OF {columns} ON messages
            WHEN ({_content_changes("IS NOT")})
              AND EXISTS (SELECT 1 FROM legal_holds h WHERE {match})
            BEGIN SELECT RAISE(ABORT, 'refused: a legal hold covers this messages row''s content'); END""")
        op.execute(f"""
            CREATE TRIGGER {HOLD_TRIGGER} BEFORE UPDATE ON legal_holds
            WHEN {_hold_rewritten("IS NOT")}
            BEGIN SELECT RAISE(ABORT, 'refused: a legal hold is only ever lifted, once'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON messages")
        op.execute(f"DROP FUNCTION IF EXISTS portal_{TRIGGER}()")
        op.execute(f"DROP TRIGGER IF EXISTS {HOLD_TRIGGER} ON legal_holds")
        op.execute(f"DROP FUNCTION IF EXISTS portal_{HOLD_TRIGGER}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
        op.execute(f"DROP TRIGGER IF EXISTS {HOLD_TRIGGER}")
    # Natively (SQLite 3.35+), not rebuilt: a rebuild on SQLite trips over the hold triggers.
    op.execute("ALTER TABLE applications DROP COLUMN status_changed_at")
