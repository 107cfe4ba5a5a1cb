"""Staff accounts (moderators, compliance officers, administrators)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import Actor, apply_changes, record_event
from portal.database import get_or_insert, lock_row, read_transaction, write_transaction
from portal.errors import (
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    SignInThrottled,
)
from portal.models import StaffUser
from portal.models.base import utcnow
from portal.models.staff import STAFF_ROLES
from portal.passwords import hash_password_off_loop, verify_password_off_loop
from portal.services import sign_in_throttle, validation

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


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
    an Actor (``Actor.system()``, the console's operator) from the CLI and the demo seed; either
    must be allowed to manage staff (``portal.permissions``)."""
    email = validation.email_address("email", email)
    role = validation.one_of("role", role, STAFF_ROLES)
    if display_name is not None:
        display_name = validation.text("display_name", display_name, max_length=200)
    _check_password(password)
    if isinstance(actor, StaffUser) or actor.type != "staff":  # before the hashing work
        permissions.require(actor, permissions.Capability.MANAGE_STAFF)
    password_hash = await hash_password_off_loop(password)
    async with write_transaction(session):
        recorded_as = await permissions.authorize(
            session, actor, permissions.Capability.MANAGE_STAFF
        )
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
            actor=recorded_as,
            action="staff.created",
            subject_type="staff",
            subject_id=staff.id,
            details={"email": email, "role": role},
        )
    return staff


# The throttle's limits (portal/services/sign_in_throttle.py), named where callers look for them.
SIGN_IN_MAX_FAILURES = sign_in_throttle.MAX_FAILURES
SIGN_IN_WINDOW_SECONDS = sign_in_throttle.WINDOW_SECONDS


async def authenticate_staff(
    session: AsyncSession,
    email: str,
    password: str,
    *,
    address: str,
    now: datetime | None = None,
) -> StaffUser:
    """The active staff member with these credentials; records ``last_login_at`` and a
    ``staff.signed_in`` event. A failure is counted by the sign-in throttle and raises
    InvalidCredentials (unknown email, wrong password, deactivated account: one answer, after
    the same hashing work). SignInThrottled when a counter of the attempt is at its limit or
    locked, before any hashing, so a throttled attempt cannot succeed.

    Three short transactions: claim the throttle's slots, check the password off the event loop
    holding no connection's transaction open, settle. State lives in the database, never in
    process memory."""
    if "\x00" in email:
        raise InvalidInput("email", "must not contain NUL characters")
    now = now or utcnow()
    email = email.strip().lower()[:320]
    address = (address or "unknown").replace("\x00", "")[:64]
    async with write_transaction(session):
        staff = await session.scalar(
            select(StaffUser)
            .where(StaffUser.email == email)
            .execution_options(populate_existing=True)
        )
        attempt = await sign_in_throttle.begin_attempt(
            session, email=email, address=address, now=now
        )
    if isinstance(attempt, SignInThrottled):
        raise attempt
    checked_hash = staff.password_hash if staff is not None else None
    try:
        if staff is not None and staff.is_active and checked_hash is not None:
            matches = await verify_password_off_loop(checked_hash, password)
        else:
            # as slow as a real check, so that timing does not tell which emails exist
            await hash_password_off_loop(password)
            matches = False
    except BaseException:
        async with write_transaction(session):
            await attempt.withdrawn(session)
        raise
    async with write_transaction(session):
        if matches and staff is not None:
            current = await _lock_staff(session, staff.id)
            # deactivated or given a new password while the check ran: a failure
            if current.is_active and current.password_hash == checked_hash:
                await attempt.succeeded(session)
                current.last_login_at = now
                await record_event(
                    session,
                    actor=Actor.staff(current.id),
                    action="staff.signed_in",
                    subject_type="staff",
                    subject_id=current.id,
                    details={"address": address},
                )
                return current
        await attempt.failed(session, staff)
    raise InvalidCredentials("wrong email or password")


