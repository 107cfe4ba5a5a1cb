"""Retaliation watch (Title VII §704(a); EEOC Enforcement Guidance on Retaliation, 2016).

A candidate who reports an employer's message for discrimination or harassment engages in
protected activity. That report, and a moderator upholding it, open a watch on the employer
towards the candidate for ``PORTAL_RETALIATION_WATCH_DAYS``. While a watch stands, each adverse
action of the employer side against the candidate — the application rejected or withdrawn
through provisioning, a block, a thread deleted, a report against the candidate — opens an item
in a queue only compliance reads, with the timeline (the protected report, the action, the days
between). A report by the watched employer against the candidate is held: no moderator decides
it until a compliance officer has reviewed the item and released it.

The watch is on the employer's account: the data model has no organisation linking an
employer's accounts, so an employer's other accounts are not watched (docs/compliance.md).

Every hook here runs inside the transaction of the action that triggers it (so a watch or an
item exists exactly when its action does) and records its audit event on the global chain.
Nothing of it reaches the candidate or the employer: no API field, no email, no real-time event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import Actor, record_event
from portal.database import get_or_insert, read_transaction, session_settings, write_transaction
from portal.errors import Conflict, Forbidden, NotFound
from portal.models import FlagReport, Message, MessageThread, User
from portal.models.base import utcnow
from portal.models.retaliation import RetaliationItem, RetaliationWatch
from portal.models.rows import MessageRow
from portal.permissions import Capability, Who
from portal.services import validation

# The report reasons that are protected activity when a candidate reports an employer.
PROTECTED_REASONS: Final = frozenset({"discrimination", "harassment"})
# Application statuses that are an adverse action when the employer side sets them.
ADVERSE_STATUSES: Final = {"rejected": "application_rejected", "withdrawn": "application_withdrawn"}
MAX_NOTE_LENGTH = 2000

HELD_EXPLANATION: Final = (
    "held for compliance review: the reporter is an employer under a retaliation watch towards "
    "this candidate (Title VII §704(a)); a compliance officer must review and release it before "
    "anyone decides it"
)


class ThreadPair(Protocol):
    """What the watch reads of a thread: who its employer and candidate are."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def employer_id(self) -> uuid.UUID: ...
    @property
    def candidate_id(self) -> uuid.UUID: ...


class HeldForReview(Forbidden):
    """A decision refused because a report is held for compliance's retaliation review.

    Its code is Forbidden's own: the API's error codes are public, and nothing of the watch
    may show there; only staff ever meet this refusal."""


# --- opening watches ------------------------------------------------------------------------


async def _open_watch(
    session: AsyncSession,
    *,
    report: FlagReport,
    message: MessageRow,
    thread: ThreadPair,
    trigger: str,
    actor: Actor,
    when: datetime,
    upheld_by: uuid.UUID | None = None,
) -> RetaliationWatch:
    days = session_settings(session).retaliation_watch_days
    watch, created = await get_or_insert(
        session,
        find=lambda: _watch_for_report(session, report.id, trigger),
        make=lambda: RetaliationWatch(
            employer_id=thread.employer_id,
            candidate_id=thread.candidate_id,
            trigger=trigger,
            report_id=report.id,
            message_id=message.id,
            thread_id=thread.id,
            reason=report.reason,
            # The protected activity: the report now, or (upheld) when it was first made.
            reported_at=when if trigger == "report" else report.created_at,
            opened_at=when,
            expires_at=when + timedelta(days=days),
        ),
    )
    if not created:  # one watch per report and trigger
        return watch
    await record_event(
        session,
        actor=actor,
        action="retaliation.watch_opened",
        subject_type="retaliation_watch",
        subject_id=watch.id,
        details={
            "employer_id": str(watch.employer_id),
            "candidate_id": str(watch.candidate_id),
            "trigger": trigger,
            "report_id": str(report.id),
            "message_id": str(message.id),
            "reason": report.reason,
            "expires_at": watch.expires_at,
            "upheld_by": str(upheld_by) if upheld_by else None,
        },
    )
    return watch


