"""The policy catalogue: administrators create and edit policies; every edit is a new version
recorded in the audit chain with its full content; bad input, a taken key and other roles are
refused with nothing changed; a decision keeps the version it cited."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.errors import Forbidden, InvalidInput, NotFound
from portal.models import AuditEvent, ModerationDecision, Policy
from portal.models.base import new_id
from portal.services import moderation, policies
from portal.settings import Settings
from tests.admin.support import snapshot
from tests.portal.moderation_support import report, send, staff, user

NEW = {
    "key": "fake_reviews",
    "title": "Fake reviews",
    "ground": "terms_of_service",
    "ground_reference": "Terms of Service, section 4.7",
    "category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "explanation": "The message offered payment for a review.",
}


async def _events(session: AsyncSession, action: str) -> list[AuditEvent]:
    async with read_transaction(session):
        return list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.position)
            )
        )


async def test_the_seeded_catalogue_is_listed_by_key(session: AsyncSession) -> None:
    listed = await policies.list_policies(session)
    keys = [p.key for p in listed]
    assert keys == sorted(keys)
    assert {"scam", "harassment", "discrimination", "spam", "off_platform", "personal_data"} <= set(
        keys
    )
    assert all(p.version == 1 and p.active for p in listed)
    found = await policies.get_policy(session, listed[0].id)
    assert found.key == listed[0].key
    with pytest.raises(NotFound):
        await policies.get_policy(session, new_id())


async def test_an_admin_creates_and_edits_and_each_edit_is_a_version(
    session: AsyncSession,
) -> None:
    admin = await staff(session, "admin", "Ada Admin")
    created = await policies.create_policy(session, actor=admin, **NEW)
    assert (created.key, created.version, created.active) == ("fake_reviews", 1, True)
    [event] = await _events(session, "policy.created")
    assert (event.actor_type, event.actor_id) == ("staff", admin.id)
    assert (event.subject_type, event.subject_id) == ("policy", created.id)
    assert event.details == {**NEW, "version": 1, "active": True}

    edited = await policies.update_policy(
        session,
        created.id,
        actor=admin,
        title="Fake or paid reviews",
        ground="illegal_content",
        ground_reference="Unfair Commercial Practices Directive, Annex I 23b",
        category="STATEMENT_CATEGORY_CONSUMER_INFORMATION",
        explanation="  Paying for reviews misleads other people.  ",
        active=False,
    )
    assert edited.version == 2 and not edited.active
    assert edited.explanation == "Paying for reviews misleads other people."
    [update] = await _events(session, "policy.updated")
    assert update.details == {
        "key": "fake_reviews",
        "version": 2,
        "previous_version": 1,
        "title": "Fake or paid reviews",
        "ground": "illegal_content",
        "ground_reference": "Unfair Commercial Practices Directive, Annex I 23b",
        "category": "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
        "explanation": "Paying for reviews misleads other people.",
        "active": False,
    }
    active = {p.key for p in await policies.list_policies(session, active_only=True)}
    assert "fake_reviews" not in active
    assert "fake_reviews" in {p.key for p in await policies.list_policies(session)}
    # an edit that changes nothing is still a new version, recorded
    again = await policies.update_policy(
        session,
        created.id,
        actor=admin,
        title=edited.title,
        ground=edited.ground,
        ground_reference=edited.ground_reference,
        category=edited.category,
        explanation=edited.explanation,
        active=True,
    )
    assert again.version == 3 and again.active
    assert len(await _events(session, "policy.updated")) == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"key": "Spam Two"}, "key"),
        ({"key": "x"}, "key"),
        ({"key": "a" * 65}, "key"),
        ({"key": "spam"}, "key"),  # taken
        ({"title": "  "}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"ground": "vibes"}, "ground"),
        ({"category": "STATEMENT_CATEGORY_MADE_UP"}, "category"),
        ({"ground_reference": "r" * 501}, "ground_reference"),
        ({"explanation": "   "}, "explanation"),
        ({"explanation": "e" * 2001}, "explanation"),
        ({"explanation": "nul\x00"}, "explanation"),
    ],
)
async def test_bad_input_is_refused_and_nothing_changes(
    session: AsyncSession, changes: dict[str, str], field: str
) -> None:
    admin = await staff(session, "admin")
    before = await snapshot(session)
    with pytest.raises(InvalidInput) as refused:
        await policies.create_policy(session, actor=admin, **{**NEW, **changes})
    assert refused.value.field == field
    assert await snapshot(session) == before


async def test_only_admins_manage_policies(session: AsyncSession) -> None:
    [spam] = [p for p in await policies.list_policies(session) if p.key == "spam"]
    before = await snapshot(session)
    for role in ("moderator", "compliance"):
        someone = await staff(session, role)
        before = await snapshot(session)
        with pytest.raises(Forbidden):
            await policies.create_policy(session, actor=someone, **NEW)
        with pytest.raises(Forbidden):
            await policies.update_policy(
                session,
                spam.id,
                actor=someone,
                title="x",
                ground="terms_of_service",
                ground_reference="y",
                category="STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
                explanation="z",
                active=False,
            )
        assert await snapshot(session) == before
    admin = await staff(session, "admin")
    with pytest.raises(NotFound):
        await policies.update_policy(
            session,
            new_id(),
            actor=admin,
            title="x",
            ground="terms_of_service",
            ground_reference="y",
            category="STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
            explanation="z",
            active=True,
        )


async def test_a_decision_keeps_the_version_it_cited(
    session: AsyncSession, settings: Settings
) -> None:
    admin = await staff(session, "admin")
    moderator = await staff(session, "moderator")
    sender, recipient = await user(session, "employer"), await user(session, "candidate")
    message = await send(session, settings, sender, recipient, "Buy followers")
    await report(session, message, recipient, "spam")
    [spam] = [p for p in await policies.list_policies(session) if p.key == "spam"]
    await policies.update_policy(
        session,
        spam.id,
        actor=admin,
        title="Spam",
        ground=spam.ground,
        ground_reference=spam.ground_reference,
        category=spam.category,
        explanation="Version two's words.",
        active=True,
    )
    await moderation.remove_message(
        session, message.id, actor=moderator, reason="spam", grounds=moderation.Grounds("spam")
    )
    async with read_transaction(session):
        decision = await session.scalar(
            select(ModerationDecision).where(ModerationDecision.message_id == message.id)
        )
        current = await session.get(Policy, spam.id)
    assert decision is not None and current is not None
    assert (decision.policy_version, decision.explanation) == (2, "Version two's words.")
    assert decision.policy_title == "Spam"
