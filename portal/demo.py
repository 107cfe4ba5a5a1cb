"""``portal demo``: a small demo world, seeded once, through the same services as everything else.

Seeding is idempotent: people and staff are found by email, and a conversation is only written
when its pair has no thread yet, so running it again (every ``make run``) adds nothing.
"""

from __future__ import annotations

import uuid
from contextlib import suppress
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.errors import RateLimited
from portal.models import FlagReport, Message, MessageThread, StaffUser, User
from portal.services.appeals import file_appeal
from portal.services.applications import upsert_application
from portal.services.blocks import block_user
from portal.services.flags import flag_message
from portal.services.messaging import MessageDraft, mark_read, send_message
from portal.services.moderation import Grounds, warn_sender
from portal.services.notices import decisions_about
from portal.services.staff import create_staff
from portal.services.users import create_user
from portal.settings import Settings
from portal.tokens import issue_user_token

DEMO_PASSWORD = "demo-password-2026"
DEMO_RATE_LIMIT = 10
STAFF = (
    ("moderator@demo.example", "moderator", "Morgan Moderator"),
    ("compliance@demo.example", "compliance", "Casey Compliance"),
    ("admin@demo.example", "admin", "Alex Admin"),
)
PEOPLE = (
    ("ada@acme.example", "Ada Lovelace (Acme Robotics)", "employer"),
    ("grace@globex.example", "Grace Hopper (Globex)", "employer"),
    ("spam@quickjobs.example", "Quick Jobs Ltd", "employer"),
    ("alan@candidates.example", "Alan Turing", "candidate"),
    ("katherine@candidates.example", "Katherine Johnson", "candidate"),
    ("linus@candidates.example", "Linus Pauling", "candidate"),
)

# The moderation queue's share of the demo: three more senders, seven reported messages each,
# every reason among them, so grouping by sender, bulk decisions, the filters and the priority
# order all have something to show. Seven each keeps every sender under the demo's daily limit.
QUEUE_SENDERS = (
    ("jobs@fastcash.example", "FastCash Careers", "employer"),
    ("talent@rudeco.example", "RudeCo Talent", "employer"),
    ("boris@candidates.example", "Boris Badenov", "candidate"),
)
_ALAN, _KATHERINE, _LINUS = PEOPLE[3][0], PEOPLE[4][0], PEOPLE[5][0]
_ADA, _GRACE = PEOPLE[0][0], PEOPLE[1][0]
# sender -> (recipient, body, reason, the reporter's note)
QUEUE_REPORTS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    QUEUE_SENDERS[0][0]: (
        (_ALAN, "Send $150 for your starter kit and the job is yours.", "scam", "Fee up front."),
        (_KATHERINE, "Guaranteed $9,000/month! Reply YES now!!!", "spam", "Bulk pitch."),
        (_LINUS, "Pay the $75 background-check fee to this wallet.", "scam", "Crypto wallet."),
        (_ALAN, "Last chance: click fastcash.example/win to claim.", "spam", "A link farm."),
        (_KATHERINE, "Buy our course ($499) before the interview.", "scam", ""),
        (_LINUS, "Work from home!!! Millions made it, so can you!!!", "spam", ""),
        (_ALAN, "Your bank details, please, to set up the payroll today.", "scam", "Phishing."),
    ),
    QUEUE_SENDERS[1][0]: (
        (_ALAN, "I know where you live. Take the offer or else.", "harassment", "A threat."),
        (_KATHERINE, "We don't hire people of your background.", "discrimination", ""),
        (_LINUS, "Send a photo in swimwear with your application.", "inappropriate_content", ""),
        (_ALAN, "Only an idiot would turn this down.", "harassment", "Insulting."),
        (_KATHERINE, "Women never last in this team anyway.", "discrimination", "Sexist."),
        (_LINUS, "Here is my personal number, call me at night.", "other", "Feels off."),
        (_ALAN, "Answer me. I will keep writing until you do.", "harassment", "Repeated."),
    ),
    QUEUE_SENDERS[2][0]: (
        (_ADA, "Hire me or I'll post your home address online.", "harassment", "A threat."),
        (_GRACE, "Your recruiters are all [slur] anyway.", "discrimination", ""),
        (_ADA, "(an explicit image)", "inappropriate_content", "Explicit."),
        (_GRACE, "Check out my crypto channel for easy gains!", "spam", "Self-promotion."),
        (_ADA, "Give me the job and I'll give you a cut of my salary.", "other", "A bribe."),
        (_GRACE, "You are all useless. Useless!", "harassment", ""),
        (_ADA, "Visit boris.example to buy my CV template.", "spam", ""),
    ),
}


