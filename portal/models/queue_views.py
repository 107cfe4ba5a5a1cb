"""A staff member's saved views of the queue: a name and the filters it stands for."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, CreatedMixin, IdMixin


class QueueView(IdMixin, CreatedMixin, Base):
    __tablename__ = "queue_views"
    __table_args__ = (UniqueConstraint("staff_id", "name"),)

    staff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    # the queue's query string, e.g. "status=open&reason=spam&group=sender"
    query: Mapped[str] = mapped_column(String(500))
