"""A world whose overview trends are known by hand.

Rows are written with the ORM at chosen times relative to ``now`` (the services that decide are
not what is tested here); claims are audit events at chosen times. With ``now`` = Wednesday
2026-06-10 12:00 UTC (:data:`NOW`):

    report  message  reason          made         state                      first action
    r1      m1       spam            06-10 08:00  open
    r2      m2       harassment      06-09 12:00  claimed by Ada (13:00)
    r3      m3       scam            06-08 10:00  escalated
    r4      m4       spam            06-01 00:00  removed by Ada 06-01 02:00  claim 00:30 (30 min)
    r5      m5       discrimination  06-02 00:00  dismissed by Ben 06:00     the decision (6 h)
    r6      m6       spam            06-08 00:00  warned by Ada 01:00        the decision (1 h)
    r7      m7       spam            01-01 00:00  open (before the 90 days)
    (a claim on m4 on 05-31, before r4, is no action on r4)

Open at the end of each day: 1 (r7) until 06-08, 2 on 06-08, 3 on 06-09, 4 on 06-10.
Week of 06-01: first action 30 min and 6 h (median 3 h 15 min, p90 6 h), handling 2 h and 6 h
(median 4 h, p90 6 h). Week of 06-08: r6, 1 h and 1 h.
Decisions: removed (d1, policy spam, Ada), dismissed (d2, no policy, Ben), warned (d3, policy
harassment, Ada). Appeals: d1's overturned 06-03, d2's upheld 06-04, d3's still open.
Per moderator: Ada 2 decisions, handling median 1 h 30 min, 1 of 1 appeals overturned; Ben 1,
6 h, 0 of 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, record_event
from portal.database import write_transaction
from portal.models import Appeal, FlagReport, Message, ModerationDecision, StaffUser, User
from portal.models.base import new_id
from portal.settings import Settings
from tests.conftest import settings_with
from tests.portal.moderation_support import send, staff, user

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


@dataclass
class TrendsWorld:
    ada: StaffUser
    ben: StaffUser
    admin: StaffUser
    moderator: StaffUser
    messages: list[Message]


async def build(session: AsyncSession, settings: Settings, now: datetime = NOW) -> TrendsWorld:
    def at(days: float = 0, hours: float = 0) -> datetime:
        """``days`` and ``hours`` before ``now``."""
        return now - timedelta(days=days, hours=hours)

    ada = await staff(session, "moderator", "Ada Lindqvist")
    ben = await staff(session, "moderator", "Ben Okafor")
    admin = await staff(session, "admin", "Ann Admin")
    moderator = await staff(session, "moderator", "Mo Viewer")
    sender = await user(session, "employer", "Trend Employer")
    recipient: User = await user(session, "candidate", "Trend Candidate")
    roomy = settings_with(settings, rate_limit_messages=1000)
    messages = [await send(session, roomy, sender, recipient, f"message {i}") for i in range(1, 8)]
    m = {i + 1: message for i, message in enumerate(messages)}

    def decision(
        kind: str, by: StaffUser, when: datetime, message: Message, policy: str | None
    ) -> ModerationDecision:
        return ModerationDecision(
            id=new_id(),
            kind=kind,
            user_id=sender.id,
            message_id=message.id,
            thread_id=message.thread_id,
            source="notice",
            policy_key=policy,
            explanation="x",
            statement="x",
            decided_by_id=by.id,
            created_at=when,
        )

    d1 = decision("removed", ada, at(9, 10), m[4], "spam")  # 06-01 02:00
    d2 = decision("dismissed", ben, at(8, 6), m[5], None)  # 06-02 06:00
    d3 = decision("warned", ada, at(2, 11), m[6], "harassment")  # 06-08 01:00

    def report(
        message: Message,
        reason: str,
        made: datetime,
        status: str = "open",
        *,
        by: StaffUser | None = None,
        decided: ModerationDecision | None = None,
    ) -> FlagReport:
        return FlagReport(
            id=new_id(),
            message_id=message.id,
            reporter_id=recipient.id,
            reason=reason,
            status=status,
            assigned_to_id=by.id if status == "claimed" and by else None,
            decided_by_id=by.id if decided and by else None,
            decided_at=decided.created_at if decided else None,
            decision=decided.kind if decided else None,
            decision_id=decided.id if decided else None,
            created_at=made,
            updated_at=made,
        )

    def appeal(on: ModerationDecision, status: str, decided: datetime | None) -> Appeal:
        return Appeal(
            id=new_id(),
            decision_id=on.id,
            appellant_id=sender.id,
            basis="sanctioned_user",
            text="please",
            status=status,
            decided_by_id=admin.id if decided else None,
            decided_at=decided,
            created_at=on.created_at + timedelta(hours=1),
        )

    async with write_transaction(session):
        session.add_all([d1, d2, d3])
        await session.flush()
        session.add_all(
            [
                report(m[1], "spam", at(0, 4)),
                report(m[2], "harassment", at(1), "claimed", by=ada),
                report(m[3], "scam", at(2, 2), "escalated"),
                report(m[4], "spam", at(9, 12), "actioned", by=ada, decided=d1),
                report(m[5], "discrimination", at(8, 12), "dismissed", by=ben, decided=d2),
                report(m[6], "spam", at(2, 12), "actioned", by=ada, decided=d3),
                report(m[7], "spam", at(160, 12)),
                appeal(d1, "overturned", at(7, 12)),
                appeal(d2, "upheld", at(6, 12)),
                appeal(d3, "open", None),
            ]
        )
        for message, when in ((m[2], at(0, 23)), (m[4], at(9, 11.5)), (m[4], at(10, 12))):
            await record_event(
                session,
                actor=Actor.staff(ada.id),
                action="moderation.claimed",
                subject_type="message",
                subject_id=message.id,
                thread_id=message.thread_id,
                occurred_at=when,
            )
    return TrendsWorld(ada, ben, admin, moderator, messages)
