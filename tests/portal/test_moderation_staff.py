"""Staff sign-in (audited, throttled per account and per address, state in the database) and
staff management by admins."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.database import create_sessionmaker, read_transaction
from portal.errors import (
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    NotFound,
    SignInThrottled,
)
from portal.models import AuditEvent, StaffSignInWindow, StaffUser
from portal.models.base import utcnow
from portal.services import sign_in_throttle
from portal.services import staff as staff_service
from portal.services.staff import SIGN_IN_MAX_FAILURES, SIGN_IN_WINDOW_SECONDS
from tests.portal.moderation_support import PASSWORD, audit_count, staff


async def _fresh(session: AsyncSession, staff_id: uuid.UUID) -> StaffUser:
    async with read_transaction(session):
        found = await session.get(StaffUser, staff_id, populate_existing=True)
    assert found is not None
    return found


async def test_sign_in_records_last_login_and_an_event(session: AsyncSession) -> None:
    member = await staff(session, "moderator")
    now = utcnow()

    signed_in = await staff_service.authenticate_staff(
        session, member.email.upper(), PASSWORD, address="10.0.0.1", now=now
    )

    assert signed_in.id == member.id
    assert (await _fresh(session, member.id)).last_login_at == now
    async with read_transaction(session):
        [event] = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "staff.signed_in"))
        ).all()
    assert (event.actor_id, event.subject_id, event.details["address"]) == (
        member.id,
        member.id,
        "10.0.0.1",
    )


async def _window(session: AsyncSession, scope: str, email: str, address: str) -> StaffSignInWindow:
    async with read_transaction(session):
        [row] = (
            await session.scalars(
                select(StaffSignInWindow).where(
                    StaffSignInWindow.scope == scope,
                    StaffSignInWindow.email == email,
                    StaffSignInWindow.address == address,
                )
            )
        ).all()
    return row


async def test_failures_are_counted_and_indistinguishable(session: AsyncSession) -> None:
    member = await staff(session, "moderator")
    gone = await staff(session, "moderator")
    admin = await staff(session, "admin")
    await staff_service.deactivate_staff(session, gone.id, actor=admin)
    events_before = await audit_count(session)
    attempts = [
        (member.email, "wrong password!"),
        ("nobody@staff.example.com", PASSWORD),
        (gone.email, PASSWORD),
    ]
    messages = set()
    for email, password in attempts:
        with pytest.raises(InvalidCredentials) as caught:
            await staff_service.authenticate_staff(session, email, password, address="10.0.0.2")
        messages.add(caught.value.detail)
    assert len(messages) == 1
    # counted where an investigator looks, not one audit event per anonymous attempt
    assert await audit_count(session) == events_before
    for email, _ in attempts:
        row = await _window(session, "account_address", email, "10.0.0.2")
        assert (row.failures, row.refused, row.locked_until) == (1, 0, None)
    assert (await _window(session, "address", "", "10.0.0.2")).failures == 3
    assert await audit_count(session, "staff.signed_in") == 0


async def test_repeated_failures_lock_the_account_from_that_address_until_the_window_passes(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    member = await staff(session, "moderator")
    # early in a window, so that a minute later is still in it
    now = sign_in_throttle.window_start(utcnow()) + timedelta(seconds=1)
    for _ in range(SIGN_IN_MAX_FAILURES):
        with pytest.raises(InvalidCredentials):
            await staff_service.authenticate_staff(
                session, member.email, "nope", address="10.1.0.1", now=now
            )
    # another process (its own session) sees the same count: the right password is refused too
    async with create_sessionmaker(engine)() as other:
        with pytest.raises(SignInThrottled) as caught:
            await staff_service.authenticate_staff(
                other, member.email, PASSWORD, address="10.1.0.1", now=now + timedelta(minutes=1)
            )
    assert caught.value.retry_after_seconds == SIGN_IN_WINDOW_SECONDS - 60
    row = await _window(session, "account_address", member.email, "10.1.0.1")
    assert (row.failures, row.refused) == (SIGN_IN_MAX_FAILURES, 1)
    assert row.locked_until == now + timedelta(seconds=SIGN_IN_WINDOW_SECONDS)
    # one event for the lockout, naming the account, the address and the count
    async with read_transaction(session):
        [locked] = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "staff.sign_in_locked")
            )
        ).all()
    assert (locked.subject_id, locked.details["scope"], locked.details["address"]) == (
        member.id,
        "account_address",
        "10.1.0.1",
    )
    assert locked.details["failures"] == SIGN_IN_MAX_FAILURES
    later = now + timedelta(seconds=SIGN_IN_WINDOW_SECONDS + 1)
    signed_in = await staff_service.authenticate_staff(
        session, member.email, PASSWORD, address="10.1.0.1", now=later
    )
    assert signed_in.id == member.id


async def test_someone_elsewhere_cannot_lock_a_person_out(session: AsyncSession) -> None:
    member = await staff(session, "admin")
    now = utcnow()
    for _ in range(SIGN_IN_MAX_FAILURES + 3):
        with pytest.raises((InvalidCredentials, SignInThrottled)):
            await staff_service.authenticate_staff(
                session, member.email, "guess", address="198.51.100.9", now=now
            )
    with pytest.raises(SignInThrottled):
        await staff_service.authenticate_staff(
            session, member.email, PASSWORD, address="198.51.100.9", now=now
        )
    signed_in = await staff_service.authenticate_staff(
        session, member.email, PASSWORD, address="10.0.0.7", now=now
    )
    assert signed_in.id == member.id


async def test_the_account_has_a_ceiling_across_addresses(session: AsyncSession) -> None:
    member = await staff(session, "moderator")
    now = utcnow()
    for i in range(sign_in_throttle.MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(InvalidCredentials):
            await staff_service.authenticate_staff(
                session, member.email, "guess", address=f"10.3.{i // 250}.{i % 250}", now=now
            )
    with pytest.raises(SignInThrottled):
        await staff_service.authenticate_staff(
            session, member.email, PASSWORD, address="10.9.9.9", now=now
        )
    assert (await _window(session, "account", member.email, "")).failures == (
        sign_in_throttle.MAX_FAILURES_PER_ACCOUNT
    )
    assert await audit_count(session, "staff.sign_in_locked") == 1


async def test_repeated_failures_throttle_the_address(session: AsyncSession) -> None:
    """One address guessing a few passwords on many accounts is stopped at the address's
    ceiling, whatever account it tries next."""
    member = await staff(session, "moderator")
    others = [await staff(session, "moderator") for _ in range(10)]
    now = utcnow()
    for other in others:
        for _ in range(sign_in_throttle.MAX_FAILURES_PER_ADDRESS // len(others)):
            with pytest.raises(InvalidCredentials):
                await staff_service.authenticate_staff(
                    session, other.email, "x", address="203.0.113.7", now=now
                )
    with pytest.raises(SignInThrottled):
        await staff_service.authenticate_staff(
            session, member.email, PASSWORD, address="203.0.113.7", now=now
        )
    # the same account from another address is not affected
    await staff_service.authenticate_staff(
        session, member.email, PASSWORD, address="203.0.113.8", now=now
    )


async def test_admins_manage_staff_accounts(session: AsyncSession) -> None:
    admin = await staff(session, "admin")
    moderator = await staff(session, "moderator")

    created = await staff_service.create_staff(
        session,
        email="New.Person@Staff.example.com",
        role="compliance",
        password="a long enough password",
        actor=admin,
        display_name="New Person",
    )
    assert (created.email, created.role) == ("new.person@staff.example.com", "compliance")
    await staff_service.set_staff_role(session, created.id, "moderator", actor=admin)
    await staff_service.reset_staff_password(
        session, created.id, "another long password", actor=admin
    )
    signed_in = await staff_service.authenticate_staff(
        session, created.email, "another long password", address="10.3.0.1"
    )
    assert signed_in.role == "moderator"
    await staff_service.deactivate_staff(session, created.id, actor=admin)
    with pytest.raises(InvalidCredentials):
        await staff_service.authenticate_staff(
            session, created.email, "another long password", address="10.3.0.1"
        )
    await staff_service.reactivate_staff(session, created.id, actor=admin)
    assert (await _fresh(session, created.id)).is_active

    for action in (
        "staff.created",
        "staff.role_changed",
        "staff.password_reset",
        "staff.deactivated",
        "staff.reactivated",
    ):
        assert await audit_count(session, action) >= 1, action
    async with read_transaction(session):
        [reset] = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "staff.password_reset")
            )
        ).all()
    assert reset.details == {} and reset.actor_id == admin.id

    with pytest.raises(Forbidden):
        await staff_service.set_staff_role(session, created.id, "admin", actor=moderator)
    with pytest.raises(Forbidden):
        await staff_service.create_staff(
            session, email="x@staff.example.com", role="admin", password="p" * 20, actor=moderator
        )
    with pytest.raises(Forbidden):
        await staff_service.deactivate_staff(session, admin.id, actor=admin)
    with pytest.raises(Forbidden):
        await staff_service.set_staff_role(session, admin.id, "moderator", actor=admin)
    with pytest.raises(InvalidInput):
        await staff_service.set_staff_role(session, created.id, "owner", actor=admin)
    with pytest.raises(InvalidInput):
        await staff_service.reset_staff_password(session, created.id, "short", actor=admin)
    with pytest.raises(NotFound):
        await staff_service.deactivate_staff(session, uuid.uuid4(), actor=admin)
    with pytest.raises(Conflict):
        await staff_service.create_staff(
            session, email=created.email, role="admin", password="p" * 20, actor=admin
        )
    emails = [s.email for s in await staff_service.list_staff(session)]
    assert emails == sorted(emails) and created.email in emails


async def test_sign_out_is_recorded_at_the_given_time(session: AsyncSession) -> None:
    member = await staff(session, "moderator")
    at = utcnow() - timedelta(minutes=3)
    await staff_service.record_sign_out(session, member, now=at)
    async with read_transaction(session):
        [event] = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "staff.signed_out"))
        ).all()
    assert (event.actor_id, event.subject_type, event.subject_id) == (member.id, "staff", member.id)
    assert event.occurred_at == at


async def test_a_nul_in_the_email_is_refused_before_anything(session: AsyncSession) -> None:
    member = await staff(session, "moderator")
    with pytest.raises(InvalidInput):
        await staff_service.authenticate_staff(
            session, member.email + "\x00", PASSWORD, address="10.4.0.1"
        )
    assert await audit_count(session) == 0
    signed_in = await staff_service.authenticate_staff(
        session, member.email, PASSWORD, address="10.4.0.1\x00"
    )
    assert signed_in.id == member.id
