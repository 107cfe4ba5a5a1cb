"""Request and response bodies of the messaging API, and the functions that build them.

Constraints here are the same as the services' rules wherever JSON Schema can say them, so that
the OpenAPI document is exact: a body the schema accepts is refused only by rules that depend
on the data (who the recipient is, blocks, limits).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from portal.models import MessageBlock, User
from portal.models.decisions import (
    APPEAL_BASES,
    APPEAL_STATUSES,
    DECISION_KINDS,
    DECISION_SOURCES,
    DSA_CATEGORIES,
    OVERTURNS,
    POLICY_GROUNDS,
)
from portal.models.messaging import BLOCK_REASONS, BODY_FORMATS, MESSAGE_TYPES
from portal.models.moderation import FLAG_REASONS
from portal.models.people import USER_ROLES
from portal.models.rows import MessageRow, ParticipantRow, ReceiptRow
from portal.services import appeals, blocks, notices
from portal.services.flags import Flagged
from portal.services.messaging import (
    ATTACHMENT_CONTENT_TYPES,
    ATTACHMENT_URL_PATTERN,
    BODY_PATTERN,
    FILENAME_PATTERN,
    MAX_ATTACHMENTS,
    MAX_ATTACHMENTS_TOTAL_BYTES,
    MAX_FILENAME_LENGTH,
    MAX_STORED_HTML_LENGTH,
    MAX_SUBJECT_LENGTH,
    MAX_URL_LENGTH,
    NO_NUL_PATTERN,
    Attachment,
    MessageDraft,
    SentMessage,
)
from portal.services.threads import ThreadDetail, ThreadPage, ThreadView, UnreadSummary
from portal.services.validation import NOTE_PATTERN

REMOVED_BODY = "[removed by a moderator]"
PURGED_BODY = "[deleted under the retention policy]"

# The allowed values are the models' own tuples (Literal[("a", "b")] is Literal["a", "b"]), so
# the schema and the database constraints cannot drift apart.
# Literal of the models' tuples: msgspec checks them at run time, mypy cannot expand them (Any).
BodyFormat = Literal[BODY_FORMATS]  # type: ignore[valid-type]
MessageType = Literal[MESSAGE_TYPES]  # type: ignore[valid-type]
ContentType = Literal[ATTACHMENT_CONTENT_TYPES]  # type: ignore[valid-type]
Role = Literal[USER_ROLES]  # type: ignore[valid-type]
BlockReason = Literal[BLOCK_REASONS]  # type: ignore[valid-type]
FlagReason = Literal[FLAG_REASONS]  # type: ignore[valid-type]
ReportStatus = Literal["received", "under_review", "action_taken", "no_violation"]
DecisionKind = Literal[DECISION_KINDS]  # type: ignore[valid-type]
DecisionSource = Literal[DECISION_SOURCES]  # type: ignore[valid-type]
Overturned = Literal[OVERTURNS]  # type: ignore[valid-type]
PolicyGround = Literal[POLICY_GROUNDS]  # type: ignore[valid-type]
DsaCategory = Literal[DSA_CATEGORIES]  # type: ignore[valid-type]
AppealBasis = Literal[APPEAL_BASES]  # type: ignore[valid-type]
AppealStatus = Literal[APPEAL_STATUSES]  # type: ignore[valid-type]

# The control characters a note refuses (NOTE_PATTERN is "^[^<them>]*<end of text>").
_NOTE_CONTROLS = NOTE_PATTERN.removeprefix("^[^").removesuffix(r"]*(?![\s\S])")
# An appeal's text: a note (paragraphs are fine) with a character that is not white space.
APPEAL_TEXT_PATTERN = (
    rf"^[^{_NOTE_CONTROLS}]*[^\s{_NOTE_CONTROLS}\ufeff][^{_NOTE_CONTROLS}]*(?![\s\S])"
)

BlockNote = Annotated[str, Meta(max_length=blocks.MAX_NOTE_LENGTH, pattern=NOTE_PATTERN)]
Body = Annotated[
    str,
    Meta(
        pattern=BODY_PATTERN,
        description="1 to 10,000 characters after trimming. `html` bodies are sanitised on "
        "write (formatting tags only; links limited to http, https and mailto), and refused "
        f"(400, `body`) if the sanitised form exceeds {MAX_STORED_HTML_LENGTH:,} characters "
        "(text is stored HTML-escaped: `&` becomes `&amp;`).",
        examples=["Hello Sam, thanks for applying. Are you free for a call on Tuesday?"],
    ),
]
Subject = Annotated[
    str,
    Meta(
        max_length=MAX_SUBJECT_LENGTH,
        pattern=NO_NUL_PATTERN,
        examples=["Interview for Senior Backend Engineer"],
    ),
]


class AttachmentIn(Struct, forbid_unknown_fields=True):
    filename: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=MAX_FILENAME_LENGTH,
            pattern=FILENAME_PATTERN,
            description="Not blank; no NUL or bidirectional control characters (U+061C, "
            "U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069).",
        ),
    ]
    content_type: ContentType
    size_bytes: Annotated[
        int,
        Meta(
            ge=0,
            description=f"All attachments of a message together: at most "
            f"{MAX_ATTACHMENTS_TOTAL_BYTES:,} bytes (25 MB), or 413.",
        ),
    ]
    url: Annotated[
        str,
        Meta(
            max_length=MAX_URL_LENGTH,
            pattern=ATTACHMENT_URL_PATTERN,
            description="An absolute http or https URL naming a public host: IP address "
            "literals (IPv4 in any spelling a browser reads, such as `127.1`, and bracketed "
            "IPv6) and the names `localhost`, `*.localhost`, `*.local` and `*.internal` are "
            "refused (400), as are white space and bidirectional control characters.",
        ),
    ]


class AttachmentOut(Struct, omit_defaults=True):
    filename: str
    content_type: str
    size_bytes: int
    url: str
    id: Annotated[
        uuid.UUID | None,
        Meta(description="An uploaded file's id (download at `url`); null for a link."),
    ] = None
    sha256: Annotated[
        str | None, Meta(description="An uploaded file's SHA-256 (hex); null for a link.")
    ] = None


class UploadedAttachmentOut(Struct):
    """An upload, accepted: attach it to a message with ``attachment_ids``."""

    id: uuid.UUID
    filename: str
    content_type: Annotated[str, Meta(description="Sniffed from the bytes")]
    size_bytes: int
    sha256: str
    scan_status: Annotated[
        Literal["clean", "unscanned"],
        Meta(description="`unscanned`: no virus scanner is configured (development)"),
    ]
    created_at: datetime


class SendMessageIn(Struct, forbid_unknown_fields=True):
    recipient_id: uuid.UUID
    body: Body
    application_id: uuid.UUID | None = None
    subject: Subject | None = None
    body_format: BodyFormat = "plain"
    message_type: MessageType = "general"
    attachments: Annotated[list[AttachmentIn], Meta(max_length=MAX_ATTACHMENTS)] = msgspec.field(
        default_factory=list
    )
    attachment_ids: Annotated[
        list[uuid.UUID],
        Meta(
            max_length=MAX_ATTACHMENTS,
            description="Files uploaded with `POST /api/v1/attachments` by the caller, not yet "
            f"attached, that passed the virus scan. Files and `attachments` links together: at "
            f"most {MAX_ATTACHMENTS} (400), at most {MAX_ATTACHMENTS_TOTAL_BYTES:,} bytes (413).",
        ),
    ] = msgspec.field(default_factory=list)

    def to_draft(self) -> MessageDraft:
        return MessageDraft(
            recipient_id=self.recipient_id,
            body=self.body,
            body_format=self.body_format,
            message_type=self.message_type,
            subject=self.subject,
            application_id=self.application_id,
            attachments=tuple(
                Attachment(a.filename, a.content_type, a.size_bytes, a.url)
                for a in self.attachments
            ),
            attachment_ids=tuple(self.attachment_ids),
        )


class ParticipantOut(Struct):
    id: uuid.UUID
    display_name: str
    role: Role


class ThreadOut(Struct):
    """A thread as the caller sees it: their unread count and archive flag."""

    id: uuid.UUID
    application_id: uuid.UUID | None
    employer_id: uuid.UUID
    candidate_id: uuid.UUID
    subject: str | None
    last_message_at: datetime | None
    unread_count: int
    is_archived: bool
    other_participant: ParticipantOut
    created_at: datetime
    updated_at: datetime


class MessageOut(Struct):
    """A message as a participant sees it. ``is_flagged``/``flagged_reason`` describe the
    caller's own report on it, never anyone else's."""

    id: uuid.UUID
    thread_id: uuid.UUID
    sender_id: uuid.UUID
    recipient_id: uuid.UUID
    subject: str | None
    body: str
    body_format: BodyFormat
    message_type: MessageType
    attachments: list[AttachmentOut]
    is_read: bool
    read_at: datetime | None
    is_flagged: Annotated[
        bool,
        Meta(description="Whether the caller has reported this message: their own report only."),
    ]
    flagged_reason: (
        Annotated[str, Meta(description="The reason of the caller's own report, if any.")] | None
    )
    created_at: datetime
    is_purged: bool = False


class ReportReceiptOut(Struct):
    """The reporter's receipt for their report: its id and what its status now is."""

    id: uuid.UUID
    status: Annotated[
        ReportStatus,
        Meta(
            description="`received` until moderators decide (`under_review` while it is "
            "escalated), then `action_taken` or `no_violation`."
        ),
    ]
    reported_at: datetime
    legal_ground: str | None
    good_faith: bool | None


