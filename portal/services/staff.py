"""Staff accounts (moderators, compliance officers, administrators)."""

from __future__ import annotations

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
    actor: Actor,
    display_name: str | None = None,
) -> StaffUser:
    email = validation.email_address("email", email)
    role = validation.one_of("role", role, STAFF_ROLES)
    if display_name is not None:
        display_name = validation.text("display_name", display_name, max_length=200)
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
