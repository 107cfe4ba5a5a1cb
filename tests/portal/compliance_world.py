"""A conversation with everything a compliance report must show, built through the services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.models import Message, StaffUser, User
from portal.services import moderation
from portal.services.applications import upsert_application
from portal.services.compliance.holds import place_hold
from portal.services.flags import flag_message
from portal.services.messaging import MessageDraft, send_message
from portal.services.staff import create_staff
from portal.services.threads import delete_thread
from portal.settings import Settings
from tests.people import person


@dataclass
class World:
    employer: User
    candidate: User
    moderator: StaffUser
    officer: StaffUser
    thread_id: uuid.UUID
    messages: list[Message]
    removed: Message


async def staff_member(session: AsyncSession, role: str) -> StaffUser:
    return await create_staff(
        session,
        email=f"{role}-{uuid.uuid4().hex[:8]}@staff.example",
        role=role,
        password="correct horse battery staple",
        display_name=f"{role.title()} One",
        actor=Actor.system(),
    )


async def send(
    session: AsyncSession,
    settings: Settings,
    sender: User,
    recipient: User,
    body: str,
    application_id: uuid.UUID | None = None,
) -> Message:
    sent = await send_message(
        session,
        sender_id=sender.id,
        draft=MessageDraft(
            recipient_id=recipient.id,
            body=body,
            subject="Interview",
            application_id=application_id,
        ),
        settings=settings,
    )
    return sent.message


async def build_world(session: AsyncSession, settings: Settings) -> World:
    employer = await person(session, "employer", "Ada Employer")
    candidate = await person(session, "candidate", "Grace Candidate")
    moderator = await staff_member(session, "moderator")
    officer = await staff_member(session, "compliance")
    application, _ = await upsert_application(
        session,
        employer_id=employer.id,
        candidate_id=candidate.id,
        job_title="Engineer",
        requisition_id="REQ-1",
        actor=Actor.service(),
    )
    bodies = [
        (employer, candidate, "Hello Grace, are you available?"),
        (candidate, employer, "Yes — Tuesday works. Ünïcödé ✓"),
        (employer, candidate, "Something offensive"),
        (candidate, employer, "Thanks, see you then."),
    ]
    messages = [
        await send(session, settings, sender, recipient, body, application.id)
        for sender, recipient, body in bodies
    ]
    thread_id = messages[0].thread_id
    removed = messages[2]
    await flag_message(session, candidate, removed.id, reason="harassment", note="rude")
    # The moderation dashboard's removal: the flag decided and the message withheld, one event.
    await moderation.remove_message(
        session,
        removed.id,
        actor=moderator,
        reason="harassment",
        grounds=moderation.Grounds(policy="spam"),
    )
    await place_hold(
        session,
        actor=Actor.staff(officer.id),
        reason="EEOC charge filed",
        case_reference="EEOC-2026-001",
        thread_id=thread_id,
    )
    await delete_thread(session, candidate, thread_id)
    return World(employer, candidate, moderator, officer, thread_id, messages, removed)
