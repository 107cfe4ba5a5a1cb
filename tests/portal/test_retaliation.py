"""Retaliation watch (Title VII §704(a)): a candidate's discrimination or harassment report
against an employer opens a watch; the employer's adverse actions towards that candidate during
it open compliance items with their timeline; the employer's counter-report is held until a
compliance officer releases it; the candidate and the employer are shown nothing of it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.database import read_transaction, write_transaction
from portal.errors import Forbidden
from portal.models import AuditEvent, FlagReport, ModerationDecision, User
from portal.models.retaliation import RetaliationItem, RetaliationWatch
from portal.principals import EndUser
from portal.services import (
    appeals,
    blocks,
    moderation,
    moderation_queue,
    retaliation,
    sender_actions,
    threads,
)
from portal.services.applications import upsert_application
from portal.services.flags import flag_message
from portal.settings import Settings
from tests.api.helpers import auth, make_pair, send_ok, service_auth
from tests.portal.moderation_support import report_rows, send, staff, user


def _participant(person: User) -> EndUser:
    return EndUser(id=person.id, role=person.role)


async def _items(session: AsyncSession) -> list[RetaliationItem]:
    async with read_transaction(session):
        return list(
            await session.scalars(
                select(RetaliationItem).order_by(RetaliationItem.action_at, RetaliationItem.id)
            )
        )


async def _watches(session: AsyncSession) -> list[RetaliationWatch]:
    async with read_transaction(session):
        return list(
            await session.scalars(select(RetaliationWatch).order_by(RetaliationWatch.opened_at))
        )


async def _actions(session: AsyncSession, prefix: str) -> list[AuditEvent]:
    async with read_transaction(session):
        return list(
            await session.scalars(select(AuditEvent).where(AuditEvent.action.startswith(prefix)))
        )


def _says_nothing_of_the_watch(body: Any) -> None:
    text = str(body).lower()
    assert "retaliation" not in text and "watch" not in text and "held" not in text


async def _provision(
    client: AsyncTestClient[Litestar],
    settings: Settings,
    application_id: uuid.UUID,
    employer: User,
    candidate: User,
    status: str,
) -> dict[str, Any]:
    response = await client.put(
        f"/api/v1/applications/{application_id}",
        json={
            "employer_id": str(employer.id),
            "candidate_id": str(candidate.id),
            "job_title": "Welder",
            "status": status,
            "requisition_id": "REQ-7",
        },
        headers=service_auth(settings),
    )
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


async def _backdate_watches(owner_session: AsyncSession, days: int) -> None:
    """As the schema's owner (the runtime role may never change a watch): the protected report
    and the watch ``days`` earlier, as if they had been made then."""
    async with write_transaction(owner_session):
        for watch in await owner_session.scalars(select(RetaliationWatch)):
            await owner_session.execute(
                update(RetaliationWatch)
                .where(RetaliationWatch.id == watch.id)
                .values(
                    reported_at=watch.reported_at - timedelta(days=days),
                    opened_at=watch.opened_at - timedelta(days=days),
                    expires_at=watch.expires_at - timedelta(days=days),
                )
            )


async def test_a_discrimination_report_then_a_rejection_opens_an_item_with_its_timeline(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    session: AsyncSession,
    owner_session: AsyncSession,
) -> None:
    settings: Settings = app.state.settings
    employer, candidate = await make_pair(app)
    application_id = uuid.uuid4()
    await _provision(client, settings, application_id, employer, candidate, "reviewing")
    sent = await send_ok(
        client,
        settings,
        employer,
        candidate,
        "We don't hire mothers",
        application_id=str(application_id),
    )
    message_id = sent["message"]["id"]
    flagged = await client.post(
        f"/api/v1/messages/{message_id}/flag",
        params={"reason": "discrimination", "note": "asked about my children"},
        headers=auth(settings, candidate),
    )
    assert flagged.status_code == 200, flagged.text
    _says_nothing_of_the_watch(flagged.json())
    [watch] = await _watches(session)
    assert (watch.employer_id, watch.candidate_id, watch.trigger) == (
        employer.id,
        candidate.id,
        "report",
    )
    assert watch.expires_at - watch.opened_at == timedelta(days=settings.retaliation_watch_days)
    # Twelve days later, the employer rejects the candidate through provisioning.
    await _backdate_watches(owner_session, 12)
    rejected = await _provision(client, settings, application_id, employer, candidate, "rejected")
    _says_nothing_of_the_watch(rejected)

    [item] = await _items(session)
    assert item.action == "application_rejected"
    assert (item.subject_type, item.subject_id) == ("application", application_id)
    assert (item.employer_id, item.candidate_id, item.watch_id) == (
        employer.id,
        candidate.id,
        watch.id,
    )
    assert item.days_since_report == 12
    assert item.status == "open" and item.held_report_id is None
    [opened] = await _actions(session, "retaliation.item_opened")
    assert opened.thread_id is None  # on the global chain, never a thread's report
    assert opened.details["protected_report_id"] == str(watch.report_id)
    assert opened.details["days_since_report"] == 12
    assert len(await _actions(session, "retaliation.watch_opened")) == 1

    # Neither side is shown anything of it: their threads, messages and the notices API.
    for person in (employer, candidate):
        for path in ("/api/v1/messages/threads", "/api/v1/moderation/reports"):
            response = await client.get(path, headers=auth(settings, person))
            if response.status_code == 200:
                _says_nothing_of_the_watch(response.json())


async def test_the_same_rejection_without_a_protected_report_opens_nothing(
    session: AsyncSession, settings: Settings
) -> None:
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    application, _ = await upsert_application(
        session,
        employer_id=employer.id,
        candidate_id=candidate.id,
        job_title="Welder",
        status="reviewing",
        actor=Actor.service(),
    )
    message = await send(session, settings, employer, candidate, "Please send your CV")
    # A report, but not a protected one (spam), opens no watch.
    await flag_message(session, _participant(candidate), message.id, reason="spam")
    await upsert_application(
        session,
        employer_id=employer.id,
        candidate_id=candidate.id,
        job_title="Welder",
        status="rejected",
        actor=Actor.service(),
        application_id=application.id,
    )
    assert await _watches(session) == []
    assert await _items(session) == []


async def test_a_watch_ends_after_its_days(
    session: AsyncSession, owner_session: AsyncSession, settings: Settings
) -> None:
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    message = await send(session, settings, employer, candidate, "Ladies need not apply")
    await flag_message(session, _participant(candidate), message.id, reason="harassment")
    await _backdate_watches(owner_session, 181)
    await blocks.block_user(session, _participant(employer), candidate.id, reason="spam")
    assert await _items(session) == []


async def test_blocks_deletions_and_counter_reports_during_a_watch(
    session: AsyncSession, settings: Settings
) -> None:
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    other_candidate = await user(session, "candidate")
    message = await send(session, settings, employer, candidate, "Too old for us")
    await flag_message(session, _participant(candidate), message.id, reason="discrimination")
    reply = await send(session, settings, candidate, employer, "That is discrimination")

    # The employer reports the candidate back: an item, and the report held.
    counter = await flag_message(session, _participant(employer), reply.id, reason="harassment")
    # Towards another candidate, nothing is watched.
    other = await send(session, settings, employer, other_candidate, "Hello")
    await blocks.block_user(session, _participant(employer), other_candidate.id, reason="spam")
    await threads.delete_thread(session, _participant(employer), other.thread_id)
    # Towards the watched candidate: a block and a deleted thread.
    await blocks.block_user(session, _participant(employer), candidate.id, reason="other")
    await threads.delete_thread(session, _participant(employer), message.thread_id)

    items = await _items(session)
    assert [i.action for i in items] == ["reported", "blocked", "thread_deleted"]
    assert items[0].held_report_id == counter.report.id
    assert {i.candidate_id for i in items} == {candidate.id}
    assert all(i.days_since_report == 0 for i in items)
    assert counter.status == "received"  # the employer's receipt says nothing of the hold


async def test_a_counter_report_is_held_until_compliance_releases_it(
    session: AsyncSession, settings: Settings
) -> None:
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    moderator, admin = await staff(session, "moderator"), await staff(session, "admin")
    officer = await staff(session, "compliance")
    message = await send(session, settings, employer, candidate, "Go back where you came from")
    await flag_message(session, _participant(candidate), message.id, reason="harassment")
    reply = await send(session, settings, candidate, employer, "I will report this")
    counter = await flag_message(session, _participant(employer), reply.id, reason="spam")

    for who in (moderator, admin):
        with pytest.raises(retaliation.HeldForReview, match="compliance officer must review"):
            await moderation.dismiss(session, reply.id, actor=who)
        with pytest.raises(Forbidden):
            await moderation.remove_message(
                session,
                reply.id,
                actor=who,
                reason="spam",
                grounds=moderation.Grounds(policy="spam"),
            )
    # "Act on all" would suspend the candidate on the strength of the held report.
    with pytest.raises(retaliation.HeldForReview):
        await sender_actions.act_on_all(
            session,
            candidate.id,
            "remove_and_suspend",
            actor=moderator,
            reason="spam",
            grounds=moderation.Grounds(policy="spam"),
            days=7,
        )
    async with read_transaction(session):
        suspended = await session.scalar(select(User.is_suspended).where(User.id == candidate.id))
    assert suspended is False
    [report] = await report_rows(session, reply.id)
    assert report.status == "open" and report.decided_at is None

    with pytest.raises(Forbidden):  # a moderator cannot release it either
        [item] = await _items(session)
        await retaliation.review_item(session, item.id, actor=moderator, note="fine")
    [item] = await _items(session)
    assert item.held_report_id == counter.report.id
    views = await retaliation.list_items(session, actor=officer)
    assert [v.item.id for v in views] == [item.id] and views[0].held

    # "Next item" never lands on it.
    # (after the candidate's own report, the only other item)
    assert (
        await moderation_queue.next_item(session, viewer=moderator, after_message_id=message.id)
        is None
    )
    reviewed = await retaliation.review_item(
        session, item.id, actor=officer, note="no retaliatory motive: a real spam flood"
    )
    assert reviewed.status == "reviewed" and reviewed.released_at is not None
    released = await moderation_queue.next_item(
        session, viewer=moderator, after_message_id=message.id
    )
    assert released == reply.id
    await moderation.dismiss(session, reply.id, actor=moderator)
    async with read_transaction(session):
        decided = await session.get(FlagReport, counter.report.id, populate_existing=True)
    assert decided is not None and decided.status == "dismissed"
    assert len(await _actions(session, "retaliation.item_reviewed")) == 1


async def test_a_moderator_upholding_a_report_opens_a_watch_from_then(
    session: AsyncSession, settings: Settings
) -> None:
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    moderator = await staff(session, "moderator")
    message = await send(session, settings, employer, candidate, "Women can't weld")
    await flag_message(session, _participant(candidate), message.id, reason="discrimination")
    await moderation.warn_sender(
        session,
        message.id,
        actor=moderator,
        note="discriminatory",
        grounds=moderation.Grounds(policy="discrimination"),
    )
    assert [w.trigger for w in await _watches(session)] == ["report", "upheld"]
    # A dismissal upholds nothing.
    other = await send(session, settings, employer, candidate, "Fine, whatever")
    await flag_message(session, _participant(candidate), other.id, reason="harassment")
    await moderation.dismiss(session, other.id, actor=moderator)
    assert [w.trigger for w in await _watches(session)] == ["report", "upheld", "report"]


async def test_an_employer_reported_by_an_employer_is_not_watched(
    session: AsyncSession, settings: Settings
) -> None:
    """Only a candidate's report against the employer is the protected activity watched here;
    an employer's report of a candidate's message opens nothing when no watch stands."""
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    reply = await send(session, settings, candidate, employer, "You people are all the same")
    await flag_message(session, _participant(employer), reply.id, reason="harassment")
    assert await _watches(session) == []
    assert await _items(session) == []


async def test_an_appeal_that_overturns_a_dismissal_upholds_the_report(
    session: AsyncSession, settings: Settings
) -> None:
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    first, second = await staff(session, "moderator"), await staff(session, "admin")
    message = await send(session, settings, employer, candidate, "We want someone younger")
    await flag_message(session, _participant(candidate), message.id, reason="discrimination")
    await moderation.dismiss(session, message.id, actor=first)
    async with read_transaction(session):
        dismissal = await session.scalar(
            select(ModerationDecision).where(ModerationDecision.message_id == message.id)
        )
    assert dismissal is not None
    appeal = await appeals.file_appeal(
        session, _participant(candidate), dismissal.id, "It is age discrimination"
    )
    await appeals.decide_appeal(
        session,
        appeal.id,
        actor=second,
        outcome="overturned",
        reasoning="Age is a protected characteristic.",
        action="warn",
        grounds=moderation.Grounds(policy="discrimination"),
    )
    watches = await _watches(session)
    assert [w.trigger for w in watches] == ["report", "upheld"]
    [opened] = [
        e
        for e in await _actions(session, "retaliation.watch_opened")
        if e.details["trigger"] == "upheld"
    ]
    assert opened.actor_type == "system" and opened.details["upheld_by"] == str(second.id)
