"""Account-level triage: the queue grouped by sender, acting on all of a sender's items, the
priority's order of severity and its explanation, response targets, saved views, assignment."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.errors import Forbidden, InvalidInput, NotFound
from portal.models import AuditEvent, FlagReport, Message, User
from portal.models.base import utcnow
from portal.services import (
    moderation,
    moderation_queue,
    moderation_types,
    queue_work,
    sender_actions,
)
from portal.settings import Settings
from tests.admin.seed import seed_open_reports
from tests.portal.moderation_support import audit_count, report, send, staff, user
from tests.portal.queue_support import flood
from tests.statements import statements


async def test_grouping_gives_one_row_per_sender_with_counts_reasons_reporters_oldest(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    spammer = await user(session, "employer", "Sam Spammer")
    bully = await user(session, "employer", "Bea Bully")
    target = await user(session, "candidate", "Cody Candidate")
    witnesses = [await user(session, "candidate", f"Witness {i}") for i in range(4)]
    now = utcnow()
    spam = await flood(session, settings, spammer, target, 5, at=now - timedelta(hours=5))
    for witness in witnesses:  # four more reporters on the first spam message
        await report(session, spam[0], witness, "scam", at=now - timedelta(hours=1))
    threat = await send(session, settings, bully, target, "I know where you live")
    await report(session, threat, target, "harassment", at=now - timedelta(hours=9))
    closed = await send(session, settings, bully, target, "closed one")
    await report(session, closed, target, "spam")
    await moderation.dismiss(session, closed.id, actor=moderator)

    page = await moderation_queue.sender_groups(session, viewer=moderator)

    assert page.total == 2
    first, second = page.groups
    assert (first.sender_id, first.sender_name) == (spammer.id, "Sam Spammer")
    assert (first.items, first.reports, first.reporter_count) == (5, 9, 5)
    assert first.reasons == {"spam": 5, "scam": 4}
    assert first.reporter_names == ["Cody Candidate", "Witness 0", "Witness 1"]
    assert first.first_reported_at == now - timedelta(hours=5)
    # the dismissed report is not open work
    assert (second.sender_id, second.items, second.reports) == (bully.id, 1, 1)
    assert second.reasons == {"harassment": 1}
    # by age: the longest waiting sender first; by reason: only that reason's reports count
    by_age = await moderation_queue.sender_groups(session, viewer=moderator, order="age")
    assert [g.sender_id for g in by_age.groups] == [bully.id, spammer.id]
    scams = await moderation_queue.sender_groups(session, viewer=moderator, reason="scam")
    assert [(g.sender_id, g.items, g.reports) for g in scams.groups] == [(spammer.id, 1, 4)]
    decided = await moderation_queue.sender_groups(session, viewer=moderator, status="decided")
    assert [(g.sender_id, g.items) for g in decided.groups] == [(bully.id, 1)]
    past_the_end = await moderation_queue.sender_groups(
        session, viewer=moderator, page=3, per_page=1
    )
    assert (past_the_end.groups, past_the_end.total) == ([], 2)


async def _events(session: AsyncSession, action: str, subject_id: object) -> int:
    async with read_transaction(session):
        return (
            await session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.subject_id == subject_id)
            )
            or 0
        )


async def test_act_on_all_removes_30_items_each_audited_and_suspends_once(
    session: AsyncSession, settings: Settings
) -> None:
    moderator, other = await staff(session, "moderator"), await staff(session, "moderator")
    spammer = await user(session, "employer", "Sam Spammer")
    target = await user(session, "candidate")
    messages = await flood(session, settings, spammer, target, 30)
    bystander = await user(session, "employer")
    unrelated = await send(session, settings, bystander, target, "a fair message")
    await report(session, unrelated, target, "spam")
    # one item decided meanwhile, by a colleague, after the moderator saw the sender's row
    seen = await moderation_queue.open_items_of_sender(session, spammer.id)
    assert seen == [m.id for m in messages]
    await moderation.dismiss(session, messages[7].id, actor=other, note="looked fine")
    removed_before = await audit_count(session, "message.removed")

    result = await sender_actions.act_on_all(
        session,
        spammer.id,
        "remove_and_suspend",
        actor=moderator,
        reason="spam run",
        grounds=moderation.Grounds(policy="spam"),
        days=7,
        message_ids=seen,
    )

    assert result.suspended
    assert result.decided == [m.id for m in messages if m.id != messages[7].id]
    [skipped] = result.skipped
    assert skipped.message_id == messages[7].id and skipped.decision == "dismissed"
    assert skipped.decided_by_name == other.display_name
    assert await audit_count(session, "message.removed") == removed_before + 29
    for message in messages:  # each item its own audited decision
        expected = 0 if message.id == messages[7].id else 1
        assert await _events(session, "message.removed", message.id) == expected
    assert await _events(session, "user.suspended", spammer.id) == 1
    async with read_transaction(session):
        removed = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.sender_id == spammer.id, Message.is_removed.is_(True))
        )
        sender = await session.get(User, spammer.id, populate_existing=True)
        still_open = await session.scalar(
            select(func.count()).select_from(FlagReport).where(FlagReport.status == "open")
        )
    assert removed == 29
    assert sender is not None and sender.is_suspended
    assert sender.suspended_until is not None
    assert still_open == 1  # the other sender's report is untouched
    page = await moderation_queue.sender_groups(session, viewer=moderator)
    assert [g.sender_id for g in page.groups] == [bystander.id]


async def test_dismiss_all_and_the_rules_of_act_on_all(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    compliance = await staff(session, "compliance")
    sender = await user(session, "employer")
    target = await user(session, "candidate")
    messages = await flood(session, settings, sender, target, 3)
    with pytest.raises(InvalidInput) as refused:  # a restriction cites a policy
        await sender_actions.act_on_all(
            session, sender.id, "remove_and_suspend", actor=moderator, reason="spam"
        )
    assert refused.value.field == "policy"
    with pytest.raises(InvalidInput) as refused:
        await sender_actions.act_on_all(
            session,
            sender.id,
            "remove_and_suspend",
            actor=moderator,
            grounds=moderation.Grounds(policy="spam"),
        )
    assert refused.value.field == "reason"
    with pytest.raises(Forbidden):
        await sender_actions.act_on_all(
            session,
            sender.id,
            "remove_and_suspend",
            actor=compliance,
            reason="x",
            grounds=moderation.Grounds(policy="spam"),
        )
    with pytest.raises(NotFound):
        await sender_actions.act_on_all(session, uuid.UUID(int=1), "dismiss", actor=moderator)
    assert await audit_count(session, "message.removed") == 0

    other = await user(session, "employer")
    foreign = await send(session, settings, other, target, "not theirs")
    await report(session, foreign, target, "spam")
    result = await sender_actions.act_on_all(
        session,
        sender.id,
        "dismiss",
        actor=moderator,
        message_ids=[m.id for m in messages] + [foreign.id],
    )
    assert result.decided == [m.id for m in messages] and not result.suspended
    assert [(s.message_id, s.reason) for s in result.skipped] == [
        (foreign.id, "not this sender's message")
    ]
    assert await audit_count(session, "moderation.dismissed") == 3
    assert await audit_count(session, "user.suspended") == 0


async def test_priority_puts_threats_and_discrimination_above_scam_then_spam(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    target = await user(session, "candidate")
    at = utcnow() - timedelta(hours=1)
    ids = {}
    for reason in ("spam", "scam", "discrimination", "harassment", "inappropriate_content"):
        sender = await user(session, "employer")  # no record: severity alone decides
        message = await send(session, settings, sender, target, f"about {reason}")
        await report(session, message, target, reason, at=at)
        ids[message.id] = reason
    # two reporters of spam still rank under one report of a threat or of discrimination
    witness = await user(session, "candidate")
    spam_id = next(k for k, v in ids.items() if v == "spam")
    async with read_transaction(session):
        spam_message = await session.get(Message, spam_id)
    assert spam_message is not None
    await report(session, spam_message, witness, "spam", at=at)

    page = await moderation_queue.queue_page(session, viewer=moderator)

    order = [ids[item.message_id] for item in page.items]
    assert order == ["harassment", "discrimination", "scam", "inappropriate_content", "spam"]
    assert moderation_types.SEVERITY["harassment"] > moderation_types.SEVERITY["scam"]
    threat = page.items[0]
    assert "most severe: harassment" in threat.priority_why
    assert dict(threat.priority_parts)["1 reporter"] == 10


async def test_response_targets_mark_overdue_items(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    target = await user(session, "candidate")
    sender = await user(session, "employer")
    now = utcnow()
    threat = await send(session, settings, sender, target, "watch your back")
    await report(session, threat, target, "harassment", at=now - timedelta(hours=2))
    spam = await send(session, settings, sender, target, "cheap stuff")
    await report(session, spam, target, "spam", at=now - timedelta(hours=2))
    old_spam = await send(session, settings, sender, target, "older cheap stuff")
    await report(session, old_spam, target, "spam", at=now - timedelta(hours=30))

    page = await moderation_queue.queue_page(session, viewer=moderator)
    items = {item.message_id: item for item in page.items}
    assert items[threat.id].target_hours == 1 and items[threat.id].overdue(now)
    assert items[spam.id].target_hours == 24 and not items[spam.id].overdue(now)
    assert items[old_spam.id].overdue(now)
    relaxed = await moderation_queue.queue_page(
        session,
        viewer=moderator,
        targets=moderation_types.ResponseTargets(hours=48, urgent_hours=3),
    )
    items = {item.message_id: item for item in relaxed.items}
    assert not items[threat.id].overdue(now) and not items[old_spam.id].overdue(now)


async def test_saved_views_are_per_staff_member_replaced_by_name_and_deletable(
    session: AsyncSession,
) -> None:
    mona, max_ = await staff(session, "moderator"), await staff(session, "moderator")
    spam = await queue_work.save_view(
        session, actor=mona, name="  Spam floods ", filters={"reason": "spam", "group": "sender"}
    )
    assert (spam.name, spam.query) == ("Spam floods", "reason=spam&group=sender")
    await queue_work.save_view(
        session, actor=mona, name="Old", filters={"status": "open", "age": "30", "order": "age"}
    )
    replaced = await queue_work.save_view(
        session, actor=mona, name="Spam floods", filters={"reason": "scam"}
    )
    assert replaced.id == spam.id
    views = await queue_work.list_views(session, viewer=mona)
    assert [(v.name, v.query) for v in views] == [
        ("Old", "status=open&age=30&order=age"),
        ("Spam floods", "reason=scam"),
    ]
    assert await queue_work.list_views(session, viewer=max_) == []
    for bad in ({"reason": "rudeness"}, {"age": "2"}, {"group": "thread"}, {"sort": "x"}):
        with pytest.raises(InvalidInput):
            await queue_work.save_view(session, actor=mona, name="bad", filters=bad)
    with pytest.raises(InvalidInput):
        await queue_work.save_view(session, actor=mona, name=" ", filters={})
    with pytest.raises(NotFound):  # someone else's view
        await queue_work.delete_view(session, spam.id, actor=max_)
    await queue_work.delete_view(session, spam.id, actor=mona)
    assert [v.name for v in await queue_work.list_views(session, viewer=mona)] == ["Old"]
    assert await audit_count(session, "queue.view_saved") == 3
    assert await audit_count(session, "queue.view_deleted") == 1


async def test_assignment_rules_and_audit(session: AsyncSession, settings: Settings) -> None:
    admin = await staff(session, "admin")
    mona, max_ = await staff(session, "moderator"), await staff(session, "moderator")
    compliance = await staff(session, "compliance")
    sender, target = await user(session, "employer"), await user(session, "candidate")
    first, second = await flood(session, settings, sender, target, 2)

    # a moderator takes an unclaimed item, then hands it to a colleague
    await queue_work.assign(session, first.id, assignee_id=mona.id, actor=mona)
    await queue_work.assign(session, first.id, assignee_id=max_.id, actor=mona)
    mine = await moderation_queue.queue_page(session, viewer=max_, status="mine")
    assert [i.message_id for i in mine.items] == [first.id]
    assert mine.items[0].claimed_by_name == max_.display_name
    # but does not take a colleague's item; an administrator does
    with pytest.raises(Forbidden):
        await queue_work.assign(session, first.id, assignee_id=mona.id, actor=mona)
    await queue_work.assign(session, first.id, assignee_id=mona.id, actor=admin)
    await queue_work.assign(session, second.id, assignee_id=max_.id, actor=admin)
    with pytest.raises(InvalidInput):  # compliance does not decide open items
        await queue_work.assign(session, second.id, assignee_id=compliance.id, actor=admin)
    with pytest.raises(Forbidden):
        await queue_work.assign(session, second.id, assignee_id=compliance.id, actor=compliance)
    assert await _events(session, "moderation.assigned", first.id) == 3
    assert await _events(session, "moderation.assigned", second.id) == 1
    # assigning to the holder changes nothing; a decided item is not assigned
    await queue_work.assign(session, second.id, assignee_id=max_.id, actor=admin)
    assert await _events(session, "moderation.assigned", second.id) == 1
    await moderation.dismiss(session, second.id, actor=max_)
    with pytest.raises(NotFound):
        await queue_work.assign(session, second.id, assignee_id=mona.id, actor=admin)
    names = [a.name for a in await queue_work.assignees(session)]
    assert set(names) == {admin.display_name, mona.display_name, max_.display_name}


# the page of senders with the total, their reasons, their first reporters (SQLite: and BEGIN)
GROUPED_STATEMENTS = {"sqlite": 4, "postgres": 3}


@pytest.mark.parametrize("reports", [500, 10_000])
async def test_the_grouped_queue_takes_the_same_statements_whatever_its_size(
    session: AsyncSession, backend: str, reports: int
) -> None:
    """As many statements for 500 as for 10,000 open reports from 50 senders: none per
    sender, item or reporter."""
    moderator = await staff(session, "moderator")
    await seed_open_reports(session, reports, per_message=2, people=50)
    with statements(session.bind) as log:  # type: ignore[arg-type]
        page = await moderation_queue.sender_groups(session, viewer=moderator)
    assert page.total == 50
    assert sum(g.reports for g in page.groups) == reports
    assert all(len(g.reporter_names) == 3 for g in page.groups)
    assert len(log) == GROUPED_STATEMENTS[backend]
