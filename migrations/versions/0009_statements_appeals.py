"""statements of reasons and appeals: policies, moderation decisions, appeals, notices on reports

``policies`` is the catalogue decisions cite, seeded with a hiring platform's rules (admins edit
them later; each edit moves the version on). ``moderation_decisions`` holds every decision about a
person with the statement of reasons sent to them; ``appeals`` the complaints against them.
``flag_reports`` gains the decision that closed each report (the reporter's outcome) and the
fields of a notice of illegal content; ``email_outbox`` says whether an email is a message's
notification or a moderation notice.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

from portal.models.base import new_id, utcnow
from portal.models.decisions import (
    APPEAL_BASES,
    APPEAL_STATUSES,
    DECISION_KINDS,
    DECISION_SOURCES,
    DSA_CATEGORIES,
    OVERTURNS,
    POLICY_GROUNDS,
)

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATETIME = DateTimeUTC(timezone=True)

# A hiring platform's rules as first seeded (admins edit them in /mod; an edit is version 2).
SEEDED_POLICIES = (
    {
        "key": "scam",
        "title": "Scams and advance-fee fraud",
        "ground": "terms_of_service",
        "ground_reference": "Terms of Service, section 4.1: fraud and scams",
        "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "explanation": (
            "The message asked for money, payment details or a fee in exchange for a job, "
            "training, equipment or an interview. Genuine employers on this platform never ask "
            "candidates to pay, and such requests are a common form of recruitment fraud."
        ),
    },
    {
        "key": "harassment",
        "title": "Harassment and threats",
        "ground": "terms_of_service",
        "ground_reference": "Terms of Service, section 4.2: respectful conduct",
        "category": "STATEMENT_CATEGORY_CYBER_VIOLENCE",
        "explanation": (
            "The message insulted, intimidated or threatened the person it was sent to. "
            "Conversations on this platform must stay professional and respectful."
        ),
    },
    {
        "key": "discrimination",
        "title": "Discrimination",
        "ground": "terms_of_service",
        "ground_reference": "Terms of Service, section 4.3: equal opportunity",
        "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        "explanation": (
            "The message treated a person differently, or asked about them, because of a "
            "protected characteristic such as sex, race, religion, age, disability, pregnancy or "
            "national origin. Hiring decisions and questions must not depend on these."
        ),
    },
    {
        "key": "spam",
        "title": "Spam and unsolicited bulk messages",
        "ground": "terms_of_service",
        "ground_reference": "Terms of Service, section 4.4: relevant messages only",
        "category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
        "explanation": (
            "The message was unsolicited, repetitive or unrelated to the application it was "
            "sent about. Messages must be about the job the conversation concerns."
        ),
    },
    {
        "key": "off_platform",
        "title": "Off-platform solicitation",
        "ground": "terms_of_service",
        "ground_reference": "Terms of Service, section 4.5: keeping conversations on the platform",
        "category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
        "explanation": (
            "The message pressed the other person to move the conversation to another service "
            "or to contact details outside the platform before it was needed for the hiring "
            "process, which removes the protections this platform gives both sides."
        ),
    },
    {
        "key": "personal_data",
        "title": "Requests for sensitive personal data",
        "ground": "terms_of_service",
        "ground_reference": "Terms of Service, section 4.6: personal data",
        "category": "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        "explanation": (
            "The message asked for personal data that a hiring process does not need at this "
            "stage, such as identity documents, bank details, passwords or a social security "
            "number."
        ),
    },
)


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    policies = op.create_table(
        "policies",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("ground", sa.String(length=32), nullable=False),
        sa.Column("ground_reference", sa.String(length=500), nullable=False),
        sa.Column("category", sa.String(length=80), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("updated_at", DATETIME, nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.CheckConstraint(_one_of("ground", POLICY_GROUNDS), name=op.f("ck_policies_ground")),
        sa.CheckConstraint(_one_of("category", DSA_CATEGORIES), name=op.f("ck_policies_category")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_policies_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policies")),
        sa.UniqueConstraint("key", name=op.f("uq_policies_key")),
    )
    op.create_table(
        "moderation_decisions",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=True),
        sa.Column("message_id", GUID(length=16), nullable=True),
        sa.Column("thread_id", GUID(length=16), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("policy_id", GUID(length=16), nullable=True),
        sa.Column("policy_version", sa.Integer(), nullable=True),
        sa.Column("policy_key", sa.String(length=64), nullable=True),
        sa.Column("policy_title", sa.String(length=200), nullable=True),
        sa.Column("ground", sa.String(length=32), nullable=True),
        sa.Column("ground_reference", sa.String(length=500), nullable=True),
        sa.Column("category", sa.String(length=80), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("public_note", sa.Text(), nullable=True),
        sa.Column("internal_note", sa.Text(), nullable=True),
        sa.Column("restricted_until", DATETIME, nullable=True),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("decided_by_id", GUID(length=16), nullable=True),
        sa.Column("appealable_until", DATETIME, nullable=True),
        sa.Column("reverses_id", GUID(length=16), nullable=True),
        sa.Column("overturned", sa.String(length=24), nullable=True),
        sa.Column("overturned_at", DATETIME, nullable=True),
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.CheckConstraint(
            _one_of("kind", DECISION_KINDS), name=op.f("ck_moderation_decisions_kind")
        ),
        sa.CheckConstraint(
            _one_of("source", DECISION_SOURCES), name=op.f("ck_moderation_decisions_source")
        ),
        sa.CheckConstraint(
            "overturned IS NULL OR " + _one_of("overturned", OVERTURNS),
            name=op.f("ck_moderation_decisions_overturned"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_moderation_decisions_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_moderation_decisions_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["message_threads.id"],
            name=op.f("fk_moderation_decisions_thread_id_message_threads"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["policies.id"],
            name=op.f("fk_moderation_decisions_policy_id_policies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["staff_users.id"],
            name=op.f("fk_moderation_decisions_decided_by_id_staff_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["moderation_decisions.id"],
            name=op.f("fk_moderation_decisions_reverses_id_moderation_decisions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_decisions")),
    )
    with op.batch_alter_table("moderation_decisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_moderation_decisions_user_id_created_at", ["user_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_moderation_decisions_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_moderation_decisions_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_moderation_decisions_reverses_id"), ["reverses_id"], unique=False
        )
    op.create_table(
        "appeals",
        sa.Column("decision_id", GUID(length=16), nullable=False),
        sa.Column("appellant_id", GUID(length=16), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("decided_by_id", GUID(length=16), nullable=True),
        sa.Column("decided_at", DATETIME, nullable=True),
        sa.Column("reasoning", sa.Text(), nullable=True),
        sa.Column("outcome_decision_id", GUID(length=16), nullable=True),
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.CheckConstraint(_one_of("basis", APPEAL_BASES), name=op.f("ck_appeals_basis")),
        sa.CheckConstraint(_one_of("status", APPEAL_STATUSES), name=op.f("ck_appeals_status")),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["moderation_decisions.id"],
            name=op.f("fk_appeals_decision_id_moderation_decisions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["appellant_id"],
            ["users.id"],
            name=op.f("fk_appeals_appellant_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["staff_users.id"],
            name=op.f("fk_appeals_decided_by_id_staff_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["outcome_decision_id"],
            ["moderation_decisions.id"],
            name=op.f("fk_appeals_outcome_decision_id_moderation_decisions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
        sa.UniqueConstraint(
            "decision_id", "appellant_id", name=op.f("uq_appeals_decision_id_appellant_id")
        ),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_appeals_status_created_at", ["status", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_appeals_appellant_id"), ["appellant_id"], unique=False)
    with op.batch_alter_table("flag_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decision_id", GUID(length=16), nullable=True))
        batch_op.add_column(sa.Column("legal_ground", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("good_faith", sa.Boolean(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_flag_reports_decision_id"), ["decision_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_flag_reports_decision_id_moderation_decisions"),
            "moderation_decisions",
            ["decision_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.add_column(
        "email_outbox",
        sa.Column("kind", sa.String(length=16), server_default="message", nullable=False),
    )

    now = utcnow()
    op.bulk_insert(
        policies,
        [
            {
                **policy,
                "id": new_id(),
                "active": True,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for policy in SEEDED_POLICIES
        ],
    )


def downgrade() -> None:
    op.execute("ALTER TABLE email_outbox DROP COLUMN kind")
    with op.batch_alter_table("flag_reports", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_flag_reports_decision_id_moderation_decisions"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_flag_reports_decision_id"))
        batch_op.drop_column("good_faith")
        batch_op.drop_column("legal_ground")
        batch_op.drop_column("decision_id")
    op.drop_table("appeals")
    op.drop_table("moderation_decisions")
    op.drop_table("policies")
