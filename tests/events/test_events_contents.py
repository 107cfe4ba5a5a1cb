"""What each change publishes, to whom, and only after it commits: the services run on a test's
database with a running hub, in memory and on Redis; streams are read as a client would."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.database import create_sessionmaker
from portal.events.hub import EventHub, StaffEvent
from portal.events.model import (
    MESSAGE_CREATED,
    MESSAGE_READ,
    MESSAGE_REMOVED,
    RESYNC,
    THREAD_ARCHIVED,
    THREAD_DELETED,
    UNREAD_CHANGED,
    Event,
)
from portal.events.stream import Backlog, EventStream, TooManyStreams, open_staff_events
from portal.models import EmailOutbox, User
from portal.services import flags, messaging, moderation, threads
from portal.services.messaging import MessageDraft
from portal.settings import Settings
from server.metrics import EVENT_STREAMS, watch_streams
from tests.conftest import no_database
from tests.events.support import EVENT_BACKENDS, events_settings, open_reader, running_hub
from tests.portal.moderation_support import send, staff, user


class RolledBack(Exception):
    pass


@pytest.fixture(params=EVENT_BACKENDS)
async def hub(
    request: pytest.FixtureRequest, settings: Settings, engine: AsyncEngine
) -> AsyncIterator[EventHub]:
    configured = events_settings(
        settings, request.param, events_keepalive_seconds=0.05, events_max_streams_per_user=2
    )
    async with running_hub(configured, create_sessionmaker(engine, configured)) as hub:
        yield hub


async def test_a_message_reaches_both_participants_with_a_preview_only(hub: EventHub) -> None:
    assert hub.sessionmaker is not None
    async with hub.sessionmaker() as session:
        employer, candidate = await user(session, "employer"), await user(session, "candidate")
        to_candidate = await open_reader(hub, candidate.id, "candidate")
        to_employer = await open_reader(hub, employer.id, "employer")
        await to_candidate.until(UNREAD_CHANGED, unread_count=0)
        message = await send(
            session,
            hub.settings,
            employer,
            candidate,
            "<p>Hello <b>there</b></p>",
            body_format="html",
        )
    created = await to_candidate.until(MESSAGE_CREATED)
    assert created.data == {
        "thread_id": str(message.thread_id),
        "message_id": str(message.id),
        "sender_id": str(employer.id),
        "preview": "Hello there",
        "created_at": created.data["created_at"],
    }
    assert set(json.loads(created.as_json())) == {"id", "type", "ts", "data"}
    await to_candidate.until(UNREAD_CHANGED, unread_count=1, unread_threads=1)
    assert (await to_employer.until(MESSAGE_CREATED)).id  # the sender's other devices
    await to_candidate.close()
    await to_employer.close()


async def test_a_rolled_back_send_publishes_nothing(hub: EventHub) -> None:
    assert hub.sessionmaker is not None
    async with hub.sessionmaker() as session:
        employer, candidate = await user(session, "employer"), await user(session, "candidate")
        reader = await open_reader(hub, candidate.id, "candidate")
        await reader.until(UNREAD_CHANGED)

        async def fail(*_: object) -> None:
            raise RolledBack

        with pytest.raises(RolledBack):
            await messaging.send_message(
                session,
                sender_id=employer.id,
                draft=MessageDraft(recipient_id=candidate.id, body="never sent"),
                settings=hub.settings,
                on_sent=fail,
            )
    assert await reader.quiet() == []
    await reader.close()


async def test_a_report_shows_nothing_to_the_reported_sender_and_a_removal_shows_only_that(
    hub: EventHub,
) -> None:
    assert hub.sessionmaker is not None and hub.channels is not None
    async with hub.sessionmaker() as session:
        employer, candidate = await user(session, "employer"), await user(session, "candidate")
        moderator = await staff(session, "moderator")
        message = await send(session, hub.settings, employer, candidate, "pay a fee first")
        sender = await open_reader(hub, employer.id, "employer")
        await sender.until(UNREAD_CHANGED)
        async with hub.channels.start_subscription(hub.staff_channel) as staff_stream:
            await flags.flag_message(session, candidate, message.id, reason="spam", note="a scam")
            assert await sender.quiet() == []
            async with asyncio.timeout(2):
                async for raw in staff_stream.iter_events():
                    assert json.loads(raw)["kind"] == "report"
                    break
        await moderation.remove_message(
            session,
            message.id,
            actor=moderator,
            reason="scam",
            grounds=moderation.Grounds(policy="spam"),
        )
    removed = await sender.until(MESSAGE_REMOVED)
    assert removed.data == {"thread_id": str(message.thread_id), "message_id": str(message.id)}
    everything = json.dumps([e.as_json() for e in sender.events])
    for secret in ("spam", "scam", "reporter", "flag", str(candidate.id), str(moderator.id)):
        assert secret not in everything
    await sender.close()


async def test_reads_archives_and_deletions_go_to_whom_they_concern(hub: EventHub) -> None:
    assert hub.sessionmaker is not None
    async with hub.sessionmaker() as session:
        employer, candidate = await user(session, "employer"), await user(session, "candidate")
        message = await send(session, hub.settings, employer, candidate)
        to_employer = await open_reader(hub, employer.id, "employer")
        to_candidate = await open_reader(hub, candidate.id, "candidate")
        await to_candidate.until(UNREAD_CHANGED)
        await messaging.mark_read(session, candidate, message.id)
        receipt = await to_employer.until(MESSAGE_READ)
        assert receipt.data["message_id"] == str(message.id)
        await to_candidate.until(UNREAD_CHANGED, unread_count=0)
        await threads.archive_thread(session, candidate, message.thread_id)
        archived = await to_candidate.until(THREAD_ARCHIVED)
        assert archived.data == {"thread_id": str(message.thread_id), "archived": True}
        await threads.delete_thread(session, candidate, message.thread_id)
        assert (await to_candidate.until(THREAD_DELETED)).data == {
            "thread_id": str(message.thread_id)
        }
    assert {e.type for e in await to_employer.quiet()} <= {UNREAD_CHANGED}
    assert THREAD_ARCHIVED not in {e.type for e in to_employer.events}
    await to_employer.close()
    await to_candidate.close()


async def test_a_resumed_stream_gets_what_it_missed_in_order_or_a_resync(hub: EventHub) -> None:
    assert hub.history is not None
    someone = (await _people(hub))[0]
    sent = [await hub.history.append(someone.id, MESSAGE_CREATED, "t", {"n": n}) for n in range(5)]
    reader = await open_reader(hub, someone.id, "employer", last_event_id=sent[1].id)
    assert [(await reader.next()) for _ in range(3)] == sent[2:]
    await reader.close()
    stale = await open_reader(hub, someone.id, "employer", last_event_id="1-0")
    resync = await stale.next()
    # to the newest id kept (the streams' opening unread totals may be newer than sent[-1])
    assert resync is not None and resync.type == RESYNC and resync.key >= sent[-1].key
    await stale.close()
    assert await hub.history.since(someone.id, "not an id") is None


async def test_a_watching_user_gets_no_email_and_streams_are_bounded(hub: EventHub) -> None:
    assert hub.sessionmaker is not None
    watch_streams(hub)  # what /metrics shows: the streams open in this process
    open_streams = EVENT_STREAMS.labels("user")
    async with hub.sessionmaker() as session:
        employer, candidate = await user(session, "employer"), await user(session, "candidate")
        await _offline(session, candidate)
        first = await EventStream.open(hub, candidate.id, "candidate")
        second = await EventStream.open(hub, candidate.id, "candidate")
        with pytest.raises(TooManyStreams):
            await EventStream.open(hub, candidate.id, "candidate")
        assert await hub.is_watching(candidate.id)
        assert open_streams._value.get() == 2  # the refused third is not counted
        await send(session, hub.settings, employer, candidate, "while watching")
        await first.close()
        await second.close()
        await second.close()  # closing twice counts out once
        assert open_streams._value.get() == 0
        assert not await hub.is_watching(candidate.id)
        await _offline(session, candidate)
        await send(session, hub.settings, employer, candidate, "while away")
        outbox = (await session.scalars(select(EmailOutbox))).all()
    assert [row.recipient_id for row in outbox] == [candidate.id]


async def test_keepalives_come_while_nothing_happens(hub: EventHub) -> None:
    someone = (await _people(hub))[0]
    reader = await open_reader(hub, someone.id, "employer")
    await reader.quiet(0.3)
    assert reader.keepalives >= 2
    await reader.close()


def test_the_backlog_keeps_the_latest_unread_totals_and_overflows() -> None:
    backlog = Backlog(most=3)
    for n in range(5):
        backlog.add(Event(id=f"1-{n}", type=UNREAD_CHANGED, ts="t", data={"unread_count": n}))
    assert len(backlog) == 1 and not backlog.overflowed
    for n in range(3):
        backlog.add(Event(id=f"2-{n}", type=MESSAGE_CREATED, ts="t", data={}))
    assert backlog.overflowed


async def _people(hub: EventHub) -> list[User]:
    assert hub.sessionmaker is not None
    async with hub.sessionmaker() as session:
        return [await user(session, "employer")]


async def _offline(session: object, who: User) -> None:
    from sqlalchemy import update

    from portal.database import write_transaction
    from portal.models.base import utcnow

    assert hasattr(session, "execute")
    async with write_transaction(session):  # type: ignore[arg-type]
        await session.execute(  # type: ignore[attr-defined]
            update(User).where(User.id == who.id).values(last_active_at=utcnow().replace(year=2000))
        )


async def test_the_staff_stream_says_the_queue_changed_and_nothing_more(hub: EventHub) -> None:
    assert hub.sessionmaker is not None
    changes = (await open_staff_events(hub)).__aiter__()
    first = asyncio.ensure_future(changes.__anext__())
    await asyncio.sleep(0)
    async with hub.sessionmaker() as session:
        employer, candidate = await user(session, "employer"), await user(session, "candidate")
        message = await send(session, hub.settings, employer, candidate, "a scam")
        await flags.flag_message(session, candidate, message.id, reason="spam")
    async with asyncio.timeout(2):
        change = await first
        while change is None:
            change = await changes.__anext__()
    assert change is not None and json.loads(change)["kind"] == "report"
    assert set(json.loads(change)) == {"kind", "ts"}
    await changes.aclose()  # type: ignore[attr-defined]


@no_database
async def test_deployments_sharing_a_redis_hear_only_their_own_staff_events(
    settings: Settings, engine: AsyncEngine
) -> None:
    """Redis pub/sub channels are not under any key prefix: two deployments (here two hubs with
    prefixes of their own) on one Redis each publish and hear only on their own channels."""
    ours, theirs = events_settings(settings, "redis"), events_settings(settings, "redis")
    async with (
        running_hub(ours, create_sessionmaker(engine, ours)) as our_hub,
        running_hub(theirs, create_sessionmaker(engine, theirs)) as their_hub,
    ):
        assert our_hub.channels is not None
        assert our_hub.staff_channel != their_hub.staff_channel
        assert our_hub.user_channel(uuid.UUID(int=1)) != their_hub.user_channel(uuid.UUID(int=1))
        async with our_hub.channels.start_subscription(our_hub.staff_channel) as staff_stream:
            their_hub.enqueue(StaffEvent("theirs", "t"))
            our_hub.enqueue(StaffEvent("ours", "t"))
            async with asyncio.timeout(2):
                async for raw in staff_stream.iter_events():
                    assert json.loads(raw)["kind"] == "ours"
                    break
