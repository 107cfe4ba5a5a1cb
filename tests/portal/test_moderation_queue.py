"""The moderation queue: one item per reported message, priority, filters, counts, and a fixed
number of SQL statements whatever its size."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.database import write_transaction
from portal.errors import InvalidInput
from portal.models import RateLimitViolation
from portal.models.base import new_id, utcnow
from portal.services import (
    moderation,
    moderation_queue,
    moderation_records,
    moderation_types,
    suspensions,
)
from portal.settings import Settings
from tests.portal.moderation_support import report, send, staff, user
from tests.statements import statements


async def test_one_item_per_message_collapses_its_reports(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    employer = await user(session, "employer", "Eve Employer")
    candidate = await user(session, "candidate", "Cara Candidate")
    body = "<p>Pay <b>me</b> first &amp; I'll hire you " + "x" * 400 + "</p>"
    message = await send(session, settings, employer, candidate, body, body_format="html")
    reporters = [candidate] + [await user(session, "candidate", f"Reporter {i}") for i in range(3)]
    reasons = ["scam", "scam", "harassment", "spam"]
    now = utcnow()
    for i, (reporter, reason) in enumerate(zip(reporters, reasons, strict=True)):
        await report(session, message, reporter, reason, at=now - timedelta(hours=4 - i))

    page = await moderation_queue.queue_page(session, viewer=moderator)

    assert page.total == 1
    [item] = page.items
    assert item.message_id == message.id
    assert item.thread_id == message.thread_id
    assert item.reasons == {"scam": 2, "harassment": 1, "spam": 1}
    assert next(iter(item.reasons)) == "scam"
    assert item.reporter_count == 4
    assert item.reporter_names == ["Cara Candidate", "Reporter 0", "Reporter 1", "Reporter 2"]
    assert (item.sender_name, item.recipient_name) == ("Eve Employer", "Cara Candidate")
    assert item.excerpt.startswith("Pay me first & I'll hire you xxx")
    assert "<" not in item.excerpt and len(item.excerpt) <= moderation_types.EXCERPT_LENGTH
    assert item.first_reported_at == now - timedelta(hours=4)
    assert item.last_reported_at == now - timedelta(hours=1)
    assert item.status == "open" and item.claimed_by_id is None and item.decision is None
    # 10 × 4 reporters + 20 × 6 (harassment, the most severe) + 2 × (3 + 3 + 6 + 1); no record
    assert item.priority == 40 + 120 + 26
    assert item.priority_parts == (
        ("4 reporters", 40),
        ("most severe: harassment", 120),
        ("severity of all reports", 26),
    )


async def test_priority_weighs_reporters_severity_and_the_senders_record(
    session: AsyncSession, settings: Settings
) -> None:
    moderator = await staff(session, "moderator")
    candidate = await user(session, "candidate")
    clean, repeat = await user(session, "employer", "Clean"), await user(session, "employer")
    spam = await send(session, settings, clean, candidate, "buy now")
    harassment = await send(session, settings, clean, candidate, "you are worthless")
    from_repeat = await send(session, settings, repeat, candidate, "spam again")
    old = utcnow() - timedelta(days=2)
    await report(session, spam, candidate, "spam", at=old)
    await report(session, harassment, candidate, "harassment")
    await report(session, from_repeat, candidate, "spam")
    # the repeat offender: one earlier removal, one suspension, 12 violations (10 count)
    earlier = await send(session, settings, repeat, candidate, "earlier")
    await report(session, earlier, candidate, "spam")
    await moderation.remove_message(
        session,
        earlier.id,
        actor=moderator,
        reason="spam",
        grounds=moderation.Grounds(policy="spam"),
    )
    await suspensions.suspend_user(
        session, repeat.id, actor=moderator, reason="spam", days=1, policy="spam"
    )
    await suspensions.lift_suspension(session, repeat.id, actor=moderator, reason="appeal")
    async with write_transaction(session):
        for _ in range(12):
            session.add(
                RateLimitViolation(
                    id=new_id(),
                    user_id=repeat.id,
                    count_in_window=10,
                    limit=10,
                    window_seconds=86400,
                )
            )

    page = await moderation_queue.queue_page(session, viewer=moderator)
    by_id = {item.message_id: item for item in page.items}
    assert by_id[spam.id].priority == 10 + 20 + 2
    assert by_id[harassment.id].priority == 10 + 120 + 12
    assert by_id[from_repeat.id].priority == 10 + 20 + 2 + 8 + 12 + 20
    # a threat outranks a repeat spammer's spam, which outranks a first-time spammer's
    assert [i.message_id for i in page.items] == [harassment.id, from_repeat.id, spam.id]
    assert by_id[from_repeat.id].priority_why == (
        "1 reporter: 10 + most severe: spam: 20 + severity of all reports: 2 + "
        "sender's 1 removed messages: 8 + sender's 1 suspensions: 12 + "
        "sender's 10 rate-limit violations: 20"
    )

    by_age = await moderation_queue.queue_page(session, viewer=moderator, order="age")
    assert by_age.items[0].message_id == spam.id


async def test_filters_status_reason_age_and_pages(
    session: AsyncSession, settings: Settings
) -> None:
    me = await staff(session, "moderator", "Me")
    other = await staff(session, "moderator", "Other")
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    now = utcnow()
    messages = [await send(session, settings, employer, candidate, f"m{i}") for i in range(6)]
    for i, message in enumerate(messages):
        reason = "harassment" if i % 2 else "spam"
        at = now - timedelta(days=i) + timedelta(minutes=5)
        await report(session, message, candidate, reason, at=at)
    await moderation.claim(session, messages[0].id, actor=me)
    await moderation.claim(session, messages[1].id, actor=other)
    await moderation.escalate(session, messages[2].id, actor=me, note="legal")
    await moderation.dismiss(session, messages[3].id, actor=other)

    async def ids(**filters: Any) -> list[Any]:
        page = await moderation_queue.queue_page(session, viewer=me, order="age", **filters)
        return [item.message_id for item in page.items]

    assert await ids() == [messages[5].id, messages[4].id, messages[1].id, messages[0].id]
    assert await ids(status="mine") == [messages[0].id]
    assert await ids(status="escalated") == [messages[2].id]
    assert await ids(status="decided") == [messages[3].id]
    assert await ids(reason="harassment") == [messages[5].id, messages[1].id]
    assert await ids(max_age_days=1) == [messages[1].id, messages[0].id]

    open_page = await moderation_queue.queue_page(session, viewer=me, order="age")
    claimed = {i.message_id: i for i in open_page.items}[messages[1].id]
    assert (claimed.status, claimed.claimed_by_name) == ("claimed", "Other")
    [decided] = (await moderation_queue.queue_page(session, viewer=me, status="decided")).items
    assert (decided.decided_by_name, decided.decision) == ("Other", "dismissed")

    first = await moderation_queue.queue_page(session, viewer=me, order="age", per_page=3)
    second = await moderation_queue.queue_page(session, viewer=me, order="age", per_page=3, page=2)
    past = await moderation_queue.queue_page(session, viewer=me, page=9, per_page=3)
    assert (first.total, len(first.items), second.total, len(second.items)) == (4, 3, 4, 1)
    assert (past.total, past.items, first.pages) == (4, [], 2)

    counts = await moderation_queue.queue_counts(session, viewer=me)
    assert counts == moderation_types.QueueCounts(open=4, mine=1, escalated=1)


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "all"},
        {"order": "random"},
        {"reason": "rude"},
        {"page": 0},
        {"per_page": 500},
        {"max_age_days": -1},
        {"max_age_days": 10**9},
    ],
)
async def test_bad_filters_are_refused(session: AsyncSession, filters: dict[str, Any]) -> None:
    moderator = await staff(session, "moderator")
    with pytest.raises(InvalidInput):
        await moderation_queue.queue_page(session, viewer=moderator, **filters)


async def test_the_queue_takes_the_same_statements_for_3_or_30_items(
    session: AsyncSession, settings: Settings, engine: AsyncEngine
) -> None:
    moderator = await staff(session, "moderator")
    candidate = await user(session, "candidate")
    counts = []
    for size in (3, 30):
        while len(await _all_items(session, moderator)) < size:
            sender = await user(session, "employer")
            message = await send(session, settings, sender, candidate, "report me")
            await report(session, message, candidate, "scam")
            await report(session, message, await user(session, "employer"), "spam")
        with statements(engine) as seen:
            page = await moderation_queue.queue_page(session, viewer=moderator, per_page=50)
            await moderation_queue.queue_counts(session, viewer=moderator)
            await moderation_queue.next_item(session, viewer=moderator)
        assert len(page.items) == size
        counts.append(len(seen))
    assert counts[0] == counts[1]
    # queue page: items with total, their reports; counts: one; next item: one (+ BEGIN/COMMIT
    # on SQLite's explicit transactions)
    assert counts[0] <= 4 + 3 * 2


async def _all_items(session: AsyncSession, viewer: Any) -> list[Any]:
    return (await moderation_queue.queue_page(session, viewer=viewer, per_page=200)).items


async def test_next_item_skips_the_current_one_and_others_claims(
    session: AsyncSession, settings: Settings
) -> None:
    me = await staff(session, "moderator")
    other = await staff(session, "moderator")
    compliance = await staff(session, "compliance")
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    low = await send(session, settings, employer, candidate, "low")
    high = await send(session, settings, employer, candidate, "high")
    taken = await send(session, settings, employer, candidate, "taken")
    await report(session, low, candidate, "spam")
    await report(session, high, candidate, "harassment")
    await report(session, taken, candidate, "discrimination")
    await moderation.claim(session, taken.id, actor=other)

    assert await moderation_queue.next_item(session, viewer=me) == high.id
    assert await moderation_queue.next_item(session, viewer=me, after_message_id=high.id) == low.id
    assert await moderation_queue.next_item(session, viewer=other) == taken.id
    assert await moderation_queue.next_item(session, viewer=compliance) is None
    await moderation.escalate(session, low.id, actor=me, note="legal")
    assert await moderation_queue.next_item(session, viewer=compliance) == low.id


async def test_report_view_user_history_and_overview_take_fixed_statements(
    session: AsyncSession, settings: Settings, engine: AsyncEngine
) -> None:
    moderator = await staff(session, "moderator")
    employer, candidate = await user(session, "employer"), await user(session, "candidate")
    settings = replace(settings, rate_limit_messages=100)  # this test is not about the limit
    counts = []
    for more in (1, 12):
        for n in range(more):
            message = await send(session, settings, employer, candidate, f"m{n}")
            await report(session, message, candidate, "spam")
            await report(session, message, await user(session, "candidate"), "scam")
            await moderation.add_note(session, actor=moderator, body="n", message_id=message.id)
            await moderation.warn_sender(
                session,
                message.id,
                actor=moderator,
                note="w",
                grounds=moderation.Grounds(policy="spam"),
            )
        target = await send(session, settings, employer, candidate, "target")
        await report(session, target, candidate, "harassment")
        with statements(engine) as seen:
            view = await moderation_records.report_view(session, target.id)
            history = await moderation_records.user_history(session, employer.id)
            await moderation_records.overview(session)
        counts.append(len(seen))
    assert len(view.earlier_decisions) == 13 and len(history.notes) == 13
    assert counts[0] == counts[1]


async def test_equal_priority_items_come_oldest_first(
    session: AsyncSession, settings: Settings
) -> None:
    """Ties in priority go to whoever has waited longest: the earliest first report, on the page,
    across pages and for "next item". The messages are sent in an order that is neither that of
    their reports nor its reverse, so that the message's id or time cannot stand in for the
    report's time, either way round."""
    moderator = await staff(session, "moderator")
    candidate = await user(session, "candidate")
    now = utcnow()
    messages = []
    for n in range(3):  # three senders with no record: the same priority for the same report
        sender = await user(session, "employer", f"Sender {n}")
        messages.append(await send(session, settings, sender, candidate, f"offer {n}"))
    newest, waited_longest, waited = messages
    for hours, message in ((9, waited_longest), (5, waited), (1, newest)):
        await report(session, message, candidate, "spam", at=now - timedelta(hours=hours))
    oldest_first = [waited_longest.id, waited.id, newest.id]

    page = await moderation_queue.queue_page(session, viewer=moderator)
    assert len({item.priority for item in page.items}) == 1
    assert [item.message_id for item in page.items] == oldest_first
    by_age = await moderation_queue.queue_page(session, viewer=moderator, order="age")
    assert [item.message_id for item in by_age.items] == oldest_first
    pages = [
        await moderation_queue.queue_page(session, viewer=moderator, per_page=2, page=n)
        for n in (1, 2)
    ]
    assert [item.message_id for p in pages for item in p.items] == oldest_first

    assert await moderation_queue.next_item(session, viewer=moderator) == waited_longest.id
    after = await moderation_queue.next_item(
        session, viewer=moderator, after_message_id=waited_longest.id
    )
    assert after == waited.id
    await moderation.dismiss(session, waited_longest.id, actor=moderator)
    assert await moderation_queue.next_item(session, viewer=moderator) == waited.id
