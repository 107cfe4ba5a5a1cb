"""Staff accounts (moderators, compliance officers, administrators)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, record_event
from portal.database import get_or_insert, write_transaction
from portal.errors import Conflict, InvalidInput
from portal.models import StaffUser
from portal.models.staff import STAFF_ROLES
from portal.passwords import hash_password
from portal.services import validation

MIN_PASSWORD_LENGTH = 12


async def create_staff(
    session: AsyncSession,
    *,
    email: str,
    role: str,
    password: str,
    actor: Actor | StaffUser,
    display_name: str | None = None,
) -> StaffUser:
    """A new staff account. ``actor`` is a StaffUser from the dashboard (must be an admin), or
    an Actor (``Actor.system()``) from the CLI and the demo seed."""
    email = validation.email_address("email", email)
    role = validation.one_of("role", role, STAFF_ROLES)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    password_hash = hash_password(password)
    async with write_transaction(session):
        staff, created = await get_or_insert(
            session,
            find=lambda: session.scalar(select(StaffUser).where(StaffUser.email == email)),
            make=lambda: StaffUser(
                email=email, role=role, password_hash=password_hash, display_name=display_name
            ),
        )
        if not created:
            raise Conflict(f"a staff member with email {email} already exists")
        await record_event(
            session,
            actor=actor,
            action="staff.created",
            subject_type="staff",
            subject_id=staff.id,
            details={"email": email, "role": role},
        )
    return staff


# Sign-in throttling: this many failures within the window refuse further attempts, per account
# (counting failures since its last successful sign-in) and per client address.
SIGN_IN_MAX_FAILURES = 5
SIGN_IN_WINDOW_SECONDS = 15 * 60


async def authenticate_staff(
    session: AsyncSession,
    email: str,
    password: str,
    *,
    address: str,
    now: datetime | None = None,
) -> StaffUser:
    """The active staff member with these credentials; records ``last_login_at`` and a
    ``staff.signed_in`` event. A failure records ``staff.sign_in_failed`` and raises
    InvalidCredentials; after SIGN_IN_MAX_FAILURES failures in SIGN_IN_WINDOW_SECONDS for the
    account or for ``address``, SignInThrottled (checked before the password, so a throttled
    attempt costs no hashing). State lives in the database, never in process memory."""
    raise NotImplementedError


async def deactivate_staff(
    session: AsyncSession, staff_id: uuid.UUID, *, actor: StaffUser, now: datetime | None = None
) -> StaffUser:
    """Admin only; an admin cannot deactivate themselves (someone must be left to manage)."""
    raise NotImplementedError


async def reactivate_staff(
    session: AsyncSession, staff_id: uuid.UUID, *, actor: StaffUser, now: datetime | None = None
) -> StaffUser:
    """Admin only."""
    raise NotImplementedError


async def set_staff_role(
    session: AsyncSession,
    staff_id: uuid.UUID,
    role: str,
    *,
    actor: StaffUser,
    now: datetime | None = None,
) -> StaffUser:
    """Admin only; an admin cannot change their own role."""
    raise NotImplementedError


async def reset_staff_password(
    session: AsyncSession,
    staff_id: uuid.UUID,
    password: str,
    *,
    actor: StaffUser,
    now: datetime | None = None,
) -> StaffUser:
    """Admin only; at least MIN_PASSWORD_LENGTH characters."""
    raise NotImplementedError


async def list_staff(session: AsyncSession) -> list[StaffUser]:
    """Every staff account, by email."""
    raise NotImplementedError