async def record_sign_out(
    session: AsyncSession, staff: StaffUser, *, now: datetime | None = None
) -> None:
    """Records ``staff.signed_out`` and moves the account's session epoch on, which ends every
    session of the account issued before: signing out anywhere signs out everywhere."""
    async with write_transaction(session):
        await session.execute(
            update(StaffUser)
            .where(StaffUser.id == staff.id)
            .values(session_epoch=StaffUser.session_epoch + 1)
            .execution_options(synchronize_session=False)
        )
        await record_event(
            session,
            actor=Actor.staff(staff.id),
            action="staff.signed_out",
            subject_type="staff",
            subject_id=staff.id,
            occurred_at=now,
        )


async def _lock_staff(session: AsyncSession, staff_id: uuid.UUID) -> StaffUser:
    return await lock_row(session, StaffUser, staff_id, what="staff member")


async def _change_staff(
    session: AsyncSession,
    staff_id: uuid.UUID,
    *,
    actor: StaffUser,
    action: str,
    values: dict[str, object],
    details: dict[str, object] | None = None,
    not_self: str | None = None,
) -> StaffUser:
    permissions.require(actor, permissions.Capability.MANAGE_STAFF)
    if not_self is not None and staff_id == actor.id:
        raise Forbidden(not_self)
    async with write_transaction(session):
        staff = await _lock_staff(session, staff_id)
        changes = apply_changes(staff, values)
        if changes:
            await record_event(
                session,
                actor=Actor.staff(actor.id),
                action=action,
                subject_type="staff",
                subject_id=staff.id,
                details=details if details is not None else changes,
            )
    return staff


async def deactivate_staff(
    session: AsyncSession, staff_id: uuid.UUID, *, actor: StaffUser, now: datetime | None = None
) -> StaffUser:
    """Admin only; an admin cannot deactivate themselves (someone must be left to manage).
    A deactivated account cannot sign in, and every session it had ends for good: the session
    epoch moves on, so reactivating the account does not bring a copied cookie back."""
    permissions.require(actor, permissions.Capability.MANAGE_STAFF)
    if staff_id == actor.id:
        raise Forbidden("you cannot deactivate your own account")
    async with write_transaction(session):
        staff = await _lock_staff(session, staff_id)
        if staff.is_active:
            staff.is_active = False
            staff.session_epoch += 1
            await record_event(
                session,
                actor=Actor.staff(actor.id),
                action="staff.deactivated",
                subject_type="staff",
                subject_id=staff.id,
                details={"is_active": False},
            )
    return staff


async def reactivate_staff(
    session: AsyncSession, staff_id: uuid.UUID, *, actor: StaffUser, now: datetime | None = None
) -> StaffUser:
    """Admin only."""
    return await _change_staff(
        session, staff_id, actor=actor, action="staff.reactivated", values={"is_active": True}
    )


async def set_staff_role(
    session: AsyncSession,
    staff_id: uuid.UUID,
    role: str,
    *,
    actor: StaffUser,
    now: datetime | None = None,
) -> StaffUser:
    """Admin only; an admin cannot change their own role."""
    role = validation.one_of("role", role, STAFF_ROLES)
    return await _change_staff(
        session,
        staff_id,
        actor=actor,
        action="staff.role_changed",
        values={"role": role},
        not_self="you cannot change your own role",
    )


async def reset_staff_password(
    session: AsyncSession,
    staff_id: uuid.UUID,
    password: str,
    *,
    actor: StaffUser,
    now: datetime | None = None,
) -> StaffUser:
    """Admin only; at least MIN_PASSWORD_LENGTH characters. The event never holds the password."""
    permissions.require(actor, permissions.Capability.MANAGE_STAFF)
    _check_password(password)
    return await _change_staff(
        session,
        staff_id,
        actor=actor,
        action="staff.password_reset",
        values={"password_hash": await hash_password_off_loop(password)},
        details={},
    )


async def list_staff(session: AsyncSession) -> list[StaffUser]:
    """Every staff account, by email."""
    async with read_transaction(session):
        return list((await session.scalars(select(StaffUser).order_by(StaffUser.email))).all())


def _check_password(password: str) -> None:
    if "\x00" in password:
        raise InvalidInput("password", "must not contain NUL characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at most {MAX_PASSWORD_LENGTH} characters")


def staff_name(staff: StaffUser | None) -> str | None:
    if staff is None:
        return None
    return staff.display_name or staff.email