class FlaggedMessageOut(MessageOut, kw_only=True):
    """The flagged message as the reporter sees it, with their report's receipt."""

    report: ReportReceiptOut


class PolicyOut(Struct):
    """The rule a decision cited, as it read in the version cited."""

    key: str
    title: str
    ground: Annotated[
        PolicyGround,
        Meta(description="`terms_of_service` (a clause of the terms) or `illegal_content`."),
    ]
    ground_reference: Annotated[
        str, Meta(description="The clause of the terms, or the law the content breaks.")
    ]
    category: Annotated[
        DsaCategory, Meta(description="The DSA Transparency Database's statement category.")
    ]
    version: int


class AppealOut(Struct):
    """An appeal (DSA Art. 20) and, once decided, its outcome and the reasoning."""

    id: uuid.UUID
    decision_id: uuid.UUID
    basis: Annotated[
        AppealBasis,
        Meta(
            description="`sanctioned_user`: the decision was about the caller; `reporter`: "
            "the caller reported the message and no violation was found."
        ),
    ]
    text: str
    status: Annotated[
        AppealStatus,
        Meta(
            description="`open` until decided; then `upheld`, `overturned` or "
            "`partially_overturned`."
        ),
    ]
    filed_at: datetime
    decided_at: datetime | None
    reasoning: Annotated[str, Meta(description="Why the appeal was decided so.")] | None


