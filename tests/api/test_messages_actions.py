"""Read receipts, blocks and flags."""

from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from portal.models import AuditEvent, FlagReport, Message, MessageBlock, MessageThread
from portal.settings import Settings
from tests.api.helpers import auth, make_pair, make_user, send_ok, service_auth


async def events(app: Litestar, action: str) -> list[AuditEvent]:
    async with app.state.sessionmaker() as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def thread_row(app: Litestar, thread_id: str) -> MessageThread:
    async with app.state.sessionmaker() as session:
        thread = await session.get(MessageThread, uuid.UUID(thread_id))
        assert thread is not None
        return thread


# --- read -----------------------------------------------------------------------------------


async def test_mark_read_once(app: Litestar, client: AsyncTestClient, settings: Settings) -> None:
    employer, candidate = await make_pair(app)
    first = await send_ok(client, settings, employer, candidate)
    await send_ok(client, settings, employer, candidate)
    message_id = first["message"]["id"]
    url = f"/api/v1/messages/{message_id}/read"

    response = await client.put(url, headers=auth(settings, candidate))
    assert response.status_code == 200
    receipt = response.json()
    assert set(receipt) == {"id", "is_read", "read_at"}
    assert receipt["id"] == message_id
    assert receipt["is_read"] is True
    assert receipt["read_at"] is not None
    assert (await thread_row(app, first["thread"]["id"])).unread_count_candidate == 1

    again = await client.put(url, headers=auth(settings, candidate))
    assert again.status_code == 200
    assert again.json() == receipt
    assert (await thread_row(app, first["thread"]["id"])).unread_count_candidate == 1
    assert len(await events(app, "message.read")) == 1

    summary = await client.get("/api/v1/messages/unread-count", headers=auth(settings, candidate))
    assert summary.json() == {"unread_count": 1, "unread_threads": 1}
    detail = await client.get(
        f"/api/v1/messages/threads/{first['thread']['id']}", headers=auth(settings, employer)
    )
    assert detail.json()["messages"][0]["is_read"] is True
    assert detail.json()["messages"][0]["read_at"] == receipt["read_at"]


