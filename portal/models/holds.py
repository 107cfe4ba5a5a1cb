"""Legal holds: while one stands, nothing destroys the content it covers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, IdMixin, one_of, utcnow
from portal.models.records import ACTOR_TYPES

HOLD_SCOPES: Final = ("thread", "user", "requisition")


class LegalHold(IdMixin, Base):
    """A hold on one thread, on every thread of one user, or on every thread between an employer
    and each candidate for one requisition (29 CFR 1602.14), applications provisioned later
    included. Lifting sets ``lifted_*``; a hold row is never deleted.

    Ids carry no foreign keys: the hold must outlive what it names (and a hard delete of held
    content is refused anyway).
    """

    __tablename__ = "legal_holds"
    __table_args__ = (
        CheckConstraint(one_of("scope", HOLD_SCOPES), name="scope"),
        CheckConstraint(one_of("placed_by_type", ACTOR_TYPES), name="placed_by_type"),
        CheckConstraint(
            "(scope = 'thread' AND thread_id IS NOT NULL AND user_id IS NULL"
            " AND employer_id IS NULL AND requisition_id IS NULL)"
            " OR (scope = 'user' AND user_id IS NOT NULL AND thread_id IS NULL"
            " AND employer_id IS NULL AND requisition_id IS NULL)"
            " OR (scope = 'requisition' AND employer_id IS NOT NULL"
            " AND requisition_id IS NOT NULL AND thread_id IS NULL AND user_id IS NULL)",
            name="scope_target",
        ),
        Index("ix_legal_holds_thread_id", "thread_id"),
        Index("ix_legal_holds_user_id", "user_id"),
        Index("ix_legal_holds_employer_id_requisition_id", "employer_id", "requisition_id"),
    )

    scope: Mapped[str] = mapped_column(String(16))
    thread_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID | None]
    employer_id: Mapped[uuid.UUID | None]
    requisition_id: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    case_reference: Mapped[str] = mapped_column(String(200))
    placed_by_type: Mapped[str] = mapped_column(String(16))
    placed_by_id: Mapped[uuid.UUID | None]
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_by_type: Mapped[str | None] = mapped_column(String(16))
    lifted_by_id: Mapped[uuid.UUID | None]
    lifted_at: Mapped[datetime | None]
    lifted_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None

    def describe(self) -> str:
        target = {
            "thread": f"thread {self.thread_id}",
            "user": f"user {self.user_id}",
            "requisition": f"requisition {self.requisition_id} of employer {self.employer_id}",
        }[self.scope]
        return f"legal hold {self.id} ({self.case_reference}) on {target}"
