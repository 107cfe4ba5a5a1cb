"""Legal holds: while one stands, nothing destroys the content it covers."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Final

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, IdMixin, one_of, utcnow
from portal.models.records import ACTOR_TYPES

HOLD_SCOPES: Final = ("thread", "user", "requisition")
# What a hold stands on: a litigation hold (counsel's case), or an EEOC charge (29 CFR 1602.14:
# kept until the charge's final disposition), which is a requisition hold naming its charge.
HOLD_TYPES: Final = ("litigation", "eeoc_charge")


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
        CheckConstraint(one_of("hold_type", HOLD_TYPES), name="hold_type"),
        CheckConstraint(
            "hold_type = 'litigation' OR (scope = 'requisition' AND charge_number IS NOT NULL"
            " AND charge_agency IS NOT NULL AND charging_party_id IS NOT NULL"
            " AND charge_filed_on IS NOT NULL)",
            name="charge_basis",
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
    # The hold's basis (added by migration 0013). An ``eeoc_charge`` hold is a requisition
    # hold that also names the charge; retention releases it once its final disposition date
    # has passed (``portal.services.compliance.charges``).
    hold_type: Mapped[str] = mapped_column(
        String(16), default="litigation", server_default="litigation"
    )
    charge_number: Mapped[str | None] = mapped_column(String(100))
    charge_agency: Mapped[str | None] = mapped_column(String(200))
    charging_party_id: Mapped[uuid.UUID | None]
    charge_filed_on: Mapped[date | None]
    final_disposition_on: Mapped[date | None]

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

    def basis(self) -> str:
        """Why the hold stands, in one line (the compliance page, the reports)."""
        if self.hold_type != "eeoc_charge":
            return f"litigation: {self.case_reference}"
        until = (
            f"until final disposition on {self.final_disposition_on.isoformat()}"
            if self.final_disposition_on is not None
            else "until final disposition (date not yet recorded)"
        )
        filed = self.charge_filed_on.isoformat() if self.charge_filed_on else "?"
        return (
            f"EEOC charge {self.charge_number} ({self.charge_agency}), filed {filed} by "
            f"{self.charging_party_id} against {self.employer_id}; {until}"
        )