def _is_protected(report: FlagReport, message: MessageRow, thread: ThreadPair) -> bool:
    return (
        report.reason in PROTECTED_REASONS
        and report.reporter_id == thread.candidate_id
        and message.sender_id == thread.employer_id
    )


async def _watch_for_report(
    session: AsyncSession, report_id: uuid.UUID, trigger: str
) -> RetaliationWatch | None:
    watch: RetaliationWatch | None = await session.scalar(
        select(RetaliationWatch)
        .where(RetaliationWatch.report_id == report_id, RetaliationWatch.trigger == trigger)
        .limit(1)
    )
    return watch


async def on_report(
    session: AsyncSession, report: FlagReport, message: MessageRow, thread: ThreadPair
) -> None:
    """In the transaction of a flag report (new or updated): a candidate's protected report
    against the employer opens a watch (once per report); the watched employer's report against
    the candidate opens an item and is held for compliance."""
    when = utcnow()
    if _is_protected(report, message, thread):
        await _open_watch(
            session,
            report=report,
            message=message,
            thread=thread,
            trigger="report",
            actor=Actor.user(report.reporter_id),
            when=when,
        )
        return
    if report.reporter_id != thread.employer_id or message.sender_id != thread.candidate_id:
        return
    await _adverse_action(
        session,
        employer_id=thread.employer_id,
        candidate_id=thread.candidate_id,
        action="reported",
        subject_type="flag_report",
        subject_id=report.id,
        actor=Actor.user(report.reporter_id),
        held_report_id=report.id,
        when=when,
    )


async def on_reports_upheld(
    session: AsyncSession, message: Message, reports: Iterable[FlagReport], *, decided_by: uuid.UUID
) -> None:
    """In the transaction of a decision that acts on ``reports`` (the message removed, its
    sender warned or suspended): each protected report among them opens a watch from now.

    Recorded as the system's (naming the staff member in ``upheld_by``): the watch follows from
    the decision, it is not something the moderator did, nor is it in their activity."""
    thread: MessageThread | None = None
    for report in reports:
        if report.reason not in PROTECTED_REASONS:
            continue
        thread = thread or await session.get(MessageThread, message.thread_id)
        if thread is None or not _is_protected(report, message, thread):
            continue
        await _open_watch(
            session,
            report=report,
            message=message,
            thread=thread,
            trigger="upheld",
            actor=Actor.system(),
            when=utcnow(),
            upheld_by=decided_by,
        )


# --- adverse actions ------------------------------------------------------------------------


async def standing_watch(
    session: AsyncSession, employer_id: uuid.UUID, candidate_id: uuid.UUID, at: datetime
) -> RetaliationWatch | None:
    """The watch on ``employer_id`` towards ``candidate_id`` standing at ``at``: of several, the
    one whose protected report is the latest (the closest in time to what follows)."""
    watch: RetaliationWatch | None = await session.scalar(
        select(RetaliationWatch)
        .where(
            RetaliationWatch.employer_id == employer_id,
            RetaliationWatch.candidate_id == candidate_id,
            RetaliationWatch.opened_at <= at,
            RetaliationWatch.expires_at > at,
        )
        .order_by(
            RetaliationWatch.reported_at.desc(),
            RetaliationWatch.opened_at.desc(),
            RetaliationWatch.id,
        )
        .limit(1)
    )
    return watch