@dataclass
class DemoResult:
    created: bool
    token_user: User
    token_ttl_seconds: int = 7 * 24 * 3600
    people: dict[str, User] = field(default_factory=dict)

    def summary(self, settings: Settings) -> str:
        token = issue_user_token(settings, self.token_user.id, self.token_ttl_seconds)
        lines = [
            "Demo data " + ("seeded." if self.created else "already present; nothing added."),
            "",
            f"Staff logins (dashboard {settings.base_url}/mod, admin {settings.base_url}/admin):",
            *(f"  {email:<28} {DEMO_PASSWORD}   ({role})" for email, role, _ in STAFF),
            "",
            f"Bearer token for {self.token_user.display_name} ({self.token_user.role}), "
            "valid 7 days:",
            f"  {token}",
            "",
            f"End-user inbox: {settings.base_url}/inbox (sign in as a demo user by name)",
            "",
            "Try it (API docs at " + settings.base_url + "/schema):",
            f"  curl -H 'Authorization: Bearer <the token above>' "
            f"{settings.base_url}/api/v1/messages/threads",
        ]
        return "\n".join(lines)


async def _person(session: AsyncSession, email: str, name: str, role: str) -> User:
    existing = await session.scalar(select(User).where(User.email == email))
    if existing is not None:
        return existing
    return await create_user(
        session, email=email, display_name=name, role=role, actor=Actor.system()
    )


async def _has_thread(session: AsyncSession, employer: User, candidate: User) -> bool:
    found = await session.scalar(
        select(MessageThread.id).where(
            MessageThread.employer_id == employer.id, MessageThread.candidate_id == candidate.id
        )
    )
    return found is not None


async def _say(
    session: AsyncSession,
    settings: Settings,
    sender: User,
    recipient: User,
    body: str,
    *,
    application_id: uuid.UUID | None = None,
    subject: str | None = None,
    message_type: str = "general",
    body_format: str = "plain",
) -> uuid.UUID:
    sent = await send_message(
        session,
        sender_id=sender.id,
        draft=MessageDraft(
            recipient_id=recipient.id,
            body=body,
            body_format=body_format,
            message_type=message_type,
            subject=subject,
            application_id=application_id,
        ),
        settings=settings,
    )
    return sent.message.id


async def _decided_and_appealed(session: AsyncSession, people: dict[str, User]) -> None:
    """Morgan warns Katherine for her reported message, citing the harassment policy, and
    Katherine appeals: the appeal waits in /mod/appeals for someone other than Morgan."""
    katherine = people[PEOPLE[4][0]]
    moderator = await session.scalar(select(StaffUser).where(StaffUser.email == STAFF[0][0]))
    reported = await session.scalar(
        select(FlagReport.message_id)
        .join(Message, Message.id == FlagReport.message_id)
        .where(FlagReport.reason == "harassment", Message.sender_id == katherine.id)
        .limit(1)
    )
    if moderator is None or reported is None:
        return
    await warn_sender(
        session,
        reported,
        actor=moderator,
        note="First hostile message; a warning is enough.",
        grounds=Grounds(policy="harassment", public_note="We have asked them to stay civil."),
    )
    [decision, *_] = await decisions_about(session, katherine)
    await file_appeal(
        session,
        katherine,
        decision.id,
        "I was asking a fair question about the job ad.\nI did not mean to be rude.",
    )


