"""Deleting a thread is per participant (issue 6, defect 3): it hides the thread from the one who
deleted it, the other keeps it whole, and a new message brings the same thread back to the
deleter holding only what was sent after their deletion."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from portal.models import AuditEvent, FlagReport, Message, MessageThread, User
from portal.settings import Settings
from tests.api.helpers import auth, make_pair, make_user, send_ok

MESSAGES = "/api/v1/messages"
THREADS = f"{MESSAGES}/threads"


async def thread_row(app: Litestar, thread_id: str) -> MessageThread:
    async with app.state.sessionmaker() as session:
        thread = await session.get(MessageThread, uuid.UUID(thread_id))
        assert thread is not None
        return thread


async def inbox(client: AsyncTestClient, settings: Settings, user: User) -> dict[str, Any]:
    response = await client.get(THREADS, headers=auth(settings, user))
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def unread(client: AsyncTestClient, settings: Settings, user: User) -> dict[str, Any]:
    response = await client.get(f"{MESSAGES}/unread-count", headers=auth(settings, user))
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def delete(client: AsyncTestClient, settings: Settings, user: User, thread_id: str) -> int:
    response = await client.delete(f"{THREADS}/{thread_id}", headers=auth(settings, user))
    return response.status_code


async def read(client: AsyncTestClient, settings: Settings, user: User, message_id: str) -> Any:
    return await client.put(f"{MESSAGES}/{message_id}/read", headers=auth(settings, user))


async def flag(client: AsyncTestClient, settings: Settings, user: User, message_id: str) -> Any:
    return await client.post(
        f"{MESSAGES}/{message_id}/flag",
        params={"reason": "harassment"},
        headers=auth(settings, user),
    )


async def test_the_other_participant_keeps_the_thread_and_can_still_act_on_it(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    harasser, victim = await make_pair(app)
    first = await send_ok(client, settings, harasser, victim, "first")
    second = await send_ok(client, settings, harasser, victim, "second")
    reply = await send_ok(client, settings, victim, harasser, "stop it")
    thread_id = first["thread"]["id"]
    victim_detail = await client.get(f"{THREADS}/{thread_id}", headers=auth(settings, victim))

    assert await delete(client, settings, harasser, thread_id) == 204

    # The victim's view is untouched: list, counts and the thread with every message.
    assert [t["id"] for t in (await inbox(client, settings, victim))["threads"]] == [thread_id]
    assert await unread(client, settings, victim) == {"unread_count": 2, "unread_threads": 1}
    detail = await client.get(f"{THREADS}/{thread_id}", headers=auth(settings, victim))
    assert detail.status_code == 200
    assert detail.json() == victim_detail.json()
    # ... and can still mark read and flag the harasser's messages.
    assert (await read(client, settings, victim, first["message"]["id"])).status_code == 200
    flagged = await flag(client, settings, victim, second["message"]["id"])
    assert flagged.status_code == 200
    assert flagged.json()["is_flagged"] is True
    assert await unread(client, settings, victim) == {"unread_count": 1, "unread_threads": 1}

    # For the harasser the thread and every message in it are gone, as if they never existed.
    assert await inbox(client, settings, harasser) == {
        "threads": [],
        "total": 0,
        "page": 1,
        "limit": 20,
        "unread_count": 0,
    }
    assert await unread(client, settings, harasser) == {"unread_count": 0, "unread_threads": 0}
    gone = await client.get(f"{THREADS}/{thread_id}", headers=auth(settings, harasser))
    assert gone.status_code == 404
    assert gone.json()["detail"] == f"thread {thread_id} does not exist"
    hidden_reply = reply["message"]["id"]
    for response in (
        await read(client, settings, harasser, hidden_reply),
        await flag(client, settings, harasser, hidden_reply),
        await client.patch(f"{THREADS}/{thread_id}/archive", headers=auth(settings, harasser)),
    ):
        assert response.status_code == 404, response.text
    assert await delete(client, settings, harasser, thread_id) == 404

    # Staff see who deleted when; nothing was erased and the reply is still unread.
    thread = await thread_row(app, thread_id)
    assert thread.deleted_by_employer_at is not None
    assert (thread.deleted_by_candidate_at, thread.is_deleted, thread.deleted_at) == (
        None,
        False,
        None,
    )
    assert (thread.unread_count_employer, thread.unread_count_candidate) == (0, 1)
    async with app.state.sessionmaker() as session:
        messages = (await session.scalars(select(Message))).all()
        assert len(messages) == 3
        assert [m.is_read for m in messages if m.id == uuid.UUID(hidden_reply)] == [False]
        deleted = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "thread.deleted"))
        ).all()
        reports = (await session.scalars(select(FlagReport))).all()
    # The event records the deletion time, so that an audit report's deletion is bound to it.
    deleted_at = thread.deleted_by_employer_at.astimezone(UTC).isoformat(timespec="microseconds")
    assert [(e.actor_id, e.details) for e in deleted] == [
        (harasser.id, {"role": "employer", "deleted_for_both": False, "deleted_at": deleted_at})
    ]
    assert [(r.reporter_id, r.message_id) for r in reports] == [
        (victim.id, uuid.UUID(second["message"]["id"]))
    ]


async def test_a_new_message_brings_the_same_thread_back_with_only_what_is_new(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    old = await send_ok(client, settings, employer, candidate, "old news")
    await send_ok(client, settings, candidate, employer, "old reply")
    thread_id = old["thread"]["id"]
    await client.patch(f"{THREADS}/{thread_id}/archive", headers=auth(settings, candidate))
    assert await delete(client, settings, candidate, thread_id) == 204

    # The other participant writes: the same thread is back for the deleter, in the inbox,
    # holding just the new message, which is all that counts as unread.
    new = await send_ok(client, settings, employer, candidate, "are you still interested?")
    assert new["thread"]["id"] == thread_id
    listed = await inbox(client, settings, candidate)
    assert [(t["id"], t["unread_count"], t["is_archived"]) for t in listed["threads"]] == [
        (thread_id, 1, False)
    ]
    assert await unread(client, settings, candidate) == {"unread_count": 1, "unread_threads": 1}
    detail = (await client.get(f"{THREADS}/{thread_id}", headers=auth(settings, candidate))).json()
    assert [m["body"] for m in detail["messages"]] == ["are you still interested?"]
    assert detail["total_messages"] == 1
    # The earlier history stays hidden for them, kept for the other participant.
    assert (await read(client, settings, candidate, old["message"]["id"])).status_code == 404
    assert (await flag(client, settings, candidate, old["message"]["id"])).status_code == 404
    assert (await read(client, settings, candidate, new["message"]["id"])).status_code == 200
    employer_view = await client.get(f"{THREADS}/{thread_id}", headers=auth(settings, employer))
    assert employer_view.json()["total_messages"] == 3

    # The deleter writing brings it back just the same.
    assert await delete(client, settings, candidate, thread_id) == 204
    assert (await inbox(client, settings, candidate))["total"] == 0
    mine = await send_ok(client, settings, candidate, employer, "yes, I am")
    assert mine["thread"]["id"] == thread_id
    assert mine["thread"]["unread_count"] == 0
    detail = (await client.get(f"{THREADS}/{thread_id}", headers=auth(settings, candidate))).json()
    assert [m["body"] for m in detail["messages"]] == ["yes, I am"]
    assert (await thread_row(app, thread_id)).is_deleted is False


async def test_deleting_on_both_sides_deletes_the_thread_for_good(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    thread_id = (await send_ok(client, settings, employer, candidate, "one"))["thread"]["id"]
    assert await delete(client, settings, employer, thread_id) == 204
    await send_ok(client, settings, candidate, employer, "two")  # back for the employer
    assert await delete(client, settings, candidate, thread_id) == 204
    # The employer still sees "two", so the thread is not yet deleted for both.
    assert (await thread_row(app, thread_id)).is_deleted is False
    assert [t["id"] for t in (await inbox(client, settings, employer))["threads"]] == [thread_id]
    assert await delete(client, settings, employer, thread_id) == 204
    thread = await thread_row(app, thread_id)
    assert thread.is_deleted is True
    assert (thread.unread_count_employer, thread.unread_count_candidate) == (0, 0)
    fresh = await send_ok(client, settings, employer, candidate, "three")
    assert fresh["thread"]["id"] != thread_id
    detail = (
        await client.get(f"{THREADS}/{fresh['thread']['id']}", headers=auth(settings, candidate))
    ).json()
    assert [m["body"] for m in detail["messages"]] == ["three"]


async def test_deleting_zeroes_only_the_deleters_counter_and_reads_nothing(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    sent = [await send_ok(client, settings, employer, candidate, f"m{i}") for i in range(3)]
    await send_ok(client, settings, candidate, employer, "reply")
    thread_id = sent[0]["thread"]["id"]
    assert await delete(client, settings, candidate, thread_id) == 204
    thread = await thread_row(app, thread_id)
    assert (thread.unread_count_candidate, thread.unread_count_employer) == (0, 1)
    # The sender is not told the messages were read: they were not.
    detail = (await client.get(f"{THREADS}/{thread_id}", headers=auth(settings, employer))).json()
    assert [m["is_read"] for m in detail["messages"]] == [False, False, False, False]


async def test_a_suspended_user_may_delete_a_thread(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    thread_id = (await send_ok(client, settings, employer, candidate))["thread"]["id"]
    async with app.state.sessionmaker() as session, session.begin():
        row = await session.get(User, candidate.id)
        assert row is not None
        row.is_suspended = True
    # It hides the thread from themselves only; the other participant and staff keep it.
    assert await delete(client, settings, candidate, thread_id) == 204
    assert (await inbox(client, settings, candidate))["total"] == 0
    assert (await inbox(client, settings, employer))["total"] == 1


async def test_outsiders_are_still_refused_on_a_thread_deleted_by_one_side(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    sent = await send_ok(client, settings, employer, candidate)
    thread_id = sent["thread"]["id"]
    assert await delete(client, settings, employer, thread_id) == 204
    outsider = await make_user(app, "candidate")
    detail = await client.get(f"{THREADS}/{thread_id}", headers=auth(settings, outsider))
    assert detail.status_code == 403
    assert (await flag(client, settings, outsider, sent["message"]["id"])).status_code == 403
    assert await delete(client, settings, outsider, thread_id) == 403