async def _adverse_action(
    session: AsyncSession,
    *,
    employer_id: uuid.UUID,
    candidate_id: uuid.UUID,
    action: str,
    subject_type: str,
    subject_id: uuid.UUID,
    actor: Actor,
    when: datetime | None = None,
    held_report_id: uuid.UUID | None = None,
) -> RetaliationItem | None:
    when = when or utcnow()
    watch = await standing_watch(session, employer_id, candidate_id, when)
    if watch is None:
        return None

    def make() -> RetaliationItem:
        return RetaliationItem(
            watch_id=watch.id,
            employer_id=employer_id,
            candidate_id=candidate_id,
            action=action,
            action_at=when,
            subject_type=subject_type,
            subject_id=subject_id,
            days_since_report=(when - watch.reported_at).days,
            held_report_id=held_report_id,
            status="open",
        )

    if held_report_id is None:
        item = make()
        session.add(item)
        await session.flush()
    else:  # a counter-report is held once, whatever else flags it meanwhile
        item, created = await get_or_insert(
            session, find=lambda: _item_holding(session, held_report_id), make=make
        )
        if not created:
            return item
    await record_event(
        session,
        actor=actor,
        action="retaliation.item_opened",
        subject_type="retaliation_item",
        subject_id=item.id,
        details={
            "watch_id": str(watch.id),
            "employer_id": str(employer_id),
            "candidate_id": str(candidate_id),
            "action": action,
            "subject_type": subject_type,
            "subject_id": str(subject_id),
            "protected_report_id": str(watch.report_id),
            "reported_at": watch.reported_at,
            "days_since_report": item.days_since_report,
            "held_report_id": str(held_report_id) if held_report_id else None,
        },
    )
    return item


async def _item_holding(session: AsyncSession, report_id: uuid.UUID) -> RetaliationItem | None:
    item: RetaliationItem | None = await session.scalar(
        select(RetaliationItem).where(RetaliationItem.held_report_id == report_id)
    )
    return item


async def on_application_status(
    session: AsyncSession,
    *,
    application_id: uuid.UUID,
    employer_id: uuid.UUID,
    candidate_id: uuid.UUID,
    status: str,
    actor: Actor,
) -> None:
    """In the transaction of a provisioned status change: rejected or withdrawn is adverse."""
    action = ADVERSE_STATUSES.get(status)
    if action is not None:
        await _adverse_action(
            session,
            employer_id=employer_id,
            candidate_id=candidate_id,
            action=action,
            subject_type="application",
            subject_id=application_id,
            actor=actor,
        )


async def on_block(
    session: AsyncSession,
    *,
    blocker_id: uuid.UUID,
    blocker_role: str,
    blocked: User,
    block_id: uuid.UUID,
) -> None:
    """In the transaction of a new block: an employer blocking a candidate is adverse."""
    if blocker_role != "employer" or blocked.role != "candidate":
        return
    await _adverse_action(
        session,
        employer_id=blocker_id,
        candidate_id=blocked.id,
        action="blocked",
        subject_type="block",
        subject_id=block_id,
        actor=Actor.user(blocker_id),
    )


async def on_thread_deleted(
    session: AsyncSession, thread: ThreadPair, *, deleted_by: uuid.UUID
) -> None:
    """In the transaction of a thread's deletion: the employer deleting it is adverse."""
    if deleted_by != thread.employer_id:
        return
    await _adverse_action(
        session,
        employer_id=thread.employer_id,
        candidate_id=thread.candidate_id,
        action="thread_deleted",
        subject_type="thread",
        subject_id=thread.id,
        actor=Actor.user(deleted_by),
    )


# --- the hold on counter-reports --------------------------------------------------------------


async def held_reports(
    session: AsyncSession, report_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, RetaliationItem]:
    """Of ``report_ids``, those held for compliance review (not yet released), with the item."""
    if not report_ids:
        return {}
    items = await session.scalars(
        select(RetaliationItem).where(
            RetaliationItem.held_report_id.in_(list(report_ids)),
            RetaliationItem.released_at.is_(None),
        )
    )
    return {item.held_report_id: item for item in items if item.held_report_id is not None}


