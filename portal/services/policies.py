"""The catalogue of policies decisions cite (issue 17): read by every staff page that takes a
restriction, edited by administrators.

Every edit moves ``version`` on by one and records ``policy.created`` / ``policy.updated`` with
the full new content, so the audit chain holds every wording a decision may have cited (a
decision keeps the version it cited and a copy of its words). A policy is never deleted: one no
longer cited is made inactive.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import record_event
from portal.database import get_or_insert, lock_row, write_transaction
from portal.errors import InvalidInput, NotFound
from portal.models import Policy, StaffUser
from portal.models.base import utcnow
from portal.models.decisions import DSA_CATEGORIES, POLICY_GROUNDS
from portal.services import validation

KEY_PATTERN: Final = re.compile(r"[a-z0-9_]{2,64}")
MAX_TITLE_LENGTH: Final = 200
MAX_GROUND_REFERENCE_LENGTH: Final = 500
MAX_EXPLANATION_LENGTH: Final = 2000
# What an edit may change (the key is the policy's name in decisions and forms: fixed).
FIELDS: Final = ("title", "ground", "ground_reference", "category", "explanation", "active")


def _content(policy: Policy) -> dict[str, object]:
    """A policy's full content as its audit event records it."""
    return {
        "key": policy.key,
        "version": policy.version,
        "title": policy.title,
        "ground": policy.ground,
        "ground_reference": policy.ground_reference,
        "category": policy.category,
        "explanation": policy.explanation,
        "active": policy.active,
    }


def _key(value: str) -> str:
    key = (value or "").strip()
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidInput("key", "must be 2 to 64 lower-case letters, digits or underscores")
    return key


def _explanation(value: str) -> str:
    checked = validation.optional_note("explanation", value, max_length=MAX_EXPLANATION_LENGTH)
    if checked is None:
        raise InvalidInput("explanation", "must not be empty")
    return checked


def _checked(
    *, title: str, ground: str, ground_reference: str, category: str, explanation: str
) -> dict[str, object]:
    return {
        "title": validation.text("title", title, max_length=MAX_TITLE_LENGTH),
        "ground": validation.one_of("ground", (ground or "").strip(), POLICY_GROUNDS),
        "ground_reference": validation.text(
            "ground_reference", ground_reference, max_length=MAX_GROUND_REFERENCE_LENGTH
        ),
        "category": validation.one_of("category", (category or "").strip(), DSA_CATEGORIES),
        "explanation": _explanation(explanation),
    }


async def list_policies(session: AsyncSession, *, active_only: bool = False) -> list[Policy]:
    """The policies, by key (active ones only if asked). One statement: on a request session
    it runs in autocommit, without a transaction of its own."""
    query = select(Policy).order_by(Policy.key)
    if active_only:
        query = query.where(Policy.active.is_(True))
    return list(await session.scalars(query))


async def get_policy(session: AsyncSession, policy_id: uuid.UUID) -> Policy:
    """The policy with this id, or NotFound."""
    found = await session.scalar(
        select(Policy).where(Policy.id == policy_id).execution_options(populate_existing=True)
    )
    if found is None:
        raise NotFound(f"policy {policy_id} does not exist")
    return found


async def create_policy(
    session: AsyncSession,
    *,
    actor: StaffUser,
    key: str,
    title: str,
    ground: str,
    ground_reference: str,
    category: str,
    explanation: str,
) -> Policy:
    """A new active policy at version 1 (administrators: MANAGE_POLICIES). InvalidInput
    ("key") when another policy has the key."""
    permissions.require(actor, permissions.Capability.MANAGE_POLICIES)
    key = _key(key)
    values = _checked(
        title=title,
        ground=ground,
        ground_reference=ground_reference,
        category=category,
        explanation=explanation,
    )
    async with write_transaction(session):
        policy, created = await get_or_insert(
            session,
            find=lambda: session.scalar(select(Policy).where(Policy.key == key)),
            make=lambda: Policy(key=key, active=True, version=1, **values),
        )
        if not created:
            raise InvalidInput("key", f"a policy with the key {key!r} already exists")
        await record_event(
            session,
            actor=permissions.audit_actor(actor),
            action="policy.created",
            subject_type="policy",
            subject_id=policy.id,
            details=_content(policy),
        )
    return policy


async def update_policy(
    session: AsyncSession,
    policy_id: uuid.UUID,
    *,
    actor: StaffUser,
    title: str,
    ground: str,
    ground_reference: str,
    category: str,
    explanation: str,
    active: bool,
) -> Policy:
    """The policy's new wording and whether it is active (administrators: MANAGE_POLICIES).
    Every edit is a new version, recorded with its full content; decisions already taken keep
    the version they cited. NotFound for an unknown id."""
    permissions.require(actor, permissions.Capability.MANAGE_POLICIES)
    values = _checked(
        title=title,
        ground=ground,
        ground_reference=ground_reference,
        category=category,
        explanation=explanation,
    )
    values["active"] = bool(active)
    async with write_transaction(session):
        policy = await lock_row(session, Policy, policy_id, what="policy")
        previous = policy.version
        for name, value in values.items():
            setattr(policy, name, value)
        policy.version = previous + 1
        policy.updated_at = utcnow()
        await record_event(
            session,
            actor=permissions.audit_actor(actor),
            action="policy.updated",
            subject_type="policy",
            subject_id=policy.id,
            details={**_content(policy), "previous_version": previous},
        )
    return policy
