"""Every table of the portal; importing this module registers them all on ``Base.metadata``."""

from portal.models.attachments import StoredAttachment
from portal.models.base import Base
from portal.models.decisions import Appeal, ModerationDecision, Policy
from portal.models.holds import LegalHold
from portal.models.messaging import InboxTotals, Message, MessageBlock, MessageThread
from portal.models.moderation import FlagReport, ModeratorNote, RateLimitViolation
from portal.models.people import Application, User
from portal.models.queue_views import QueueView
from portal.models.records import AuditChainHead, AuditEvent, EmailOutbox, IdempotencyKey
from portal.models.retaliation import RetaliationItem, RetaliationWatch
from portal.models.staff import StaffSignInWindow, StaffUser

__all__ = [
    "Appeal",
    "Application",
    "AuditChainHead",
    "AuditEvent",
    "Base",
    "EmailOutbox",
    "FlagReport",
    "IdempotencyKey",
    "InboxTotals",
    "LegalHold",
    "Message",
    "MessageBlock",
    "MessageThread",
    "ModerationDecision",
    "ModeratorNote",
    "Policy",
    "QueueView",
    "RateLimitViolation",
    "RetaliationItem",
    "RetaliationWatch",
    "StaffSignInWindow",
    "StaffUser",
    "StoredAttachment",
    "User",
]
