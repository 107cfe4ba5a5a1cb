"""Threads: the inbox list, one thread's messages, unread counts, archive and soft delete."""

from __future__ import annotations

import uuid
from datetime import UTC

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from portal.models import AuditEvent, Message, MessageThread
from portal.settings import Settings
from tests.api.helpers import auth, make_application, make_pair, make_user, send_ok, service_auth
from tests.conftest import no_database

THREADS = "/api/v1/messages/threads"


async def audit_actions(app: Litestar, action: str) -> list[AuditEvent]:
    async with app.state.sessionmaker() as session:
        return list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == action)
                .order_by(AuditEvent.occurred_at)
            )
        )


# --- list -----------------------------------------------------------------------------------


async def test_list_empty(app: Litestar, client: AsyncTestClient, settings: Settings) -> None:
    user = await make_user(app, "candidate")
    response = await client.get(THREADS, headers=auth(settings, user))
    assert response.status_code == 200
    assert response.json() == {
        "threads": [],
        "total": 0,
        "page": 1,
        "limit": 20,
        "unread_count": 0,
    }


async def test_list_newest_activity_first_with_callers_view(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    candidate = await make_user(app, "candidate")
    employers = [await make_user(app, "employer") for _ in range(3)]
    for employer in employers:
        await send_ok(client, settings, employer, candidate, f"from {employer.display_name}")
    # Activity in the oldest thread brings it to the top.
    await send_ok(client, settings, employers[0], candidate, "again")
    stranger = await make_user(app, "candidate")
    await send_ok(client, settings, employers[1], stranger)

    response = await client.get(THREADS, headers=auth(settings, candidate))
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert body["unread_count"] == 4
    others = [thread["other_participant"]["id"] for thread in body["threads"]]
    assert others == [str(employers[0].id), str(employers[2].id), str(employers[1].id)]
    assert [thread["unread_count"] for thread in body["threads"]] == [2, 1, 1]
    assert body["threads"][0]["other_participant"]["role"] == "employer"
    assert all(thread["is_archived"] is False for thread in body["threads"])

    employer_view = (await client.get(THREADS, headers=auth(settings, employers[1]))).json()
    assert employer_view["total"] == 2
    assert employer_view["unread_count"] == 0


async def test_list_filters_unread_only_and_application(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    application = await make_application(app, employer, candidate)
    await send_ok(client, settings, employer, candidate)
    with_application = await send_ok(
        client, settings, candidate, employer, application_id=str(application.id)
    )
    headers = auth(settings, candidate)

    unread = (await client.get(THREADS, params={"unread_only": "true"}, headers=headers)).json()
    assert unread["total"] == 1
    assert unread["threads"][0]["application_id"] is None
    assert unread["unread_count"] == 1

    by_application = (
        await client.get(THREADS, params={"application_id": str(application.id)}, headers=headers)
    ).json()
    assert [t["id"] for t in by_application["threads"]] == [with_application["thread"]["id"]]
    unknown = await client.get(
        THREADS, params={"application_id": str(uuid.uuid4())}, headers=headers
    )
    assert unknown.json()["total"] == 0


async def test_list_pagination_and_limits(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer = await make_user(app, "employer")
    candidates = [await make_user(app, "candidate") for _ in range(5)]
    for candidate in candidates:
        await send_ok(client, settings, employer, candidate)
    headers = auth(settings, employer)

    pages = [
        (await client.get(THREADS, params={"page": page, "limit": 2}, headers=headers)).json()
        for page in (1, 2, 3, 4)
    ]
    assert [len(page["threads"]) for page in pages] == [2, 2, 1, 0]
    assert all(page["total"] == 5 and page["limit"] == 2 for page in pages)
    assert [page["page"] for page in pages] == [1, 2, 3, 4]
    seen = [t["other_participant"]["id"] for page in pages for t in page["threads"]]
    assert seen == [str(c.id) for c in reversed(candidates)]

    for params, name in [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"unread_only": "perhaps"}, "unread_only"),
        ({"application_id": "nope"}, "application_id"),
    ]:
        response = await client.get(THREADS, params=params, headers=headers)
        assert response.status_code == 400, params
        assert response.json()["status_code"] == 400
        assert name in response.json()["detail"], response.json()
    assert (await client.get(THREADS, params={"limit": 100}, headers=headers)).status_code == 200


@no_database
async def test_list_needs_a_user(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    assert (await client.get(THREADS)).status_code == 401
    assert (await client.get(THREADS, headers=service_auth(settings))).status_code == 403


# --- detail ---------------------------------------------------------------------------------


async def test_detail_oldest_first_paginated(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    sent = [await send_ok(client, settings, employer, candidate, f"message {i}") for i in range(3)]
    sent.append(await send_ok(client, settings, candidate, employer, "reply"))
    thread_id = sent[0]["thread"]["id"]

    response = await client.get(f"{THREADS}/{thread_id}", headers=auth(settings, candidate))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"thread", "messages", "total_messages", "next_after"}
    assert body["total_messages"] == 4
    assert body["next_after"] is None
    assert [m["body"] for m in body["messages"]] == ["message 0", "message 1", "message 2", "reply"]
    assert body["messages"][0] == sent[0]["message"]
    assert body["thread"]["unread_count"] == 3
    assert body["thread"]["other_participant"]["id"] == str(employer.id)

    second_page = await client.get(
        f"{THREADS}/{thread_id}", params={"page": 2, "limit": 3}, headers=auth(settings, employer)
    )
    assert [m["body"] for m in second_page.json()["messages"]] == ["reply"]
    assert second_page.json()["thread"]["unread_count"] == 1
    assert second_page.json()["total_messages"] == 4
    past_the_end = await client.get(
        f"{THREADS}/{thread_id}", params={"page": 3, "limit": 3}, headers=auth(settings, employer)
    )
    assert past_the_end.json()["messages"] == []
    assert past_the_end.json()["total_messages"] == 4
    bad = await client.get(
        f"{THREADS}/{thread_id}", params={"limit": 500}, headers=auth(settings, employer)
    )
    assert bad.status_code == 400
    assert "limit" in bad.json()["detail"]


async def test_detail_cursor_pages_match_numbered_pages(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    # A message of another thread, older than all of this one's: as a cursor here it is not in
    # the caller's view, whatever its time.
    earlier = await send_ok(client, settings, *(await make_pair(app)), "elsewhere, earlier")
    employer, candidate = await make_pair(app)
    for i in range(7):
        sent = await send_ok(client, settings, employer, candidate, f"message {i}")
    thread_id = sent["thread"]["id"]
    url, headers = f"{THREADS}/{thread_id}", auth(settings, candidate)

    by_cursor: list[list[str]] = []
    params: dict[str, object] = {"limit": 3}
    while True:
        body = (await client.get(url, params=params, headers=headers)).json()
        by_cursor.append([m["body"] for m in body["messages"]])
        assert body["total_messages"] == 7
        if body["next_after"] is None:
            break
        assert body["next_after"] == body["messages"][-1]["id"]
        params = {"limit": 3, "after": body["next_after"]}
    by_page = [
        [
            m["body"]
            for m in (
                await client.get(url, params={"limit": 3, "page": page}, headers=headers)
            ).json()["messages"]
        ]
        for page in (1, 2, 3)
    ]
    assert (
        by_cursor
        == by_page
        == [
            ["message 0", "message 1", "message 2"],
            ["message 3", "message 4", "message 5"],
            ["message 6"],
        ]
    )

    last = (await client.get(url, params={"limit": 3, "page": 3}, headers=headers)).json()
    after_last = await client.get(
        url, params={"after": last["messages"][-1]["id"]}, headers=headers
    )
    assert after_last.status_code == 200
    assert after_last.json()["messages"] == []
    assert after_last.json()["total_messages"] == 7

    first = (await client.get(url, params={"limit": 1}, headers=headers)).json()
    from_cursor = await client.get(
        url, params={"after": first["next_after"], "limit": 1, "page": 2}, headers=headers
    )  # page counts from the cursor: skips message 1
    assert [m["body"] for m in from_cursor.json()["messages"]] == ["message 2"]

    other = await send_ok(client, settings, *(await make_pair(app)), "elsewhere")
    for after, status in (
        (earlier["message"]["id"], 404),
        (other["message"]["id"], 404),
        (str(uuid.uuid4()), 404),
        ("not-a-uuid", 400),
    ):
        response = await client.get(url, params={"after": after}, headers=headers)
        assert response.status_code == status, after
        assert "after" in response.json()["detail"], response.json()


async def test_detail_access(app: Litestar, client: AsyncTestClient, settings: Settings) -> None:
    employer, candidate = await make_pair(app)
    thread_id = (await send_ok(client, settings, employer, candidate))["thread"]["id"]
    outsider = await make_user(app, "candidate")
    forbidden = await client.get(f"{THREADS}/{thread_id}", headers=auth(settings, outsider))
    assert forbidden.status_code == 403
    assert forbidden.json()["status_code"] == 403
    unknown = await client.get(f"{THREADS}/{uuid.uuid4()}", headers=auth(settings, employer))
    assert unknown.status_code == 404
    assert "does not exist" in unknown.json()["detail"]
    assert unknown.json()["code"] == "not_found"
    assert forbidden.json()["code"] == "forbidden"
    not_a_uuid = await client.get(f"{THREADS}/not-a-uuid", headers=auth(settings, employer))
    assert not_a_uuid.status_code in (400, 404)


async def test_detail_withholds_removed_and_leaves_out_deleted_messages(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    attachment = {
        "filename": "cv.pdf",
        "content_type": "application/pdf",
        "size_bytes": 10,
        "url": "https://files.example.com/cv.pdf",
    }
    await send_ok(client, settings, employer, candidate, "hello", subject="Interview")
    removed = await send_ok(
        client,
        settings,
        employer,
        candidate,
        "offensive",
        subject="offensive title",
        attachments=[attachment],
    )
    deleted = await send_ok(client, settings, employer, candidate, "deleted")
    await send_ok(client, settings, employer, candidate, "kept")
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(Message)
            .where(Message.id == uuid.UUID(removed["message"]["id"]))
            .values(is_removed=True, removed_reason="harassment")
        )
        await session.execute(
            update(Message)
            .where(Message.id == uuid.UUID(deleted["message"]["id"]))
            .values(is_deleted=True)
        )
    body = (
        await client.get(f"{THREADS}/{removed['thread']['id']}", headers=auth(settings, candidate))
    ).json()
    assert body["total_messages"] == 3
    _, withheld, kept = body["messages"]
    assert withheld["id"] == removed["message"]["id"]
    assert withheld["body"] == "[removed by a moderator]"
    assert withheld["attachments"] == []
    assert withheld["subject"] is None
    assert "offensive" not in str(body)
    assert kept["body"] == "kept"


# --- unread count ---------------------------------------------------------------------------


async def test_unread_count(app: Litestar, client: AsyncTestClient, settings: Settings) -> None:
    candidate = await make_user(app, "candidate")
    url = "/api/v1/messages/unread-count"
    zero = await client.get(url, headers=auth(settings, candidate))
    assert zero.status_code == 200
    assert zero.json() == {"unread_count": 0, "unread_threads": 0}

    first, second, third = [await make_user(app, "employer") for _ in range(3)]
    await send_ok(client, settings, first, candidate)
    await send_ok(client, settings, first, candidate)
    await send_ok(client, settings, second, candidate)
    deleted_thread = (await send_ok(client, settings, third, candidate))["thread"]["id"]
    response = await client.get(url, headers=auth(settings, candidate))
    assert response.json() == {"unread_count": 4, "unread_threads": 3}

    # The sender deleting the thread changes nothing for the candidate; the candidate deleting
    # it takes its unread message out of their count.
    await client.delete(f"{THREADS}/{deleted_thread}", headers=auth(settings, third))
    response = await client.get(url, headers=auth(settings, candidate))
    assert response.json() == {"unread_count": 4, "unread_threads": 3}
    await client.delete(f"{THREADS}/{deleted_thread}", headers=auth(settings, candidate))
    response = await client.get(url, headers=auth(settings, candidate))
    assert response.json() == {"unread_count": 3, "unread_threads": 2}
    assert (await client.get(url, headers=auth(settings, first))).json() == {
        "unread_count": 0,
        "unread_threads": 0,
    }


# --- archive --------------------------------------------------------------------------------


async def test_archive_is_per_participant(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    thread_id = (await send_ok(client, settings, employer, candidate))["thread"]["id"]

    response = await client.patch(
        f"{THREADS}/{thread_id}/archive", headers=auth(settings, candidate)
    )
    assert response.status_code == 200
    thread = response.json()
    assert thread["id"] == thread_id
    assert thread["is_archived"] is True
    assert thread["unread_count"] == 1
    assert thread["other_participant"]["id"] == str(employer.id)

    inbox = (await client.get(THREADS, headers=auth(settings, candidate))).json()
    assert inbox["total"] == 0
    assert inbox["unread_count"] == 1  # archived threads still count as unread
    archive = (
        await client.get(THREADS, params={"archived": "true"}, headers=auth(settings, candidate))
    ).json()
    assert [t["id"] for t in archive["threads"]] == [thread_id]
    assert archive["threads"][0]["is_archived"] is True
    employer_inbox = (await client.get(THREADS, headers=auth(settings, employer))).json()
    assert [t["is_archived"] for t in employer_inbox["threads"]] == [False]

    again = await client.patch(f"{THREADS}/{thread_id}/archive", headers=auth(settings, candidate))
    assert again.status_code == 200
    assert len(await audit_actions(app, "thread.archived")) == 1

    restored = await client.patch(
        f"{THREADS}/{thread_id}/archive",
        params={"archived": "false"},
        headers=auth(settings, candidate),
    )
    assert restored.json()["is_archived"] is False
    assert len(await audit_actions(app, "thread.unarchived")) == 1


async def test_new_message_unarchives_for_the_recipient_only(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    thread_id = (await send_ok(client, settings, employer, candidate))["thread"]["id"]
    for user in (employer, candidate):
        response = await client.patch(
            f"{THREADS}/{thread_id}/archive", headers=auth(settings, user)
        )
        assert response.json()["is_archived"] is True

    sent = await send_ok(client, settings, employer, candidate, "are you there?")
    assert sent["thread"]["is_archived"] is True  # still archived for the sender
    candidate_inbox = (await client.get(THREADS, headers=auth(settings, candidate))).json()
    assert [t["id"] for t in candidate_inbox["threads"]] == [thread_id]
    assert candidate_inbox["threads"][0]["is_archived"] is False
    assert (await client.get(THREADS, headers=auth(settings, employer))).json()["total"] == 0


async def test_archive_access(app: Litestar, client: AsyncTestClient, settings: Settings) -> None:
    employer, candidate = await make_pair(app)
    thread_id = (await send_ok(client, settings, employer, candidate))["thread"]["id"]
    outsider = await make_user(app, "employer")
    forbidden = await client.patch(
        f"{THREADS}/{thread_id}/archive", headers=auth(settings, outsider)
    )
    assert forbidden.status_code == 403
    unknown = await client.patch(
        f"{THREADS}/{uuid.uuid4()}/archive", headers=auth(settings, employer)
    )
    assert unknown.status_code == 404
    async with app.state.sessionmaker() as session:
        thread = await session.get(MessageThread, uuid.UUID(thread_id))
        assert thread is not None
        assert not thread.archived_by_employer and not thread.archived_by_candidate
    assert await audit_actions(app, "thread.archived") == []


# --- delete ---------------------------------------------------------------------------------


async def test_delete_is_soft_and_for_both_once_both_deleted(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    thread_id = (await send_ok(client, settings, employer, candidate))["thread"]["id"]
    outsider = await make_user(app, "candidate")
    forbidden = await client.delete(f"{THREADS}/{thread_id}", headers=auth(settings, outsider))
    assert forbidden.status_code == 403

    for user in (candidate, employer):
        response = await client.delete(f"{THREADS}/{thread_id}", headers=auth(settings, user))
        assert response.status_code == 204
        assert response.content == b""

    for user in (employer, candidate):
        assert (await client.get(THREADS, headers=auth(settings, user))).json()["total"] == 0
        archived = await client.get(
            THREADS, params={"archived": "true"}, headers=auth(settings, user)
        )
        assert archived.json()["total"] == 0
        detail = await client.get(f"{THREADS}/{thread_id}", headers=auth(settings, user))
        assert detail.status_code == 404
    again = await client.delete(f"{THREADS}/{thread_id}", headers=auth(settings, employer))
    assert again.status_code == 404

    async with app.state.sessionmaker() as session:
        thread = await session.get(MessageThread, uuid.UUID(thread_id))
        assert thread is not None
        assert thread.is_deleted is True
        assert thread.deleted_at == thread.deleted_by_employer_at
        assert thread.deleted_by_candidate_at is not None
        assert thread.deleted_by_candidate_at <= thread.deleted_by_employer_at
        assert len((await session.scalars(select(Message))).all()) == 1
        times = {
            role: at.astimezone(UTC).isoformat(timespec="microseconds")
            for role, at in (
                ("candidate", thread.deleted_by_candidate_at),
                ("employer", thread.deleted_by_employer_at),
            )
        }
    events = await audit_actions(app, "thread.deleted")
    assert [(e.actor_id, e.thread_id, e.details) for e in events] == [
        (
            candidate.id,
            uuid.UUID(thread_id),
            {"role": "candidate", "deleted_for_both": False, "deleted_at": times["candidate"]},
        ),
        (
            employer.id,
            uuid.UUID(thread_id),
            {"role": "employer", "deleted_for_both": True, "deleted_at": times["employer"]},
        ),
    ]

    # Deleted by both: the pair starts over in a new thread.
    fresh = await send_ok(client, settings, employer, candidate)
    assert fresh["thread"]["id"] != thread_id


async def test_options_lists_every_method_of_the_thread_path(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    user = await make_user(app, "candidate")
    response = await client.options(
        f"{THREADS}/{uuid.uuid4()}", params={"page": 1}, headers=auth(settings, user)
    )
    assert response.status_code == 204
    assert response.headers["allow"] == "DELETE, GET, OPTIONS"


async def test_unknown_query_parameters_are_refused(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    user = await make_user(app, "candidate")
    response = await client.get(THREADS, params={"unread": "true"}, headers=auth(settings, user))
    assert response.status_code == 400
    assert response.json()["detail"] == "unread: is not a parameter of this endpoint"
    summary = await client.get(
        "/api/v1/messages/unread-count", params={"x": "1"}, headers=auth(settings, user)
    )
    assert summary.status_code == 400