class DecisionOut(Struct):
    """A decision about the caller, with its statement of reasons as it was sent to them."""

    id: uuid.UUID
    kind: Annotated[
        DecisionKind,
        Meta(
            description="What was decided: `removed`, `warned`, `suspended`, or the reversal "
            "of an earlier decision (`restored`, `warning_withdrawn`, `suspension_lifted`, "
            "`suspension_shortened`)."
        ),
    ]
    decided_at: datetime
    statement: Annotated[str, Meta(description="The statement of reasons, in plain language.")]
    explanation: str
    policy: PolicyOut | None
    restricted_until: (
        Annotated[datetime, Meta(description="A suspension's end; null if it has none.")] | None
    )
    message_id: uuid.UUID | None
    thread_id: uuid.UUID | None
    source: Annotated[
        DecisionSource,
        Meta(
            description="`notice`: reviewed after a report (never saying who reported); "
            "`own_initiative`: staff's own review."
        ),
    ]
    overturned: Annotated[Overturned, Meta(description="Set once an appeal reversed it.")] | None
    overturned_at: datetime | None
    appealable: Annotated[bool, Meta(description="Whether the caller can appeal it now.")]
    appealable_until: (
        Annotated[datetime, Meta(description="The end of the window for an appeal.")] | None
    )
    appeal: AppealOut | None


class DecisionListOut(Struct):
    decisions: list[DecisionOut]
    total: int