def held_message_ids() -> Select[tuple[uuid.UUID]]:
    """SQL: the messages with a report held for compliance review (for the queue's "next")."""
    return (
        select(FlagReport.message_id)
        .join(RetaliationItem, RetaliationItem.held_report_id == FlagReport.id)
        .where(RetaliationItem.released_at.is_(None))
    )


async def held_messages(session: AsyncSession, message_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Of ``message_ids``, those with a report held for compliance review."""
    if not message_ids:
        return set()
    rows = await session.scalars(
        select(FlagReport.message_id)
        .join(RetaliationItem, RetaliationItem.held_report_id == FlagReport.id)
        .where(FlagReport.message_id.in_(list(message_ids)), RetaliationItem.released_at.is_(None))
    )
    return set(rows)


async def ensure_not_held(session: AsyncSession, reports: Sequence[FlagReport]) -> None:
    """:class:`HeldForReview` when any of ``reports`` waits for compliance's review."""
    if await held_reports(session, [r.id for r in reports]):
        raise HeldForReview(f"this report is {HELD_EXPLANATION}")


# --- the compliance queue ---------------------------------------------------------------------


@dataclass(frozen=True)
class ItemView:
    """An item with its timeline, for the compliance page."""

    item: RetaliationItem
    watch: RetaliationWatch
    employer: User | None
    candidate: User | None
    reviewer_name: str | None = None

    @property
    def held(self) -> bool:
        return self.item.held_report_id is not None and self.item.released_at is None


async def list_items(
    session: AsyncSession, *, actor: Who, status: str = "open", limit: int = 200
) -> list[ItemView]:
    """The items in ``status`` (``open`` or ``reviewed``), oldest action first for open ones."""
    status = validation.one_of("status", status, ("open", "reviewed"))
    async with read_transaction(session):
        await permissions.authorize(session, actor, Capability.REVIEW_RETALIATION)
        order = (
            (RetaliationItem.action_at, RetaliationItem.id)
            if status == "open"
            else (RetaliationItem.reviewed_at.desc(), RetaliationItem.id)
        )
        rows = (
            await session.execute(
                select(RetaliationItem, RetaliationWatch)
                .join(RetaliationWatch, RetaliationWatch.id == RetaliationItem.watch_id)
                .where(RetaliationItem.status == status)
                .order_by(*order)
                .limit(limit)
            )
        ).all()
        people_ids = {r[0].employer_id for r in rows} | {r[0].candidate_id for r in rows}
        people = (
            {u.id: u for u in await session.scalars(select(User).where(User.id.in_(people_ids)))}
            if people_ids
            else {}
        )
        return [
            ItemView(item, watch, people.get(item.employer_id), people.get(item.candidate_id))
            for item, watch in rows
        ]


async def review_item(
    session: AsyncSession, item_id: uuid.UUID, *, actor: Who, note: str
) -> RetaliationItem:
    """Closes ``item_id`` with the compliance officer's note; a held report is released to the
    moderators' queue with it."""
    note = validation.text("note", note, max_length=MAX_NOTE_LENGTH)
    async with write_transaction(session):
        who = await permissions.authorize(session, actor, Capability.REVIEW_RETALIATION)
        item = await session.get(
            RetaliationItem, item_id, with_for_update=True, populate_existing=True
        )
        if item is None:
            raise NotFound(f"retaliation item {item_id} does not exist")
        if item.status != "open":
            raise Conflict(f"retaliation item {item_id} was already reviewed")
        now = utcnow()
        item.status = "reviewed"
        item.reviewed_by_id = who.id
        item.reviewed_at = now
        item.review_note = note
        if item.held_report_id is not None:
            item.released_at = now
        await session.flush()
        await record_event(
            session,
            actor=who,
            action="retaliation.item_reviewed",
            subject_type="retaliation_item",
            subject_id=item.id,
            details={
                "note": note,
                "released_report_id": str(item.held_report_id) if item.held_report_id else None,
            },
        )
    return item
