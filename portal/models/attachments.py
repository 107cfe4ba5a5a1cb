"""Uploaded files (issue 19): one row per upload, its bytes in the attachment store under a
random key; attached to at most one message."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, CreatedMixin, IdMixin, one_of

# quarantined: stored, not yet scanned; clean / infected: clamd's verdict; unscanned: accepted
# after type sniffing with no scanner configured (PORTAL_CLAMD_URL unset).
SCAN_STATUSES: Final = ("quarantined", "clean", "infected", "unscanned")
SERVABLE_STATUSES: Final = ("clean", "unscanned")


class StoredAttachment(IdMixin, CreatedMixin, Base):
    __tablename__ = "attachments"
    __table_args__ = (
        CheckConstraint(one_of("scan_status", SCAN_STATUSES), name="scan_status"),
        CheckConstraint("size_bytes >= 0", name="size_nonnegative"),
    )

    uploader_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    original_name: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    # sniffed from the bytes, never taken from the client
    content_type: Mapped[str] = mapped_column(String(100))
    # random, never derived from the file name
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    scan_status: Mapped[str] = mapped_column(String(16), default="quarantined")
    scan_signature: Mapped[str | None] = mapped_column(String(200))
    scanned_at: Mapped[datetime | None]
    # the retention purge deleted the stored file (its digest stays here and in the tombstone)
    purged_at: Mapped[datetime | None]