class ReportOut(Struct):
    """One of the caller's reports and its outcome: never the sanction's details, nor anything
    about the other person's account."""

    id: uuid.UUID
    message_id: uuid.UUID
    thread_id: uuid.UUID
    reason: FlagReason
    note: str | None
    legal_ground: str | None
    good_faith: bool | None
    reported_at: datetime
    status: Annotated[
        ReportStatus,
        Meta(
            description="`received`, `under_review` (escalated), then `action_taken` or "
            "`no_violation`."
        ),
    ]
    decided_at: datetime | None
    policy_title: (
        Annotated[str, Meta(description="The rule applied, when action was taken.")] | None
    )
    public_note: Annotated[str, Meta(description="A note from the moderators.")] | None
    decision_id: uuid.UUID | None
    appealable: Annotated[
        bool, Meta(description="Whether the caller can appeal the outcome now (no violation).")
    ]
    appealable_until: datetime | None
    appeal: AppealOut | None


class ReportListOut(Struct):
    reports: list[ReportOut]
    total: int


class AppealIn(Struct, forbid_unknown_fields=True):
    decision_id: Annotated[
        uuid.UUID,
        Meta(
            description="A decision about the caller, or the outcome of the caller's report "
            "where no violation was found."
        ),
    ]
    text: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=appeals.MAX_APPEAL_LENGTH,
            pattern=APPEAL_TEXT_PATTERN,
            description=f"Why the decision is wrong: 1 to {appeals.MAX_APPEAL_LENGTH:,} "
            "characters, not blank, without control characters other than tab and line breaks.",
        ),
    ]


class SendMessageOut(Struct):
    message: MessageOut
    thread: ThreadOut


class ThreadListOut(Struct):
    threads: list[ThreadOut]
    total: int
    page: int
    limit: int
    unread_count: int


class ThreadDetailOut(Struct):
    thread: ThreadOut
    messages: list[MessageOut]
    total_messages: int
    # Pass as `after` for the next page; null on the last page.
    next_after: uuid.UUID | None = None


class ReadReceiptOut(Struct):
    id: uuid.UUID
    is_read: bool
    read_at: datetime | None


class UnreadCountOut(Struct):
    unread_count: int
    unread_threads: int


class BlockIn(Struct, forbid_unknown_fields=True):
    user_id: uuid.UUID
    reason: BlockReason
    note: Annotated[str, Meta(max_length=blocks.MAX_NOTE_LENGTH, pattern=NOTE_PATTERN)] | None = (
        None
    )


class BlockOut(Struct):
    success: bool
    blocked_user_id: uuid.UUID
    reason: BlockReason


class BlockedUserOut(Struct):
    blocked_user_id: uuid.UUID
    reason: BlockReason
    created_at: datetime
    blocked_user: ParticipantOut


class BlockListOut(Struct):
    blocks: list[BlockedUserOut]
    total: int


class ArchiveIn(Struct):
    archived: bool = True


def participant_out(user: ParticipantRow) -> ParticipantOut:
    return ParticipantOut(id=user.id, display_name=user.display_name, role=user.role)


def thread_out(view: ThreadView) -> ThreadOut:
    thread = view.thread
    return ThreadOut(
        id=thread.id,
        application_id=thread.application_id,
        employer_id=thread.employer_id,
        candidate_id=thread.candidate_id,
        subject=thread.subject,
        last_message_at=thread.last_message_at,
        unread_count=view.unread_count,
        is_archived=view.is_archived,
        other_participant=participant_out(view.other),
        created_at=thread.created_at,
        updated_at=thread.updated_at,
    )


def message_out(message: MessageRow, own_report: str | None = None) -> MessageOut:
    """A message for a participant; a message removed by a moderator keeps its body withheld, and
    a purged one has none left.

    ``is_flagged`` and ``flagged_reason`` are the viewer's own report (``own_report``, its
    reason): whether anyone else reported the message is for staff only, so that nothing a
    reported sender sees changes and no reporter is given away.
    """
    purged = message.purged_at is not None
    removed = message.is_removed or purged
    return MessageOut(
        id=message.id,
        thread_id=message.thread_id,
        sender_id=message.sender_id,
        recipient_id=message.recipient_id,
        subject=None if removed else message.subject,
        body=PURGED_BODY if purged else REMOVED_BODY if removed else message.body,
        body_format="plain" if removed else message.body_format,
        message_type=message.message_type,
        attachments=[]
        if removed
        else [msgspec.convert(item, AttachmentOut) for item in message.attachments or []],
        is_read=message.is_read,
        read_at=message.read_at,
        is_flagged=own_report is not None,
        flagged_reason=own_report,
        created_at=message.created_at,
        is_purged=purged,
    )