async def _queue(session: AsyncSession, settings: Settings, people: dict[str, User]) -> None:
    """Each queue sender's reported messages, written once (its first pair has no thread yet)."""
    for email, name, role in QUEUE_SENDERS:
        sender = await _person(session, email, name, role)
        reports = QUEUE_REPORTS[email]
        first = people[reports[0][0]]
        pair = (sender, first) if role == "employer" else (first, sender)
        if await _has_thread(session, *pair):
            continue
        for recipient_email, body, reason, note in reports:
            recipient = people[recipient_email]
            message = await _say(session, settings, sender, recipient, body)
            await flag_message(session, recipient, message, reason=reason, note=note or None)


async def seed_demo(session: AsyncSession, settings: Settings) -> DemoResult:
    # The demo's flood below is written against a limit of 10 a day, whatever is configured.
    settings = replace(settings, rate_limit_messages=DEMO_RATE_LIMIT)
    created = await session.scalar(select(StaffUser.id).where(StaffUser.email == STAFF[-1][0]))
    people = {email: await _person(session, email, name, role) for email, name, role in PEOPLE}
    ada, grace, spam, alan, katherine, linus = (people[email] for email, _, _ in PEOPLE)

    if not await _has_thread(session, ada, alan):
        application, _ = await upsert_application(
            session,
            employer_id=ada.id,
            candidate_id=alan.id,
            job_title="Senior Robotics Engineer",
            status="interviewing",
            actor=Actor.system(),
        )
        first = await _say(
            session,
            settings,
            ada,
            alan,
            "<p>Hi Alan, thanks for applying. Could you do a <strong>45-minute</strong> call "
            "on Thursday at 10:00?</p>",
            application_id=application.id,
            subject="Interview for Senior Robotics Engineer",
            message_type="interview_invitation",
            body_format="html",
        )
        await mark_read(session, alan, first)
        await _say(
            session,
            settings,
            alan,
            ada,
            "Thursday at 10:00 works for me. Thank you!",
            application_id=application.id,
        )
        await _say(
            session,
            settings,
            ada,
            alan,
            "Great, the invite is on its way.",
            application_id=application.id,
            message_type="interview_invitation",
        )

    if not await _has_thread(session, grace, katherine):
        application, _ = await upsert_application(
            session,
            employer_id=grace.id,
            candidate_id=katherine.id,
            job_title="Flight Software Lead",
            status="offered",
            actor=Actor.system(),
        )
        await _say(
            session,
            settings,
            grace,
            katherine,
            "We'd love to make you an offer. The letter is attached in the portal.",
            application_id=application.id,
            message_type="offer_letter",
            subject="Your offer from Globex",
        )
        rude = await _say(
            session,
            settings,
            katherine,
            grace,
            "Is the salary negotiable? Also, who on earth wrote this job ad?",
            application_id=application.id,
        )
        await flag_message(
            session, grace, rude, reason="harassment", note="Tone is hostile; please review."
        )

    if not await _has_thread(session, spam, linus):
        pitch = await _say(
            session,
            settings,
            spam,
            linus,
            "Earn $5,000 a week from home! Pay a $99 registration fee to start.",
            subject="An amazing opportunity",
        )
        await flag_message(session, linus, pitch, reason="scam", note="Asks for money up front.")
        await block_user(session, linus, spam.id, reason="spam")
        await block_user(session, katherine, spam.id, reason="spam")
        # Quick Jobs keeps pitching to Alan: the daily limit refuses the last three attempts,
        # which staff see as one violation counting three attempts.
        for number in range(1, DEMO_RATE_LIMIT + 3):
            with suppress(RateLimited):
                await _say(
                    session,
                    settings,
                    spam,
                    alan,
                    f"Opportunity #{number}: work from home, no experience needed!",
                )

    await _queue(session, settings, people)

    if created is None:
        for email, role, name in STAFF:
            exists = await session.scalar(select(StaffUser.id).where(StaffUser.email == email))
            if exists is None:
                await create_staff(
                    session,
                    email=email,
                    role=role,
                    password=DEMO_PASSWORD,
                    display_name=name,
                    actor=Actor.system(),
                )
        await _decided_and_appealed(session, people)
    await session.commit()
    return DemoResult(created=created is None, token_user=ada, people=people)
