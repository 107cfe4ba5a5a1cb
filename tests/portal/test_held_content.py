"""The database refuses to change a held message's content (subject, body, body_format,
attachments) whoever asks, as it refuses to delete it; an unheld message's content can change
(the retention purge empties it)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.models import LegalHold, Message
from portal.services.compliance.holds import lift_hold, place_hold
from portal.settings import Settings
from tests.conftest import settings_with
from tests.people import person
from tests.portal.compliance_world import send

OFFICER = Actor.system()

EDITS = (
    {"body": "I withdraw my complaint"},
    {"subject": "Nothing to see"},
    {"body_format": "html"},
    {"attachments": [{"filename": "forged.pdf", "size": 1}]},
)


async def test_a_held_messages_content_cannot_be_changed(
    session: AsyncSession, owner_session: AsyncSession, settings: Settings
) -> None:
    settings = settings_with(settings, rate_limit_messages=100)
    employer, candidate = await person(session, "employer"), await person(session, "candidate")
    held = await send(session, settings, employer, candidate, "the complaint")
    other = await send(session, settings, await person(session, "employer"), candidate, "unheld")
    hold = await place_hold(
        session, actor=OFFICER, reason="charge", case_reference="C-1", thread_id=held.thread_id
    )
    held_id, other_id, hold_id = held.id, other.id, hold.id
    await session.commit()
    # As the app's role and as the schema's owner (the trigger does not care who asks).
    for who in (session, owner_session):
        for edit in EDITS:
            with pytest.raises(DBAPIError, match="legal hold"):
                async with who.begin():
                    await who.execute(update(Message).where(Message.id == held_id).values(**edit))
    assert (
        await session.scalar(select(Message.body).where(Message.id == held_id)) == "the complaint"
    )
    await session.commit()

    # Other columns of a held message still change (reading it, flagging it).
    async with session.begin():
        await session.execute(update(Message).where(Message.id == held_id).values(is_read=True))
    # An unheld message's content can change.
    async with session.begin():
        await session.execute(update(Message).where(Message.id == other_id).values(body="edited"))
    assert await session.scalar(select(Message.body).where(Message.id == other_id)) == "edited"
    await session.commit()

    # Once the hold is lifted, so can the formerly held one.
    await lift_hold(session, hold_id, actor=OFFICER, reason="closed")
    async with session.begin():
        await session.execute(update(Message).where(Message.id == held_id).values(body="x"))
    assert await session.scalar(select(Message.body).where(Message.id == held_id)) == "x"


async def test_a_hold_is_lifted_once_and_never_rewritten(
    session: AsyncSession, owner_session: AsyncSession, settings: Settings
) -> None:
    """A hold row changes once, when it is lifted, in its lifted_* columns only: as the app's
    role and as the owner, no rewriting a standing hold, un-lifting, or re-lifting."""
    user = await person(session, "candidate")
    standing = await place_hold(
        session, actor=OFFICER, reason="charge", case_reference="C-7", user_id=user.id
    )
    lifted = await place_hold(
        session, actor=OFFICER, reason="charge", case_reference="C-8", user_id=user.id
    )
    lifted = await lift_hold(session, lifted.id, actor=OFFICER, reason="settled")
    standing_id, lifted_id = standing.id, lifted.id
    await session.commit()
    rewrites = (
        (standing_id, {"case_reference": "NOTHING"}),
        (lifted_id, {"lifted_reason": "never mind"}),
        (lifted_id, {"lifted_at": None, "lifted_by_type": None, "lifted_reason": None}),
    )
    for who in (owner_session, session):
        for hold_id, values in rewrites:
            with pytest.raises(DBAPIError, match=r"lifted, once|permission denied"):
                async with who.begin():
                    await who.execute(
                        update(LegalHold).where(LegalHold.id == hold_id).values(**values)
                    )
    reasons = dict(
        (await session.execute(select(LegalHold.case_reference, LegalHold.lifted_reason))).all()
    )
    assert reasons == {"C-7": None, "C-8": "settled"}