def flagged_message_out(flagged: Flagged) -> FlaggedMessageOut:
    shown = message_out(flagged.message, flagged.report.reason)
    report = flagged.report
    return FlaggedMessageOut(
        **{name: getattr(shown, name) for name in shown.__struct_fields__},
        report=ReportReceiptOut(
            id=report.id,
            status=flagged.status,  # type: ignore[arg-type]
            reported_at=report.created_at,
            legal_ground=report.legal_ground,
            good_faith=report.good_faith,
        ),
    )


def policy_out(policy: notices.PolicyCited | None) -> PolicyOut | None:
    if policy is None:
        return None
    return PolicyOut(
        key=policy.key,
        title=policy.title,
        ground=policy.ground,
        ground_reference=policy.ground_reference,
        category=policy.category,
        version=policy.version,
    )


def appeal_out(appeal: notices.AppealNotice) -> AppealOut:
    return AppealOut(
        id=appeal.id,
        decision_id=appeal.decision_id,
        basis=appeal.basis,
        text=appeal.text,
        status=appeal.status,
        filed_at=appeal.filed_at,
        decided_at=appeal.decided_at,
        reasoning=appeal.reasoning,
    )


def decision_out(notice: notices.DecisionNotice) -> DecisionOut:
    return DecisionOut(
        id=notice.id,
        kind=notice.kind,
        decided_at=notice.decided_at,
        statement=notice.statement,
        explanation=notice.explanation,
        policy=policy_out(notice.policy),
        restricted_until=notice.restricted_until,
        message_id=notice.message_id,
        thread_id=notice.thread_id,
        source=notice.source,
        overturned=notice.overturned,
        overturned_at=notice.overturned_at,
        appealable=notice.appealable,
        appealable_until=notice.appealable_until,
        appeal=appeal_out(notice.appeal) if notice.appeal else None,
    )


def decision_list_out(found: list[notices.DecisionNotice]) -> DecisionListOut:
    return DecisionListOut(decisions=[decision_out(n) for n in found], total=len(found))


def report_out(notice: notices.ReportNotice) -> ReportOut:
    return ReportOut(
        id=notice.id,
        message_id=notice.message_id,
        thread_id=notice.thread_id,
        reason=notice.reason,
        note=notice.note,
        legal_ground=notice.legal_ground,
        good_faith=notice.good_faith,
        reported_at=notice.reported_at,
        status=notice.status,  # type: ignore[arg-type]
        decided_at=notice.decided_at,
        policy_title=notice.policy_title,
        public_note=notice.public_note,
        decision_id=notice.decision_id,
        appealable=notice.appealable,
        appealable_until=notice.appealable_until,
        appeal=appeal_out(notice.appeal) if notice.appeal else None,
    )


def report_list_out(found: list[notices.ReportNotice]) -> ReportListOut:
    return ReportListOut(reports=[report_out(n) for n in found], total=len(found))


def sent_out(sent: SentMessage) -> SendMessageOut:
    return SendMessageOut(message=message_out(sent.message), thread=thread_out(sent.thread))


def thread_list_out(page: ThreadPage) -> ThreadListOut:
    return ThreadListOut(
        threads=[thread_out(view) for view in page.threads],
        total=page.total,
        page=page.page,
        limit=page.limit,
        unread_count=page.unread_count,
    )


def thread_detail_out(detail: ThreadDetail) -> ThreadDetailOut:
    return ThreadDetailOut(
        thread=thread_out(detail.view),
        messages=[
            message_out(message, detail.own_reports.get(message.id)) for message in detail.messages
        ],
        total_messages=detail.total_messages,
        next_after=detail.next_after,
    )


def read_receipt_out(message: ReceiptRow) -> ReadReceiptOut:
    return ReadReceiptOut(id=message.id, is_read=message.is_read, read_at=message.read_at)


def unread_count_out(summary: UnreadSummary) -> UnreadCountOut:
    return UnreadCountOut(unread_count=summary.unread_count, unread_threads=summary.unread_threads)


def block_list_out(blocks: list[tuple[MessageBlock, User]]) -> BlockListOut:
    return BlockListOut(
        blocks=[
            BlockedUserOut(
                blocked_user_id=block.blocked_id,
                reason=block.reason,
                created_at=block.created_at,
                blocked_user=participant_out(user),
            )
            for block, user in blocks
        ],
        total=len(blocks),
    )
