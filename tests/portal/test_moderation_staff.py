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
from portal.models import AuditEvent, StaffUser
from portal.models.base import utcnow
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


async def test_failures_are_audited_and_indistinguishable(session: AsyncSession) -> None:
    member = await staff(session, "moderator")
    gone = await staff(session, "moderator")
    admin = await staff(session, "admin")
    await staff_service.deactivate_staff(session, gone.id, actor=admin)
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
    assert await audit_count(session, "staff.sign_in_failed") == 3
    assert await audit_count(session, "staff.signed_in") == 0


async def test_repeated_failures_throttle_the_account_until_the_window_passes(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    member = await staff(session, "moderator")
    now = utcnow()
    for i in range(SIGN_IN_MAX_FAILURES):
        with pytest.raises(InvalidCredentials):
            await staff_service.authenticate_staff(
                session, member.email, "nope", address=f"10.1.0.{i}", now=now
            )
    # another process (its own session) sees the same count: the right password is refused too
    async with create_sessionmaker(engine)() as other:
        with pytest.raises(SignInThrottled) as caught:
            await staff_service.authenticate_staff(
                other, member.email, PASSWORD, address="10.9.9.9", now=now + timedelta(minutes=1)
            )
    assert caught.value.retry_after_seconds == SIGN_IN_WINDOW_SECONDS - 60
    later = now + timedelta(seconds=SIGN_IN_WINDOW_SECONDS + 1)
    signed_in = await staff_service.authenticate_staff(
        session, member.email, PASSWORD, address="10.9.9.9", now=later
    )
    assert signed_in.id == member.id
    # a successful sign-in starts the account's count afresh
    with pytest.raises(InvalidCredentials):
        await staff_service.authenticate_staff(
            session, member.email, "nope", address="10.2.0.1", now=later
        )
    await staff_service.authenticate_staff(
        session, member.email, PASSWORD, address="10.2.0.2", now=later
    )


async def test_repeated_failures_throttle_the_address(session: AsyncSession) -> None:
    member = await staff(session, "moderator")
    now = utcnow()
    for i in range(SIGN_IN_MAX_FAILURES):
        with pytest.raises(InvalidCredentials):
            await staff_service.authenticate_staff(
                session, f"guess{i}@staff.example.com", "x", address="203.0.113.7", now=now
            )
    with pytest.raises(SignInThrottled):
        await staff_service.authenticate_staff(
            session, member.email, PASSWORD, address="203.0.113.7", now=now
        )
    ok = await staff_service.authenticate_staff(
        session, member.email, PASSWORD, address="203.0.113.8", now=now
    )
    assert ok.id == member.id


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
