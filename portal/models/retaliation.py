"""Retaliation watch (Title VII §704(a)): after a candidate's protected report against an
employer, the employer's adverse actions towards that candidate open items for compliance.

Nothing here is ever shown to the candidate or the employer: no API response, email or event
carries it. Ids carry no foreign keys to what they name (as holds): the record outlives them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, IdMixin, one_of

WATCH_TRIGGERS: Final = ("report", "upheld")
ADVERSE_ACTIONS: Final = (
    "application_rejected",
    "application_withdrawn",
    "blocked",
    "thread_deleted",
    "reported",
)
ITEM_STATUSES: Final = ("open", "reviewed")


class RetaliationWatch(IdMixin, Base):
    """A watch on ``employer_id`` towards ``candidate_id`` from ``opened_at`` to ``expires_at``,
    opened by the candidate's protected report (``trigger`` ``report``) or a moderator upholding
    it (``upheld``). Several may stand for one pair; the latest expiry counts."""

    __tablename__ = "retaliation_watches"
    __table_args__ = (
        CheckConstraint(one_of("trigger", WATCH_TRIGGERS), name="trigger"),
        # One watch per protected report and trigger, also under concurrent flags.
        UniqueConstraint("report_id", "trigger"),
        Index(
            "ix_retaliation_watches_employer_id_candidate_id_expires_at",
            "employer_id",
            "candidate_id",
            "expires_at",
        ),
    )

    employer_id: Mapped[uuid.UUID]
    candidate_id: Mapped[uuid.UUID]
    trigger: Mapped[str] = mapped_column(String(16))
    report_id: Mapped[uuid.UUID]  # the protected report (a flag report)
    message_id: Mapped[uuid.UUID]
    thread_id: Mapped[uuid.UUID]
    reason: Mapped[str] = mapped_column(String(32))
    reported_at: Mapped[datetime]  # when the protected report was made
    opened_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class RetaliationItem(IdMixin, Base):
    """One adverse action by a watched employer against the candidate, for compliance.

    ``held_report_id`` names the employer's report against the candidate when the action is one:
    no moderator decides it until a compliance officer releases it (``released_at``).
    """

    __tablename__ = "retaliation_items"
    __table_args__ = (
        CheckConstraint(one_of("action", ADVERSE_ACTIONS), name="action"),
        CheckConstraint(one_of("status", ITEM_STATUSES), name="status"),
        Index("ix_retaliation_items_status_action_at", "status", "action_at"),
        # A counter-report is held by one item, also under concurrent flags.
        Index("ix_retaliation_items_held_report_id", "held_report_id", unique=True),
    )

    watch_id: Mapped[uuid.UUID] = mapped_column(index=True)
    employer_id: Mapped[uuid.UUID]
    candidate_id: Mapped[uuid.UUID]
    action: Mapped[str] = mapped_column(String(32))
    action_at: Mapped[datetime]
    # What the action touched: an application, a thread, a block or a flag report.
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[uuid.UUID]
    days_since_report: Mapped[int]
    held_report_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(String(16), default="open")
    reviewed_by_id: Mapped[uuid.UUID | None]
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str | None] = mapped_column(Text)
    released_at: Mapped[datetime | None]
