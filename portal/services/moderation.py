"""The moderation queue and the decisions staff take on reported messages.

One queue item per reported message, collapsing all of its reports. A decision acts on all of
the item's actionable reports together, records one audit event naming the staff member in the
same transaction, and happens once: the message row is locked first (PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` serialises writers anyway), so of two concurrent decisions the second sees
the first's result and gets :class:`AlreadyDecided`.

Stages of a report: ``open`` → (``claimed``) → ``dismissed`` | ``actioned`` | ``escalated``;
``escalated`` → ``dismissed`` | ``actioned`` (decided by compliance or an admin).

Roles:
- moderators decide open and claimed items; an escalated item is already decided for them;
- compliance officers decide only escalated items (``Forbidden`` on open ones) and add notes;
- admins do everything, and decide escalated items too.

Deciding an item claimed by another moderator is allowed: a claim says who is looking at it, it
is not a lock; the decided-once rule is what prevents double decisions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from portal.errors import AlreadyDecided, Forbidden
from portal.models import StaffUser
from portal.services.suspensions import SUSPENSION_DAYS, lift_suspension, suspend_user

__all__ = [
    "BULK_ACTIONS",
    "QUEUE_ORDERS",
    "QUEUE_STATUSES",
    "SEVERITY",
    "SUSPENSION_DAYS",
    "AlreadyDecided",
    "BulkResult",
    "DecisionRecord",
    "Forbidden",
    "NoteView",
    "Overview",
    "QueueCounts",
    "QueueItem",
    "QueuePage",
    "ReportEntry",
    "ReportView",
    "SenderSummary",
    "SkippedItem",
    "ThreadMessage",
    "UserCounts",
    "UserHistory",
    "add_note",
    "bulk_decide",
    "claim",
    "dismiss",
    "escalate",
    "lift_suspension",
    "next_item",
    "overview",
    "queue_counts",
    "queue_page",
    "remove_message",
    "report_view",
    "suspend_sender",
    "suspend_user",
    "unclaim",
    "user_history",
    "warn_sender",
]

QUEUE_STATUSES: Final = ("open", "mine", "escalated", "decided")
QUEUE_ORDERS: Final = ("priority", "age")
BULK_ACTIONS: Final = ("dismiss", "remove", "escalate")
# Severity of a report reason, for the queue's priority.
SEVERITY: Final = {
    "harassment": 3,
    "discrimination": 3,
    "scam": 3,
    "inappropriate_content": 2,
    "spam": 1,
    "other": 1,
}
MAX_REASON_LENGTH: Final = 1000
MAX_NOTE_LENGTH: Final = 4000
EXCERPT_LENGTH: Final = 200


@dataclass(frozen=True)
class QueueItem:
    message_id: uuid.UUID
    thread_id: uuid.UUID
    excerpt: str  # plain text, at most EXCERPT_LENGTH characters; escape it when rendering
    sender_id: uuid.UUID
    sender_name: str
    recipient_id: uuid.UUID
    recipient_name: str
    reasons: dict[str, int]  # reason -> number of reports, most frequent first
    reporter_count: int
    reporter_names: list[str]
    first_reported_at: datetime
    last_reported_at: datetime
    status: str  # open | claimed | escalated | dismissed | actioned
    claimed_by_id: uuid.UUID | None
    claimed_by_name: str | None
    priority: int
    decided_by_name: str | None
    decision: str | None  # dismissed | removed | warned | suspended | escalated
    message_removed: bool = False


@dataclass(frozen=True)
class QueuePage:
    items: list[QueueItem]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class QueueCounts:
    open: int
    mine: int
    escalated: int


@dataclass(frozen=True)
class ThreadMessage:
    id: uuid.UUID
    sender_id: uuid.UUID
    sender_name: str
    body: str  # as stored (plain, or sanitised html); escape it when rendering
    body_format: str
    created_at: datetime
    is_removed: bool
    is_reported: bool  # the message this view is about


@dataclass(frozen=True)
class ReportEntry:
    id: uuid.UUID
    reporter_id: uuid.UUID
    reporter_name: str
    reason: str
    note: str | None
    reported_at: datetime
    status: str


@dataclass(frozen=True)
class DecisionRecord:
    """One moderation event from the audit log, with the staff member's name."""

    occurred_at: datetime
    action: str  # the audit action, e.g. moderation.dismissed, user.suspended
    decision: str  # short word: claimed, dismissed, removed, warned, suspended, lifted, ...
    staff_id: uuid.UUID | None
    staff_name: str | None
    message_id: uuid.UUID | None
    reason: str | None
    details: dict[str, object]


@dataclass(frozen=True)
class NoteView:
    id: uuid.UUID
    author_name: str
    body: str
    created_at: datetime
    message_id: uuid.UUID | None
    user_id: uuid.UUID | None


@dataclass(frozen=True)
class SenderSummary:
    user_id: uuid.UUID
    display_name: str
    role: str
    sent: int
    reports_against: int
    removals: int
    suspensions: int
    violations: int
    suspended: bool
    suspended_until: datetime | None


@dataclass(frozen=True)
class ReportView:
    message: ThreadMessage
    thread_id: uuid.UUID
    thread_subject: str | None
    recipient_id: uuid.UUID
    recipient_name: str
    before: list[ThreadMessage]  # oldest first
    after: list[ThreadMessage]  # oldest first
    reports: list[ReportEntry]  # every report on the message, oldest first
    status: str  # of the item: open | claimed | escalated | dismissed | actioned
    claimed_by_id: uuid.UUID | None
    claimed_by_name: str | None
    decided_by_name: str | None
    decision: str | None
    decided_at: datetime | None
    sender: SenderSummary
    earlier_decisions: list[DecisionRecord]  # on this sender, newest first
    notes: list[NoteView]  # on this message, newest first


