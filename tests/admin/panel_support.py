"""A small world for the admin panel tests: every table holds a row (a flagged message, a block,
a rate-limit violation, a hold, a note, an email), and one client signed in per role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.database import write_transaction
from portal.models import (
    Application,
    EmailOutbox,
    LegalHold,
    MessageBlock,
    ModeratorNote,
    RateLimitViolation,
)
from portal.models.base import new_id, utcnow
from portal.services.compliance.holds import place_hold
from portal.settings import Settings
from tests.admin.support import World, make_world


@dataclass
class PanelWorld:
    base: World
    thread_id: uuid.UUID
    block_id: uuid.UUID
    violation_id: uuid.UUID
    application_id: uuid.UUID
    hold_id: uuid.UUID
    note_id: uuid.UUID
    outbox_id: uuid.UUID

    def __getattr__(self, name: str) -> object:
        return getattr(self.base, name)


async def make_panel_world(session: AsyncSession, settings: Settings) -> PanelWorld:
    world = await make_world(session, settings)
    now = utcnow()
    application = Application(
        id=new_id(),
        employer_id=world.sender.id,
        candidate_id=world.recipient.id,
        job_title="Line cook",
        requisition_id="REQ-1",
    )
    block = MessageBlock(
        id=new_id(), blocker_id=world.recipient.id, blocked_id=world.sender.id, reason="harassment"
    )
    violation = RateLimitViolation(
        id=new_id(),
        user_id=world.sender.id,
        first_attempt_at=now - timedelta(minutes=5),
        last_attempt_at=now,
        attempts=3,
        count_in_window=10,
        limit=10,
        window_seconds=86400,
    )
    note = ModeratorNote(
        id=new_id(), author_id=world.moderator.id, user_id=world.sender.id, body="x"
    )
    outbox = EmailOutbox(
        id=new_id(),
        message_id=None,
        recipient_id=world.recipient.id,
        to_address="cody@example.com",
        subject="New message",
        body_text="hello",
        status="skipped",
    )
    async with write_transaction(session):
        session.add_all([application, block, violation, note, outbox])
    hold = await place_hold(
        session,
        actor=Actor.staff(world.compliance.id),
        reason="charge filed",
        case_reference="EEOC-1",
        user_id=world.recipient.id,
    )
    assert isinstance(hold, LegalHold)
    return PanelWorld(
        base=world,
        thread_id=world.message.thread_id,
        block_id=block.id,
        violation_id=violation.id,
        application_id=application.id,
        hold_id=hold.id,
        note_id=note.id,
        outbox_id=outbox.id,
    )
