"""What the moderation pages are given: the queue's items, a report, a user's history, the day's
figures, as plain frozen dataclasses; and the constants they share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from portal.models.base import utcnow
from portal.services.attachments import FileLink

QUEUE_STATUSES: Final = ("open", "mine", "escalated", "decided")
QUEUE_ORDERS: Final = ("priority", "age")
BULK_ACTIONS: Final = ("dismiss", "remove", "escalate")
# Severity of a report reason, for the queue's priority: threats and harassment first, then
# discrimination, above scams, then inappropriate content, spam and the rest.
SEVERITY: Final = {
    "harassment": 6,
    "discrimination": 5,
    "scam": 3,
    "inappropriate_content": 2,
    "spam": 1,
    "other": 1,
}
# Reasons whose items are due within the short response target (threats of violence).
URGENT_REASONS: Final = ("harassment",)
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
    # What the priority is made of, as (what, points) pairs: reporters, severity, the record
    priority_parts: tuple[tuple[str, int], ...] = ()
    due_at: datetime | None = None  # first report + the response target of its reasons
    target_hours: int | None = None

    @property
    def priority_why(self) -> str:
        return " + ".join(f"{what}: {points}" for what, points in self.priority_parts)

    def overdue(self, now: datetime) -> bool:
        return self.due_at is not None and self.status in ("open", "claimed") and now > self.due_at


@dataclass(frozen=True)
class ResponseTargets:
    """How long an open item may wait: ``urgent_hours`` when a report's reason is urgent
    (URGENT_REASONS), ``hours`` otherwise (settings: queue_target_hours...)."""

    hours: int = 24
    urgent_hours: int = 1


@dataclass(frozen=True)
class SenderGroup:
    """One sender's open work in the queue: their reported messages and reports together."""

    sender_id: uuid.UUID
    sender_name: str
    items: int  # reported messages
    reports: int
    reporter_count: int  # distinct reporters
    reporter_names: list[str]  # a few of them, earliest first
    reasons: dict[str, int]  # reason -> reports, most frequent first
    first_reported_at: datetime
    suspended: bool


@dataclass(frozen=True)
class SenderGroupPage:
    groups: list[SenderGroup]
    total: int  # senders
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


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
    files: tuple[FileLink, ...] = ()  # its uploaded files (links to the staff download)


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
    other_open_reports: int = 0  # open or claimed reports on the sender's other messages


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
    # "overturned" | "partially_overturned" when an appeal reversed the decision on it
    overturned: str | None = None


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
    open_reports_against: int = 0  # open or claimed


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


# Report statuses by stage.
OPEN: Final = ("open", "claimed")
DECIDED: Final = ("dismissed", "actioned")
UNDECIDED: Final = (*OPEN, "escalated")
# Audit actions that are moderation decisions, for timelines and the day's figures.
DECISION_ACTIONS: Final = (
    "moderation.dismissed",
    "moderation.escalated",
    "message.removed",
    "user.warned",
    "user.suspended",
    "user.suspension_lifted",
    "appeal.decided",
    "message.restored",
)


def now_or_utcnow(now: datetime | None) -> datetime:
    """The clock: ``now`` when a caller (a test) gives one, else the current time."""
    return now or utcnow()
