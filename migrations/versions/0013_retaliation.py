"""retaliation watch and EEOC charge holds

Adds the retaliation watches (an employer watched towards a candidate after the candidate's
protected report) and the items compliance reviews (the employer's adverse actions during a
watch), and gives legal holds a basis: ``litigation`` (every hold so far) or ``eeoc_charge``
with its charge number, agency, charging party, filing date and final disposition date.

An EEOC charge hold is a requisition hold (scope ``requisition``), so the database's own hold
rules (``portal_legal_hold_for`` and the SQLite triggers of 0005 and 0007) cover it unchanged.
The columns are added, not rebuilt: a rebuild of legal_holds on SQLite trips over the triggers
that name it; SQLite takes the CHECK constraints as column constraints of the added column.

A hold row still changes only when it is lifted (0007), with one exception: a standing EEOC
charge hold's final disposition date may be recorded (or corrected) once it is known. The
charge's own facts never change.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOLD_TYPE_CHECK = "hold_type IN ('litigation', 'eeoc_charge')"
CHARGE_BASIS_CHECK = (
    "hold_type = 'litigation' OR (scope = 'requisition' AND charge_number IS NOT NULL"
    " AND charge_agency IS NOT NULL AND charging_party_id IS NOT NULL"
    " AND charge_filed_on IS NOT NULL)"
)
CHARGE_COLUMNS = (
    ("charge_number", sa.String(length=100)),
    ("charge_agency", sa.String(length=200)),
    ("charging_party_id", GUID(length=16)),
    ("charge_filed_on", sa.Date()),
    ("final_disposition_on", sa.Date()),
)


HOLD_TRIGGER = "legal_holds_lift_once"
# As in 0007: what a hold row never changes once placed.
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
CHARGE_FIXED_COLUMNS = (
    "hold_type",
    "charge_number",
    "charge_agency",
    "charging_party_id",
    "charge_filed_on",
)
LIFT_COLUMNS = ("lifted_by_type", "lifted_by_id", "lifted_reason")


def _changed(columns: Sequence[str], distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)


def _old_rule(distinct: str) -> str:
    """0007's: refused unless it lifts a standing hold and changes nothing else."""
    fixed = _changed(HOLD_FIXED_COLUMNS, distinct)
    return f"OLD.lifted_at IS NOT NULL OR NEW.lifted_at IS NULL OR {fixed}"


def _new_rule(distinct: str) -> str:
    """Refused unless it lifts a standing hold, or records a standing EEOC charge hold's final
    disposition date; the hold's and the charge's facts never change."""
    fixed = _changed((*HOLD_FIXED_COLUMNS, *CHARGE_FIXED_COLUMNS), distinct)
    not_a_disposition = (
        f"OLD.hold_type <> 'eeoc_charge' OR NEW.final_disposition_on IS NULL"
        f" OR {_changed(LIFT_COLUMNS, distinct)}"
    )
    return (
        f"OLD.lifted_at IS NOT NULL OR {fixed} OR (NEW.lifted_at IS NULL AND ({not_a_disposition}))"
    )


def _replace_hold_trigger(rule: Callable[[str], str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {HOLD_TRIGGER} ON legal_holds")
        op.execute(f"""
            CREATE TRIGGER {HOLD_TRIGGER} BEFORE UPDATE ON legal_holds FOR EACH ROW
            WHEN ({rule("IS DISTINCT FROM")})
            EXECUTE FUNCTION portal_{HOLD_TRIGGER}()""")
    else:
        op.execute(f"DROP TRIGGER {HOLD_TRIGGER}")
        op.execute(f"""
            CREATE TRIGGER {HOLD_TRIGGER} BEFORE UPDATE ON legal_holds
            WHEN {rule("IS NOT")}
            BEGIN SELECT RAISE(ABORT, 'refused: a legal hold is only ever lifted, once'); END""")


def upgrade() -> None:
    op.create_table(
        "retaliation_watches",
        sa.Column("employer_id", GUID(length=16), nullable=False),
        sa.Column("candidate_id", GUID(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("report_id", GUID(length=16), nullable=False),
        sa.Column("message_id", GUID(length=16), nullable=False),
        sa.Column("thread_id", GUID(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("reported_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("opened_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("id", GUID(length=16), nullable=False),
        sa.CheckConstraint(
            "trigger IN ('report', 'upheld')", name=op.f("ck_retaliation_watches_trigger")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retaliation_watches")),
        sa.UniqueConstraint(
            "report_id", "trigger", name=op.f("uq_retaliation_watches_report_id_trigger")
        ),
    )
    op.create_index(
        "ix_retaliation_watches_employer_id_candidate_id_expires_at",
        "retaliation_watches",
        ["employer_id", "candidate_id", "expires_at"],
    )
    op.create_table(
        "retaliation_items",
        sa.Column("watch_id", GUID(length=16), nullable=False),
        sa.Column("employer_id", GUID(length=16), nullable=False),
        sa.Column("candidate_id", GUID(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("action_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", GUID(length=16), nullable=False),
        sa.Column("days_since_report", sa.Integer(), nullable=False),
        sa.Column("held_report_id", GUID(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reviewed_by_id", GUID(length=16), nullable=True),
        sa.Column("reviewed_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("released_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("id", GUID(length=16), nullable=False),
        sa.CheckConstraint(
            "action IN ('application_rejected', 'application_withdrawn', 'blocked', "
            "'thread_deleted', 'reported')",
            name=op.f("ck_retaliation_items_action"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'reviewed')", name=op.f("ck_retaliation_items_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retaliation_items")),
    )
    op.create_index("ix_retaliation_items_watch_id", "retaliation_items", ["watch_id"])
    op.create_index(
        "ix_retaliation_items_status_action_at", "retaliation_items", ["status", "action_at"]
    )
    op.create_index(
        "ix_retaliation_items_held_report_id",
        "retaliation_items",
        ["held_report_id"],
        unique=True,
    )

    for name, type_ in CHARGE_COLUMNS:
        op.add_column("legal_holds", sa.Column(name, type_, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(
            "legal_holds",
            sa.Column(
                "hold_type", sa.String(length=16), nullable=False, server_default="litigation"
            ),
        )
        op.create_check_constraint("ck_legal_holds_hold_type", "legal_holds", HOLD_TYPE_CHECK)
        op.create_check_constraint("ck_legal_holds_charge_basis", "legal_holds", CHARGE_BASIS_CHECK)
    else:
        op.execute(
            "ALTER TABLE legal_holds ADD COLUMN hold_type VARCHAR(16) DEFAULT 'litigation'"
            f" NOT NULL CONSTRAINT ck_legal_holds_hold_type CHECK ({HOLD_TYPE_CHECK})"
            f" CONSTRAINT ck_legal_holds_charge_basis CHECK ({CHARGE_BASIS_CHECK})"
        )
    _replace_hold_trigger(_new_rule)


def downgrade() -> None:
    _replace_hold_trigger(_old_rule)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("ck_legal_holds_charge_basis", "legal_holds", type_="check")
        op.drop_constraint("ck_legal_holds_hold_type", "legal_holds", type_="check")
    # Natively (SQLite 3.35+), not rebuilt: a rebuild on SQLite trips over the hold triggers.
    op.execute("ALTER TABLE legal_holds DROP COLUMN hold_type")
    for name, _ in reversed(CHARGE_COLUMNS):
        op.execute(f"ALTER TABLE legal_holds DROP COLUMN {name}")
    op.drop_table("retaliation_items")
    op.drop_table("retaliation_watches")
