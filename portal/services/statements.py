"""Statements of reasons (DSA Art. 17) and what reporters are told (Art. 16(5)).

Every decision about a person is written here, in the transaction of the decision itself: a
:class:`~portal.models.ModerationDecision` holding the statement as it was sent, which the
decision's audit event carries into the chain (:func:`audit_details`). The person it is about is
told by email and in the API; each reporter of the message is told the outcome, never the
sanction's details, the other person's account, or who else reported.

A restriction (a message removed, a warning, a suspension) must cite an active policy
(:func:`cite`); a dismissal cites none; a reversal names the decision it reverses.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import session_settings
from portal.errors import InvalidInput
from portal.models import FlagReport, Message, MessageThread, ModerationDecision, Policy, User
from portal.models.base import new_id
from portal.models.decisions import RESTRICTIONS, REVERSALS
from portal.services import notifications, validation

MAX_EXPLANATION_LENGTH: Final = 2000
MAX_PUBLIC_NOTE_LENGTH: Final = 1000
AUTOMATED_MEANS: Final = (
    "No automated means were used: a person at the platform reviewed the message and took this "
    "decision."
)

# What each kind of decision did, to the person it is about.
_DONE: Final = {
    "removed": "Your message was removed: the other person can no longer read it.",
    # a dismissal's record (shown to staff; its reporters are told with outcome_paragraphs)
    "dismissed": "No violation was found: the reported message stays and no action was taken.",
    "warned": "You received a warning. Your message and your account are not restricted.",
    "suspended": "Your account was suspended: you cannot send messages while it lasts.",
    "restored": "Your message was restored: the other person can read it again.",
    "warning_withdrawn": "The warning you received was withdrawn.",
    "suspension_lifted": "The suspension of your account was lifted: you can send messages again.",
    "suspension_shortened": "The suspension of your account was shortened.",
}
_SUBJECT: Final = {
    "removed": "We removed one of your messages",
    "warned": "A warning about one of your messages",
    "suspended": "Your account has been suspended",
    "restored": "Your message has been restored",
    "warning_withdrawn": "A warning has been withdrawn",
    "suspension_lifted": "Your account's suspension has been lifted",
    "suspension_shortened": "Your account's suspension has been shortened",
}


@dataclass(frozen=True)
class Citation:
    """The policy a restriction cites and the words it is explained in."""

    policy: Policy
    explanation: str
    public_note: str | None


@dataclass(frozen=True)
class Grounds:
    """What a decision tells people: the policy a restriction cites (its key), the explanation
    to the sender (the policy's own unless given), and the public note to the reporters."""

    policy: str | None = None
    explanation: str | None = None
    public_note: str | None = None

    def checked(self) -> Grounds:
        explanation, public_note = checked_texts(self.explanation, self.public_note)
        return Grounds(self.policy, explanation, public_note)


def checked_texts(
    explanation: str | None, public_note: str | None
) -> tuple[str | None, str | None]:
    """The explanation and public note as given, validated before any transaction begins."""
    return (
        validation.optional_note("explanation", explanation, max_length=MAX_EXPLANATION_LENGTH),
        validation.optional_note("public_note", public_note, max_length=MAX_PUBLIC_NOTE_LENGTH),
    )


async def cite(
    session: AsyncSession,
    policy: str | None,
    *,
    explanation: str | None = None,
    public_note: str | None = None,
) -> Citation:
    """The active policy named ``policy`` (its key) with the explanation (the policy's own
    unless the moderator wrote one). InvalidInput when no policy is named or it is not active."""
    key = (policy or "").strip()
    if not key:
        raise InvalidInput("policy", "a restriction must cite a policy")
    found = await session.scalar(select(Policy).where(Policy.key == key))
    if found is None or not found.active:
        raise InvalidInput("policy", f"{key!r} is not an active policy")
    explanation, public_note = checked_texts(explanation, public_note)
    return Citation(found, explanation or found.explanation, public_note)


def add_months(when: datetime, months: int) -> datetime:
    """``when`` plus calendar months, on the same day or the month's last."""
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def _policy_columns(
    policy: Policy | None, reverses: ModerationDecision | None
) -> dict[str, object]:
    """The cited version's words, copied; a reversal names the rule of what it reverses."""
    if policy is not None:
        return {
            "policy_id": policy.id,
            "policy_version": policy.version,
            "policy_key": policy.key,
            "policy_title": policy.title,
            "ground": policy.ground,
            "ground_reference": policy.ground_reference,
            "category": policy.category,
        }
    if reverses is not None:
        return {
            name: getattr(reverses, name)
            for name in (
                "policy_id",
                "policy_version",
                "policy_key",
                "policy_title",
                "ground",
                "ground_reference",
                "category",
            )
        }
    return {}


def _when(moment: datetime | None) -> str:
    return f"{moment:%d %B %Y, %H:%M} UTC" if moment else ""


async def _about_message(
    session: AsyncSession, message: Message | None, *, sender: bool = True
) -> str | None:
    if message is None:
        return None
    job = await session.scalar(
        select(MessageThread.subject).where(MessageThread.id == message.thread_id)
    )
    if not sender:
        where = f' in the conversation about "{job}"' if job else ""
        return f"It concerns the message reported, sent on {_when(message.created_at)}{where}."
    where = f' in your conversation about "{job}"' if job else ""
    return f"It concerns the message you sent on {_when(message.created_at)}{where}."


def _statement(
    decision: ModerationDecision,
    *,
    about: str | None,
    reversed_kind: str | None,
    appeal_months: int | None,
    opening: str | None = None,
) -> str:
    lines = [opening or _DONE.get(decision.kind, "")]
    if decision.kind == "suspended" or decision.kind == "suspension_shortened":
        lines.append(
            f"It ends on {_when(decision.restricted_until)}."
            if decision.restricted_until
            else "It has no end date: it lasts until it is lifted."
        )
    if about:
        lines.append(about)
    if decision.kind in RESTRICTIONS:
        lines.append(
            "We reviewed it after another user reported it."
            if decision.source == "notice"
            else "We reviewed it on our own initiative."
        )
        lines.append(
            f"The rule applied: {decision.policy_title}. The content is illegal under "
            f"{decision.ground_reference}."
            if decision.ground == "illegal_content"
            else f"The rule applied: {decision.policy_title} ({decision.ground_reference})."
        )
    elif reversed_kind is not None:
        lines.append(f"This reverses an earlier decision ({reversed_kind.replace('_', ' ')}).")
    if decision.explanation:
        lines.append(f"Why: {decision.explanation}")
    lines.append(AUTOMATED_MEANS)
    if decision.appealable_until is not None and appeal_months is not None:
        lines.append(
            f"If you disagree, you can appeal this decision in the app until "
            f"{_when(decision.appealable_until)}; a different member of our team will review "
            "it. You may also turn to a certified out-of-court dispute settlement body or a court."
        )
    return "\n".join(line for line in lines if line)


async def issue(
    session: AsyncSession,
    *,
    kind: str,
    user_id: uuid.UUID | None,
    decided_by_id: uuid.UUID | None,
    when: datetime,
    source: str,
    citation: Citation | None = None,
    explanation: str | None = None,
    public_note: str | None = None,
    internal_note: str | None = None,
    message: Message | None = None,
    thread_id: uuid.UUID | None = None,
    restricted_until: datetime | None = None,
    days: int | None = None,
    reverses: ModerationDecision | None = None,
    appealable: bool = True,
    notify: bool = True,
    opening: str | None = None,
) -> ModerationDecision:
    """Writes the decision with its statement of reasons and queues its email to the person it
    is about (not for a dismissal: they were never told of the report; not with ``notify``
    False, when the caller tells them in its own notice; ``opening`` replaces the kind's first
    line of the statement, what was done). Inside the decision's
    transaction; the caller's audit event adds :func:`audit_details`."""
    settings = session_settings(session)
    if kind in RESTRICTIONS and citation is None:
        raise InvalidInput("policy", "a restriction must cite a policy")
    policy = citation.policy if citation else None
    decision = ModerationDecision(
        id=new_id(),
        kind=kind,
        user_id=user_id,
        message_id=message.id if message else None,
        thread_id=message.thread_id if message else thread_id,
        source=source,
        **_policy_columns(policy, reverses),
        explanation=citation.explanation if citation else (explanation or ""),
        public_note=citation.public_note if citation else public_note,
        internal_note=internal_note,
        restricted_until=restricted_until,
        days=days,
        automated=False,
        decided_by_id=decided_by_id,
        appealable_until=(
            add_months(when, settings.appeal_window_months)
            if appealable and kind not in REVERSALS
            else None
        ),
        reverses_id=reverses.id if reverses else None,
        created_at=when,
    )
    if reverses is not None:
        if not decision.explanation:
            decision.explanation = "A review found that the earlier decision should not stand."
        reverses.overturned = (
            "partially_overturned" if kind == "suspension_shortened" else "overturned"
        )
        reverses.overturned_at = when
    decision.statement = _statement(
        decision,
        about=await _about_message(session, message, sender=kind != "dismissed"),
        reversed_kind=reverses.kind if reverses else None,
        appeal_months=settings.appeal_window_months,
        opening=opening,
    )
    session.add(decision)
    if notify and kind != "dismissed" and user_id is not None:
        person = await session.get(User, user_id)
        if person is not None:
            await notifications.queue_notice(
                session,
                recipient=person,
                subject=_SUBJECT.get(kind, "A moderation decision about you"),
                paragraphs=decision.statement.split("\n"),
                settings=settings,
                thread_id=decision.thread_id,
            )
    await session.flush()
    return decision


def audit_details(decision: ModerationDecision) -> dict[str, object]:
    """What the decision's audit event records of its statement."""
    return {
        "decision_id": str(decision.id),
        "policy": decision.policy_key,
        "policy_version": decision.policy_version,
        "ground": decision.ground,
        "category": decision.category,
        "source": decision.source,
        "public_note": decision.public_note,
        "statement": decision.statement,
        "appealable_until": decision.appealable_until,
        "reverses": str(decision.reverses_id) if decision.reverses_id else None,
    }


def outcome(decision: ModerationDecision | None, report_status: str) -> str:
    """What a reporter is told of their report: received, action taken, or no violation."""
    if decision is None:
        return "received" if report_status != "escalated" else "under_review"
    return "no_violation" if decision.kind == "dismissed" else "action_taken"


def outcome_paragraphs(decision: ModerationDecision) -> list[str]:
    """The reporter's notice: the outcome, the policy when action was taken, the public note,
    and their redress; nothing of the sanction or of the other person's account."""
    if decision.kind == "dismissed":
        lines = [
            "We reviewed the message you reported and found no violation of our rules, so we "
            "took no action on it."
        ]
    else:
        lines = [
            "We reviewed the message you reported and took action under our rule: "
            f"{decision.policy_title}."
        ]
    if decision.public_note:
        lines.append(f"Note from our team: {decision.public_note}")
    lines.append(AUTOMATED_MEANS)
    if decision.kind == "dismissed" and decision.appealable_until is not None:
        lines.append(
            f"If you disagree, you can appeal this outcome in the app until "
            f"{_when(decision.appealable_until)}; a different member of our team will review it."
        )
    return lines


async def tell_reporters(
    session: AsyncSession, reports: Sequence[FlagReport], decision: ModerationDecision
) -> None:
    """Closes ``reports`` with ``decision`` (each reporter's outcome) and emails each reporter
    who is not using the app now; they see it in the API either way."""
    settings = session_settings(session)
    for report in reports:
        report.decision_id = decision.id
        reporter = await session.get(User, report.reporter_id)
        if reporter is None:
            continue
        await notifications.queue_notice(
            session,
            recipient=reporter,
            subject="The outcome of your report",
            paragraphs=outcome_paragraphs(decision),
            settings=settings,
            thread_id=decision.thread_id,
            only_if_offline=True,
        )