async def test_mark_read_only_by_recipient(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    sent = await send_ok(client, settings, employer, candidate)
    url = f"/api/v1/messages/{sent['message']['id']}/read"
    by_sender = await client.put(url, headers=auth(settings, employer))
    assert by_sender.status_code == 403
    assert "recipient" in by_sender.json()["detail"]
    outsider = await make_user(app, "candidate")
    assert (await client.put(url, headers=auth(settings, outsider))).status_code == 403
    unknown = await client.put(
        f"/api/v1/messages/{uuid.uuid4()}/read", headers=auth(settings, candidate)
    )
    assert unknown.status_code == 404
    assert (await client.put(url, headers=service_auth(settings))).status_code == 403
    async with app.state.sessionmaker() as session:
        message = await session.get(Message, uuid.UUID(sent["message"]["id"]))
        assert message is not None and message.is_read is False
    assert (await thread_row(app, sent["thread"]["id"])).unread_count_candidate == 1
    assert await events(app, "message.read") == []


# --- blocks ---------------------------------------------------------------------------------


async def test_block_is_idempotent_and_listed(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    headers = auth(settings, candidate)
    payload = {"user_id": str(employer.id), "reason": "spam"}
    response = await client.post("/api/v1/messages/block", json=payload, headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "blocked_user_id": str(employer.id),
        "reason": "spam",
    }
    again = await client.post("/api/v1/messages/block", json=payload, headers=headers)
    assert again.status_code == 200
    assert again.json() == response.json()
    assert len(await events(app, "user.blocked")) == 1

    changed = await client.post(
        "/api/v1/messages/block",
        json={"user_id": str(employer.id), "reason": "harassment"},
        headers=headers,
    )
    assert changed.json()["reason"] == "harassment"
    async with app.state.sessionmaker() as session:
        blocks = (await session.scalars(select(MessageBlock))).all()
    assert [(b.blocker_id, b.blocked_id, b.reason) for b in blocks] == [
        (candidate.id, employer.id, "harassment")
    ]
    assert len(await events(app, "user.blocked")) == 2

    listed = await client.get("/api/v1/messages/blocks", headers=headers)
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 1
    (entry,) = body["blocks"]
    assert entry["blocked_user_id"] == str(employer.id)
    assert entry["reason"] == "harassment"
    assert entry["blocked_user"] == {
        "id": str(employer.id),
        "display_name": employer.display_name,
        "role": "employer",
    }
    # Blocking is one-way.
    assert (
        await client.get("/api/v1/messages/blocks", headers=auth(settings, employer))
    ).json() == {
        "blocks": [],
        "total": 0,
    }


async def test_block_refusals(app: Litestar, client: AsyncTestClient, settings: Settings) -> None:
    user = await make_user(app, "candidate")
    headers = auth(settings, user)
    url = "/api/v1/messages/block"
    yourself = await client.post(
        url, json={"user_id": str(user.id), "reason": "spam"}, headers=headers
    )
    assert yourself.status_code == 400
    assert "user_id" in yourself.json()["detail"]
    unknown = await client.post(
        url, json={"user_id": str(uuid.uuid4()), "reason": "spam"}, headers=headers
    )
    assert unknown.status_code == 404
    other = await make_user(app, "employer")
    bad_reason = await client.post(
        url, json={"user_id": str(other.id), "reason": "boring"}, headers=headers
    )
    assert bad_reason.status_code == 400
    assert "reason" in bad_reason.json()["detail"]
    no_reason = await client.post(url, json={"user_id": str(other.id)}, headers=headers)
    assert no_reason.status_code == 400
    async with app.state.sessionmaker() as session:
        assert (await session.scalars(select(MessageBlock))).all() == []


async def test_unblock(app: Litestar, client: AsyncTestClient, settings: Settings) -> None:
    employer, candidate = await make_pair(app)
    headers = auth(settings, employer)
    await client.post(
        "/api/v1/messages/block",
        json={"user_id": str(candidate.id), "reason": "other"},
        headers=headers,
    )
    response = await client.delete(f"/api/v1/messages/block/{candidate.id}", headers=headers)
    assert response.status_code == 204
    assert (await client.get("/api/v1/messages/blocks", headers=headers)).json()["total"] == 0
    # Unblocking again (or someone never blocked) is also fine, and records nothing new.
    again = await client.delete(f"/api/v1/messages/block/{candidate.id}", headers=headers)
    assert again.status_code == 204
    assert len(await events(app, "user.unblocked")) == 1
    await send_ok(client, settings, employer, candidate)
    nobody = await client.delete(f"/api/v1/messages/block/{uuid.uuid4()}", headers=headers)
    assert nobody.status_code == 404
    assert "does not exist" in nobody.json()["detail"]


# --- flags ----------------------------------------------------------------------------------


async def test_flag_creates_one_report_per_reporter(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    sent = await send_ok(client, settings, employer, candidate, "buy crypto now")
    url = f"/api/v1/messages/{sent['message']['id']}/flag"
    response = await client.post(
        url, params={"reason": "scam", "note": "asks for money"}, headers=auth(settings, candidate)
    )
    assert response.status_code == 200
    message = response.json()
    assert message["id"] == sent["message"]["id"]
    assert message["is_flagged"] is True
    assert message["flagged_reason"] == "scam"
    assert message["body"] == "buy crypto now"

    again = await client.post(url, params={"reason": "spam"}, headers=auth(settings, candidate))
    assert again.status_code == 200
    assert again.json()["flagged_reason"] == "spam"

    async with app.state.sessionmaker() as session:
        reports = (await session.scalars(select(FlagReport))).all()
        stored = await session.get(Message, uuid.UUID(message["id"]))
    assert [(r.reporter_id, r.reason, r.note, r.status) for r in reports] == [
        (candidate.id, "spam", "asks for money", "open")
    ]
    assert stored is not None and stored.flagged_at is not None
    flagged = await events(app, "message.flagged")
    assert [e.details["report"] for e in flagged] == ["created", "updated"]
    assert flagged[0].thread_id == uuid.UUID(sent["thread"]["id"])


async def test_flag_refusals(app: Litestar, client: AsyncTestClient, settings: Settings) -> None:
    employer, candidate = await make_pair(app)
    sent = await send_ok(client, settings, employer, candidate)
    url = f"/api/v1/messages/{sent['message']['id']}/flag"
    outsider = await make_user(app, "candidate")
    forbidden = await client.post(url, params={"reason": "spam"}, headers=auth(settings, outsider))
    assert forbidden.status_code == 403
    bad_reason = await client.post(
        url, params={"reason": "ugly"}, headers=auth(settings, candidate)
    )
    assert bad_reason.status_code == 400
    assert "reason" in bad_reason.json()["detail"]
    missing = await client.post(url, headers=auth(settings, candidate))
    assert missing.status_code == 400
    unknown = await client.post(
        f"/api/v1/messages/{uuid.uuid4()}/flag",
        params={"reason": "spam"},
        headers=auth(settings, candidate),
    )
    assert unknown.status_code == 404
    async with app.state.sessionmaker() as session:
        assert (await session.scalars(select(FlagReport))).all() == []
    assert await events(app, "message.flagged") == []
