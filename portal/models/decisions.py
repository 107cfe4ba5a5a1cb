"""What a moderation decision tells the people it touches: the policies decisions cite, each
decision with its statement of reasons, and the appeals against decisions.

A decision row is written in the transaction of the decision it records (a message removed, a
warning, a suspension, a dismissal, or the reversal of one of them) and is what the sanctioned
user and the reporter are shown: never who reported, never the other person's account.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, CreatedMixin, IdMixin, TimestampsMixin, one_of

POLICY_GROUNDS: Final = ("terms_of_service", "illegal_content")
# The DSA Transparency Database's statement categories (STATEMENT_CATEGORY_*).
DSA_CATEGORIES: Final = (
    "STATEMENT_CATEGORY_ANIMAL_WELFARE",
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "STATEMENT_CATEGORY_VIOLENCE",
)

# Restrictions cite a policy; a dismissal cites none; a reversal undoes a restriction.
RESTRICTIONS: Final = ("removed", "warned", "suspended")
REVERSALS: Final = ("restored", "warning_withdrawn", "suspension_lifted", "suspension_shortened")
DECISION_KINDS: Final = (*RESTRICTIONS, "dismissed", *REVERSALS)
# Where the facts came from: a user's report (a notice), or staff's own initiative.
DECISION_SOURCES: Final = ("notice", "own_initiative")
APPEAL_BASES: Final = ("sanctioned_user", "reporter")
APPEAL_STATUSES: Final = ("open", "upheld", "overturned", "partially_overturned")
OVERTURNS: Final = ("overturned", "partially_overturned")


class Policy(IdMixin, TimestampsMixin, Base):
    """One of the platform's rules. Editing it moves ``version`` on; a decision keeps the
    version it cited and a copy of what that version said."""

    __tablename__ = "policies"
    __table_args__ = (
        CheckConstraint(one_of("ground", POLICY_GROUNDS), name="ground"),
        CheckConstraint(one_of("category", DSA_CATEGORIES), name="category"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    ground: Mapped[str] = mapped_column(String(32))
    # For terms_of_service: the clause; for illegal_content: the legal ground (the law broken).
    ground_reference: Mapped[str] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(80))
    # The explanation a decision citing it starts from (the moderator may edit it).
    explanation: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)


class ModerationDecision(IdMixin, CreatedMixin, Base):
    """A decision about a person, with its statement of reasons as it was sent to them.

    ``user_id`` is the person the decision is about (the reported message's sender). The policy
    columns are a copy of the cited version. ``created_at`` is when it was taken and told.
    """

    __tablename__ = "moderation_decisions"
    __table_args__ = (
        CheckConstraint(one_of("kind", DECISION_KINDS), name="kind"),
        CheckConstraint(one_of("source", DECISION_SOURCES), name="source"),
        CheckConstraint(
            "overturned IS NULL OR " + one_of("overturned", OVERTURNS), name="overturned"
        ),
        Index("ix_moderation_decisions_user_id_created_at", "user_id", "created_at"),
        Index("ix_moderation_decisions_created_at", "created_at"),
    )

    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    thread_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("message_threads.id", ondelete="SET NULL")
    )
    source: Mapped[str] = mapped_column(String(16))
    policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("policies.id", ondelete="SET NULL")
    )
    policy_version: Mapped[int | None]
    policy_key: Mapped[str | None] = mapped_column(String(64))
    policy_title: Mapped[str | None] = mapped_column(String(200))
    ground: Mapped[str | None] = mapped_column(String(32))
    ground_reference: Mapped[str | None] = mapped_column(String(500))
    category: Mapped[str | None] = mapped_column(String(80))
    explanation: Mapped[str] = mapped_column(Text)  # told to the person it is about
    public_note: Mapped[str | None] = mapped_column(Text)  # told to the reporters
    internal_note: Mapped[str | None] = mapped_column(Text)  # staff only
    # The suspension's end (None with a suspension: indefinite) and its length in days.
    restricted_until: Mapped[datetime | None]
    days: Mapped[int | None]
    automated: Mapped[bool] = mapped_column(default=False)
    statement: Mapped[str] = mapped_column(Text)  # the statement of reasons, as sent
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    # Until when the people it touches may appeal (None: nothing to appeal, e.g. a reversal).
    appealable_until: Mapped[datetime | None]
    # A reversal names the decision it reverses; that one is then marked overturned.
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("moderation_decisions.id", ondelete="SET NULL"), index=True
    )
    overturned: Mapped[str | None] = mapped_column(String(24))
    overturned_at: Mapped[datetime | None]


class Appeal(IdMixin, CreatedMixin, Base):
    """A complaint against a decision (DSA Art. 20), by the person it is about or a reporter;
    once per person and decision, decided by someone who did not take the decision."""

    __tablename__ = "appeals"
    __table_args__ = (
        UniqueConstraint("decision_id", "appellant_id"),
        CheckConstraint(one_of("basis", APPEAL_BASES), name="basis"),
        CheckConstraint(one_of("status", APPEAL_STATUSES), name="status"),
        Index("ix_appeals_status_created_at", "status", "created_at"),
    )

    decision_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("moderation_decisions.id", ondelete="CASCADE")
    )
    appellant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    basis: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24), default="open")
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]
    reasoning: Mapped[str | None] = mapped_column(Text)  # told to the appellant
    # The decision that carried the outcome out (a reversal, or a new restriction).
    outcome_decision_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("moderation_decisions.id", ondelete="SET NULL")
    )
