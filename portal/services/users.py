"""End users as the platform provisions them."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from portal import permissions
from portal.audit import Actor, apply_changes, record_event
from portal.database import end_read_snapshot, get_or_insert, write_transaction
from portal.errors import Conflict, NotFound
from portal.models import User
from portal.models.base import new_id, utcnow
from portal.models.people import USER_ROLES
from portal.permissions import Capability, Who
from portal.principals import EndUser
from portal.services import validation

# How often a user's last_active_at is written at most (it decides whether a message to them is
# also emailed); each API worker remembers a user it authenticated for as long.
ACTIVITY_REFRESH = timedelta(minutes=1)


async def authenticate_user(session: AsyncSession, user_id: uuid.UUID) -> EndUser | None:
    """The user a token names (None if unknown), marked active; the session is left with no
    transaction open."""
    user = await session.get(User, user_id)
    if user is None:
        return None
    await _refresh_activity(session, user)
    await end_read_snapshot(session)
    return EndUser(id=user.id, role=user.role)


async def _refresh_activity(session: AsyncSession, user: User) -> None:
    """Marks the user active, writing at most once per ACTIVITY_REFRESH (a worker reads the row
    again once its KnownUsers entry expires, so a busy user is marked about that often)."""
    now = utcnow()
    if user.last_active_at is not None and now - user.last_active_at < ACTIVITY_REFRESH:
        return
    async with write_transaction(session):
        await session.execute(
            update(User)
            .where(User.id == user.id)
            .where(or_(User.last_active_at.is_(None), User.last_active_at < now - ACTIVITY_REFRESH))
            .values(last_active_at=now)
            .execution_options(synchronize_session=False)
        )
    set_committed_value(user, "last_active_at", now)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def _valid_person(email: str, display_name: str, role: str) -> tuple[str, str, str]:
    return (
        validation.email_address("email", email),
        validation.text("display_name", display_name, max_length=200),
        validation.one_of("role", role, USER_ROLES),
    )


async def _email_taken(session: AsyncSession, email: str, other_than: uuid.UUID | None) -> bool:
    query = select(User.id).where(User.email == email)
    if other_than is not None:
        query = query.where(User.id != other_than)
    return (await session.scalar(query)) is not None


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    display_name: str,
    role: str,
    actor: Who,
    user_id: uuid.UUID | None = None,
) -> User:
    email, display_name, role = _valid_person(email, display_name, role)
    async with write_transaction(session):
        actor = await permissions.authorize(session, actor, Capability.PROVISION)
        user, created = await get_or_insert(
            session,
            find=lambda: session.scalar(select(User).where(User.email == email)),
            make=lambda: User(
                id=user_id or new_id(), email=email, display_name=display_name, role=role
            ),
        )
        if not created:
            raise Conflict(f"a user with email {email} already exists")
        await record_event(
            session,
            actor=actor,
            action="user.created",
            subject_type="user",
            subject_id=user.id,
            details={"email": email, "role": role},
        )
    return user


async def upsert_user(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    email: str,
    display_name: str,
    role: str,
    actor: Who,
) -> tuple[User, bool]:
    """Create or update a user under the platform's id; returns (user, created)."""
    email, display_name, role = _valid_person(email, display_name, role)
    try:
        async with write_transaction(session):
            actor = await permissions.authorize(session, actor, Capability.PROVISION)
            return await _upsert_user(session, user_id, email, display_name, role, actor)
    except IntegrityError:
        # Another user took the email between our check and our write.
        raise Conflict(f"a user with email {email} already exists") from None


async def _upsert_user(
    session: AsyncSession,
    user_id: uuid.UUID,
    email: str,
    display_name: str,
    role: str,
    actor: Actor,
) -> tuple[User, bool]:
    if await _email_taken(session, email, user_id):
        raise Conflict(f"a user with email {email} already exists")
    user, created = await get_or_insert(
        session,
        find=lambda: session.get(User, user_id, with_for_update=True, populate_existing=True),
        make=lambda: User(id=user_id, email=email, display_name=display_name, role=role),
    )
    if created:
        changes = {"email": email, "display_name": display_name, "role": role}
    else:
        if user.role != role:
            raise Conflict("a user's role cannot change once provisioned")
        changes = apply_changes(user, {"email": email, "display_name": display_name})
    await session.flush()
    if created or changes:
        await record_event(
            session,
            actor=actor,
            action="user.created" if created else "user.updated",
            subject_type="user",
            subject_id=user.id,
            details=changes,
        )
    return user, created
