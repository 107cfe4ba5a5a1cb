"""Decisions on reported messages: what each one changes and records, decided once (also under
concurrency), role rules, validation, claims, bulk decisions and the report view."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.database import create_sessionmaker, read_transaction
from portal.errors import AlreadyDecided, Conflict, Forbidden, InvalidInput, NotFound
from portal.models import AuditEvent, Message, User
from portal.services import moderation, moderation_records, moderation_types, suspensions
from portal.settings import Settings
from tests.api.helpers import auth
from tests.portal.moderation_support import (
    audit_count,
    report,
    report_rows,
    send,
    staff,
    user,
)


async def _reported(
    session: AsyncSession, settings: Settings, body: str = "reported"
) -> tuple[Message, User, User]:
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    message = await send(session, settings, employer, candidate, body)
    await report(session, message, candidate, "harassment", note="rude")
    await report(session, message, await user(session, "employer"), "spam")
    return message, employer, candidate


async def _events(session: AsyncSession, **where: Any) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.occurred_at)
    for name, value in where.items():
        query = query.where(getattr(AuditEvent, name) == value)
    async with read_transaction(session):
        return list((await session.scalars(query)).all())


async def _message(session: AsyncSession, message_id: uuid.UUID) -> Message:
    async with read_transaction(session):
        message = await session.get(Message, message_id, populate_existing=True)
    assert message is not None
    return message


async def test_dismiss_closes_every_open_report_with_one_event(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator", "Mo")
    message, _, _ = await _reported(session, settings)

    await moderation.dismiss(session, message.id, actor=moderator, note="banter")

    reports = await report_rows(session, message.id)
    assert {(r.status, r.decision, r.decided_by_id) for r in reports} == {
        ("dismissed", "dismissed", moderator.id)
    }
    [event] = await _events(session, action="moderation.dismissed")
    assert (event.actor_type, event.actor_id) == ("staff", moderator.id)
    assert (event.subject_type, event.subject_id, event.thread_id) == (
        "message",
        message.id,
        message.thread_id,
    )
    assert event.details["note"] == "banter"
    assert sorted(event.details["report_ids"]) == sorted(str(r.id) for r in reports)
    assert not (await _message(session, message.id)).is_removed


async def test_remove_withholds_the_body_from_the_api_and_keeps_it(
    session: AsyncSession, settings: Settings, client: AsyncTestClient[Litestar]
) -> None:
    moderator = await staff(session, "moderator")
    message, _, candidate = await _reported(session, settings, "the hostile words")

    await moderation.remove_message(
        session,
        message.id,
        actor=moderator,
        reason="abuse",
        grounds=moderation.Grounds(policy="spam"),
    )

    stored = await _message(session, message.id)
    assert (stored.is_removed, stored.removed_reason, stored.body) == (
        True,
        "abuse",
        "the hostile words",
    )
    assert stored.removed_at is not None
    [event] = await _events(session, action="message.removed")
    assert event.details["reason"] == "abuse"
    response = await client.get(
        f"/api/v1/messages/threads/{message.thread_id}", headers=auth(settings, candidate)
    )
    assert response.status_code == 200
    [shown] = response.json()["messages"]
    assert shown["body"] == "[removed by a moderator]"
    assert "the hostile words" not in response.text


async def test_warn_and_suspend_are_decisions_about_the_sender(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    warned, sender, _ = await _reported(session, settings)
    suspended_for, _, _ = await _reported(session, settings)

    await moderation.warn_sender(
        session,
        warned.id,
        actor=moderator,
        note="keep it civil",
        grounds=moderation.Grounds(policy="spam"),
    )
    await moderation.suspend_sender(
        session,
        suspended_for.id,
        actor=moderator,
        reason="threats",
        days=7,
        grounds=moderation.Grounds(policy="spam"),
    )

    [warning] = await _events(session, action="user.warned")
    assert (warning.subject_type, warning.subject_id) == ("user", sender.id)
    assert warning.details["message_id"] == str(warned.id)
    [suspension] = await _events(session, action="user.suspended")
    assert suspension.details["message_id"] == str(suspended_for.id)
    assert suspension.details["days"] == 7 and suspension.thread_id == suspended_for.thread_id
    assert {r.decision for r in await report_rows(session, warned.id)} == {"warned"}
    assert {r.decision for r in await report_rows(session, suspended_for.id)} == {"suspended"}
    async with read_transaction(session):
        suspended_user = await session.get(User, suspended_for.sender_id, populate_existing=True)
    assert suspended_user is not None and suspended_user.is_suspended
    assert suspended_user.suspended_until is not None


async def test_a_second_decision_names_the_first_and_changes_nothing(
    session: AsyncSession, settings: Settings
) -> None:
    first = await staff(session, "moderator", "First Mod")
    second = await staff(session, "moderator", "Second Mod")
    message, _, _ = await _reported(session, settings)
    await moderation.dismiss(session, message.id, actor=first)
    events = await audit_count(session)

    for attempt in (
        moderation.remove_message(
            session,
            message.id,
            actor=second,
            reason="no",
            grounds=moderation.Grounds(policy="spam"),
        ),
        moderation.dismiss(session, message.id, actor=second),
        moderation.escalate(session, message.id, actor=second, note="x"),
        moderation.claim(session, message.id, actor=second),
    ):
        with pytest.raises(AlreadyDecided) as caught:
            await attempt
        assert (caught.value.decided_by_name, caught.value.decision) == ("First Mod", "dismissed")
        assert caught.value.decided_at is not None
        assert "First Mod" in caught.value.detail
    assert await audit_count(session) == events
    assert not (await _message(session, message.id)).is_removed


async def test_concurrent_decisions_leave_one_decision_and_one_event(
    engine: AsyncEngine, session: AsyncSession, settings: Settings
) -> None:
    sessions = create_sessionmaker(engine)
    one = await staff(session, "moderator", "One")
    two = await staff(session, "moderator", "Two")
    messages = [(await _reported(session, settings))[0] for _ in range(4)]

    async def decide(work: Any) -> Any:
        async with sessions() as own:
            try:
                return await work(own)
            except AlreadyDecided as exc:
                return exc

    for message in messages:
        results = await asyncio.gather(
            decide(lambda s, m=message: moderation.dismiss(s, m.id, actor=one)),
            decide(
                lambda s, m=message: moderation.remove_message(
                    s, m.id, actor=two, reason="x", grounds=moderation.Grounds(policy="spam")
                )
            ),
        )
        refused = [r for r in results if isinstance(r, AlreadyDecided)]
        assert len(refused) == 1, results
        decisions = {r.decision for r in await report_rows(session, message.id)}
        assert len(decisions) == 1
        [winner] = decisions
        assert refused[0].decision == winner
        removed = (await _message(session, message.id)).is_removed
        assert removed == (winner == "removed")
        events = await _events(session, subject_id=message.id)
        assert len([e for e in events if e.action in moderation_types.DECISION_ACTIONS]) == 1


async def test_role_rules(session: AsyncSession, settings: Settings) -> None:
    moderator = await staff(session, "moderator", "Mod")
    compliance = await staff(session, "compliance", "Comp")
    admin = await staff(session, "admin", "Adm")
    message, sender, _ = await _reported(session, settings)

    with pytest.raises(Forbidden):
        await moderation.dismiss(session, message.id, actor=compliance)
    with pytest.raises(Forbidden):
        await moderation.escalate(session, message.id, actor=compliance, note="legal")
    with pytest.raises(Forbidden):
        await moderation.claim(session, message.id, actor=compliance)
    with pytest.raises(Forbidden):
        await suspensions.suspend_user(
            session, sender.id, actor=compliance, reason="x", days=1, policy="spam"
        )
    await moderation.escalate(session, message.id, actor=moderator, note="possible EEOC issue")
    with pytest.raises(AlreadyDecided) as caught:
        await moderation.dismiss(session, message.id, actor=moderator)
    assert (caught.value.decided_by_name, caught.value.decision) == ("Mod", "escalated")
    await moderation.add_note(session, actor=compliance, body="reviewing", message_id=message.id)
    await moderation.remove_message(
        session,
        message.id,
        actor=compliance,
        reason="counsel",
        grounds=moderation.Grounds(policy="spam"),
    )
    assert {r.status for r in await report_rows(session, message.id)} == {"actioned"}

    again, _, _ = await _reported(session, settings)
    await moderation.escalate(session, again.id, actor=moderator, note="legal")
    await moderation.dismiss(session, again.id, actor=admin)
    assert {r.decided_by_id for r in await report_rows(session, again.id)} == {admin.id}

    inactive = await staff(session, "moderator")
    inactive.is_active = False
    with pytest.raises(Forbidden):
        await moderation.dismiss(session, again.id, actor=inactive)


@pytest.mark.parametrize(
    ("action", "arguments", "field"),
    [
        ("remove_message", {"reason": "  "}, "reason"),
        ("remove_message", {"reason": "bad\x00"}, "reason"),
        ("remove_message", {"reason": "x" * 1001}, "reason"),
        ("suspend_sender", {"reason": "", "days": 1}, "reason"),
        ("suspend_sender", {"reason": "spam", "days": 2}, "days"),
        ("warn_sender", {"note": ""}, "note"),
        ("dismiss", {"note": "x" * 4001}, "note"),
        ("escalate", {"note": "\x00"}, "note"),
        ("escalate", {"note": "  "}, "note"),  # escalating says why
    ],
)
async def test_bad_reasons_are_refused_and_change_nothing(
    session: AsyncSession, settings: Settings, action: str, arguments: dict[str, Any], field: str
) -> None:
    moderator = await staff(session, "moderator")
    message, _, _ = await _reported(session, settings)
    events = await audit_count(session)
    with pytest.raises(InvalidInput) as caught:
        await getattr(moderation, action)(session, message.id, actor=moderator, **arguments)
    assert caught.value.field == field
    assert {r.status for r in await report_rows(session, message.id)} == {"open"}
    assert await audit_count(session) == events


async def test_claims(session: AsyncSession, settings: Settings) -> None:
    me = await staff(session, "moderator", "Me")
    other = await staff(session, "moderator", "Other")
    admin = await staff(session, "admin")
    message, _, _ = await _reported(session, settings)

    await moderation.claim(session, message.id, actor=me)
    await moderation.claim(session, message.id, actor=me)  # again: nothing more
    assert await audit_count(session, "moderation.claimed") == 1
    with pytest.raises(Conflict, match="Me"):
        await moderation.claim(session, message.id, actor=other)
    with pytest.raises(Forbidden):
        await moderation.unclaim(session, message.id, actor=other)
    await moderation.unclaim(session, message.id, actor=admin)
    assert {(r.status, r.assigned_to_id) for r in await report_rows(session, message.id)} == {
        ("open", None)
    }
    await moderation.claim(session, message.id, actor=other)
    # a claim is not a lock: another moderator may still decide
    await moderation.dismiss(session, message.id, actor=me)
    assert {r.decided_by_id for r in await report_rows(session, message.id)} == {me.id}
    with pytest.raises(NotFound):
        await moderation.claim(session, uuid.uuid4(), actor=me)


async def test_bulk_decides_each_item_and_names_the_skipped(
    session: AsyncSession, settings: Settings
) -> None:
    me = await staff(session, "moderator")
    other = await staff(session, "moderator", "Quick Other")
    messages = [(await _reported(session, settings))[0] for _ in range(3)]
    await moderation.remove_message(
        session,
        messages[1].id,
        actor=other,
        reason="gone",
        grounds=moderation.Grounds(policy="spam"),
    )
    unknown = uuid.uuid4()

    result = await moderation.bulk_decide(
        session, [m.id for m in messages] + [unknown], "dismiss", actor=me
    )

    assert result.decided == [messages[0].id, messages[2].id]
    skipped = {item.message_id: item for item in result.skipped}
    assert (skipped[messages[1].id].decided_by_name, skipped[messages[1].id].decision) == (
        "Quick Other",
        "removed",
    )
    assert skipped[unknown].decision is None
    assert await audit_count(session, "moderation.dismissed") == 2

    with pytest.raises(InvalidInput):
        await moderation.bulk_decide(
            session, [messages[0].id], "remove", actor=me, grounds=moderation.Grounds(policy="spam")
        )
    with pytest.raises(InvalidInput):
        await moderation.bulk_decide(session, [messages[0].id], "suspend", actor=me)
    more = [(await _reported(session, settings))[0] for _ in range(2)]
    removed = await moderation.bulk_decide(
        session,
        [m.id for m in more],
        "remove",
        actor=me,
        reason="spam wave",
        grounds=moderation.Grounds(policy="spam"),
    )
    assert removed.decided == [m.id for m in more]
    assert all([(await _message(session, m.id)).is_removed for m in more])


async def test_report_view_shows_context_reports_record_and_notes(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator", "Mod")
    employer = await user(session, "employer", "Sender Person")
    candidate = await user(session, "candidate", "Reporter Person")
    thread = [
        await send(session, settings, *(employer, candidate)[:: 1 if i % 2 == 0 else -1], f"m{i}")
        for i in range(9)
    ]
    reported = thread[4]
    await report(session, reported, candidate, "harassment", note="<b>scary</b>")
    earlier = await send(session, settings, employer, candidate, "earlier bad")
    await report(session, earlier, candidate, "spam")
    await moderation.warn_sender(
        session,
        earlier.id,
        actor=moderator,
        note="first warning",
        grounds=moderation.Grounds(policy="spam"),
    )
    await moderation.claim(session, reported.id, actor=moderator)
    await moderation.add_note(session, actor=moderator, body="looks bad", message_id=reported.id)

    view = await moderation_records.report_view(session, reported.id, context=3)

    assert view.message.body == "m4" and view.message.is_reported
    assert [m.body for m in view.before] == ["m1", "m2", "m3"]
    assert [m.body for m in view.after] == ["m5", "m6", "m7"]
    assert view.thread_id == reported.thread_id
    assert view.recipient_name == "Reporter Person"
    [entry] = view.reports
    assert (entry.reporter_name, entry.reason, entry.note) == (
        "Reporter Person",
        "harassment",
        "<b>scary</b>",
    )
    assert (view.status, view.claimed_by_name) == ("claimed", "Mod")
    assert view.sender.display_name == "Sender Person"
    assert (view.sender.sent, view.sender.reports_against) == (6, 2)
    [decision] = view.earlier_decisions
    assert (decision.decision, decision.staff_name, decision.reason) == (
        "warned",
        "Mod",
        "first warning",
    )
    assert decision.message_id == earlier.id
    assert [n.body for n in view.notes] == ["looks bad"]
    assert view.notes[0].author_name == "Mod"

    with pytest.raises(NotFound):
        await moderation_records.report_view(session, uuid.uuid4())


async def test_notes_need_one_existing_subject(session: AsyncSession, settings: Settings) -> None:
    moderator = await staff(session, "moderator")
    message, sender, _ = await _reported(session, settings)
    with pytest.raises(InvalidInput):
        await moderation.add_note(session, actor=moderator, body="x")
    with pytest.raises(InvalidInput):
        await moderation.add_note(
            session, actor=moderator, body="x", message_id=message.id, user_id=sender.id
        )
    with pytest.raises(InvalidInput):
        await moderation.add_note(session, actor=moderator, body=" ", user_id=sender.id)
    with pytest.raises(NotFound):
        await moderation.add_note(session, actor=moderator, body="x", user_id=uuid.uuid4())
    note = await moderation.add_note(session, actor=moderator, body="watch", user_id=sender.id)
    assert note.user_id == sender.id
    assert await audit_count(session, "moderation.note_added") == 1