@dataclass(frozen=True)
class SkippedItem:
    message_id: uuid.UUID
    decided_by_name: str | None
    decision: str | None  # None with decided_by_name None: unknown message or not allowed
    reason: str = ""


@dataclass(frozen=True)
class BulkResult:
    decided: list[uuid.UUID] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)


@dataclass(frozen=True)
class UserCounts:
    sent: int
    reports_against: int
    reports_made: int
    blocks_against: int
    violations: int
    removals: int
    suspensions: int


@dataclass(frozen=True)
class UserHistory:
    user_id: uuid.UUID
    email: str
    display_name: str
    role: str
    created_at: datetime
    last_active_at: datetime | None
    suspended: bool  # in force now (a suspension whose end has passed is not)
    suspended_at: datetime | None
    suspended_until: datetime | None  # None while suspended: indefinite
    suspended_reason: str | None
    counts: UserCounts
    timeline: list[DecisionRecord]  # every moderation decision about them, newest first
    notes: list[NoteView]  # notes on them and on their messages, newest first


@dataclass(frozen=True)
class Overview:
    open_reports: int  # open or claimed report rows
    open_items: int  # reported messages with an open or claimed report
    oldest_open_age_seconds: int | None
    escalated_items: int
    decisions_today: int
    violations_today: int
    emails_sent_today: int
    emails_failed_today: int


async def queue_page(
    session: AsyncSession,
    *,
    viewer: StaffUser,
    reason: str | None = None,
    status: str = "open",
    max_age_days: int | None = None,
    order: str = "priority",
    page: int = 1,
    per_page: int = 50,
    now: datetime | None = None,
) -> QueuePage:
    """One page of the queue, one item per reported message.

    ``status``: ``open`` (open or claimed), ``mine`` (claimed by ``viewer``), ``escalated``,
    ``decided``. ``reason`` keeps items with at least one such report; ``max_age_days`` keeps
    items first reported at most that many days ago. ``order``: ``priority`` (highest first, then
    oldest) or ``age`` (oldest first; ``decided``: most recently decided first).

    Priority = 10 × distinct reporters + 10 × the highest severity among the reports (3 for
    harassment, discrimination, scam; 2 for inappropriate_content; 1 for spam and other)
    + 2 × the sum of severities + 8 × the sender's removed messages + 12 × the sender's
    suspensions + 2 × the sender's rate-limit violations (at most 10 counted).

    A fixed number of SQL statements whatever the size of the queue.
    """
    raise NotImplementedError


async def queue_counts(
    session: AsyncSession, *, viewer: StaffUser, now: datetime | None = None
) -> QueueCounts:
    """Items open (or claimed), claimed by ``viewer``, escalated: the navigation badges."""
    raise NotImplementedError


async def report_view(
    session: AsyncSession, message_id: uuid.UUID, *, context: int = 5
) -> ReportView:
    """Everything a moderator needs to decide on one reported message; NotFound if unknown."""
    raise NotImplementedError


async def claim(
    session: AsyncSession, message_id: uuid.UUID, *, actor: StaffUser, now: datetime | None = None
) -> None:
    """Marks the item as being looked at by ``actor``. Conflict if another claimed it first."""
    raise NotImplementedError


async def unclaim(
    session: AsyncSession, message_id: uuid.UUID, *, actor: StaffUser, now: datetime | None = None
) -> None:
    """Releases the actor's claim (an admin may release anyone's)."""
    raise NotImplementedError


async def dismiss(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    note: str | None = None,
    now: datetime | None = None,
) -> None:
    """No action needed: the item's reports are closed as dismissed."""
    raise NotImplementedError


async def remove_message(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Withholds the message's body from its readers (kept for the audit trail)."""
    raise NotImplementedError


async def warn_sender(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    note: str,
    now: datetime | None = None,
) -> None:
    """Records a warning to the sender (on their timeline); the message stays."""
    raise NotImplementedError


async def suspend_sender(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    reason: str,
    days: int | None,
    now: datetime | None = None,
) -> None:
    """Suspends the sender for ``days`` (1, 3, 7, 30) or indefinitely (None)."""
    raise NotImplementedError


async def escalate(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    actor: StaffUser,
    note: str | None = None,
    now: datetime | None = None,
) -> None:
    """Hands the item to compliance."""
    raise NotImplementedError


async def add_note(
    session: AsyncSession,
    *,
    actor: StaffUser,
    body: str,
    message_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> NoteView:
    """A moderator note on a message or a user (exactly one of them)."""
    raise NotImplementedError


async def next_item(
    session: AsyncSession,
    *,
    viewer: StaffUser,
    after_message_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> uuid.UUID | None:
    """The item to open after deciding ``after_message_id``: the highest-priority item the viewer
    can act on (escalated items for compliance, open ones otherwise), other than that one and
    not claimed by someone else; None when the queue is empty."""
    raise NotImplementedError


async def bulk_decide(
    session: AsyncSession,
    message_ids: list[uuid.UUID],
    action: str,
    *,
    actor: StaffUser,
    reason: str | None = None,
    now: datetime | None = None,
) -> BulkResult:
    """``action`` (dismiss | remove | escalate) on each item in its own transaction; items
    decided meanwhile (or that ``actor`` may not decide) are skipped and named."""
    raise NotImplementedError


async def user_history(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime | None = None
) -> UserHistory:
    """A user's profile, status, counts, moderation timeline and notes; NotFound if unknown."""
    raise NotImplementedError


async def overview(session: AsyncSession, *, now: datetime | None = None) -> Overview:
    """Today's figures (UTC day of ``now``)."""
    raise NotImplementedError
