"""Staff accounts (moderators, compliance officers, administrators)."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, apply_changes, record_event
from portal.database import get_or_insert, lock_row, read_transaction, write_transaction
from portal.errors import (
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    SignInThrottled,
)
from portal.models import StaffSignInFailure, StaffUser
from portal.models.base import utcnow
from portal.models.staff import STAFF_ROLES
from portal.passwords import hash_password, verify_password
from portal.services import validation
from portal.services.refusals import refusable

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
    an Actor (``Actor.system()``) from the CLI and the demo seed."""
    email = validation.email_address("email", email)
    role = validation.one_of("role", role, STAFF_ROLES)
    if display_name is not None:
        display_name = validation.text("display_name", display_name, max_length=200)
    _check_password(password)
    if isinstance(actor, StaffUser):
        require_role(actor, "admin")
        actor = Actor.staff(actor.id)
    password_hash = hash_password(password)
    async with refusable(session):
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
    ``staff.signed_in`` event. A failure records ``staff.sign_in_failed`` (and a row the throttle
    counts) and raises InvalidCredentials; after SIGN_IN_MAX_FAILURES failures within
    SIGN_IN_WINDOW_SECONDS for the account (since its last successful sign-in) or for
    ``address``, SignInThrottled, checked before the password so a throttled attempt costs no
    hashing and cannot succeed. State lives in the database, never in process memory."""
    if "\x00" in email:
        raise InvalidInput("email", "must not contain NUL characters")
    now = now or utcnow()
    email = email.strip().lower()[:320]
    address = (address or "unknown").replace("\x00", "")[:64]
    window_start = now - timedelta(seconds=SIGN_IN_WINDOW_SECONDS)
    async with write_transaction(session):
        staff = await session.scalar(
            select(StaffUser)
            .where(StaffUser.email == email)
            .execution_options(populate_existing=True)
        )
        account_since = window_start
        if staff is not None and staff.last_login_at is not None:
            account_since = max(window_start, staff.last_login_at)
        by_account = select(StaffSignInFailure.occurred_at).where(
            StaffSignInFailure.email == email, StaffSignInFailure.occurred_at > account_since
        )
        by_address = select(StaffSignInFailure.occurred_at).where(
            StaffSignInFailure.address == address, StaffSignInFailure.occurred_at > window_start
        )
        for failures in (by_account, by_address):
            recent = (
                await session.scalars(
                    failures.order_by(StaffSignInFailure.occurred_at.desc()).limit(
                        SIGN_IN_MAX_FAILURES
                    )
                )
            ).all()
            if len(recent) >= SIGN_IN_MAX_FAILURES:
                # free again when the oldest of the last N failures leaves the window
                oldest = recent[-1]
                retry = oldest + timedelta(seconds=SIGN_IN_WINDOW_SECONDS) - now
                throttled = SignInThrottled(max(1, math.ceil(retry.total_seconds())))
                break
        else:
            throttled = None
        if throttled is None and staff is not None and staff.is_active:
            if verify_password(staff.password_hash, password):
                staff.last_login_at = now
                await record_event(
                    session,
                    actor=Actor.staff(staff.id),
                    action="staff.signed_in",
                    subject_type="staff",
                    subject_id=staff.id,
                    details={"address": address},
                )
                return staff
        elif throttled is None:
            # as slow as a real check, so that timing does not tell which emails exist
            hash_password(password)
        if throttled is None:
            # refused attempts are audited but not counted, so the throttle ends on its own
            session.add(StaffSignInFailure(email=email, address=address, occurred_at=now))
        await record_event(
            session,
            actor=Actor.staff(staff.id) if staff is not None else Actor.system(),
            action="staff.sign_in_failed",
            subject_type="staff",
            subject_id=staff.id if staff is not None else None,
            details={
                "email": email,
                "address": address,
                "why": "throttled" if throttled is not None else "bad credentials",
            },
        )
    if throttled is not None:
        raise throttled
    raise InvalidCredentials("wrong email or password")


async def record_sign_out(
    session: AsyncSession, staff: StaffUser, *, now: datetime | None = None
) -> None:
    """Records ``staff.signed_out``. The dashboard ends every session of the account issued
    before the newest such event, so signing out anywhere signs out everywhere."""
    async with write_transaction(session):
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
    require_role(actor, "admin")
    if not_self is not None and staff_id == actor.id:
        raise Forbidden(not_self)
    async with refusable(session):
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
    A deactivated account cannot sign in, and its sessions stop working where the session
    lookup checks ``is_active``."""
    return await _change_staff(
        session,
        staff_id,
        actor=actor,
        action="staff.deactivated",
        values={"is_active": False},
        not_self="you cannot deactivate your own account",
    )


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
    require_role(actor, "admin")
    _check_password(password)
    return await _change_staff(
        session,
        staff_id,
        actor=actor,
        action="staff.password_reset",
        values={"password_hash": hash_password(password)},
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


def require_role(actor: StaffUser, *roles: str) -> None:
    """Forbidden unless ``actor`` is an active staff member with one of ``roles``. Services check
    this themselves even though the routes do too, so that no path can skip it."""
    if not actor.is_active or actor.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles)}; you are {actor.role}")


def staff_name(staff: StaffUser | None) -> str | None:
    if staff is None:
        return None
    return staff.display_name or staff.email
