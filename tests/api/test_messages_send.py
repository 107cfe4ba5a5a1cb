"""POST /api/v1/messages: sending, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import AuditEvent, Message, MessageBlock, MessageThread, RateLimitViolation
from portal.models.base import utcnow
from portal.settings import Settings
from tests.api.helpers import (
    auth,
    make_application,
    make_pair,
    make_user,
    send,
    send_ok,
    service_auth,
)
from tests.conftest import settings_with

MESSAGE_FIELDS = {
    "id",
    "thread_id",
    "sender_id",
    "recipient_id",
    "subject",
    "body",
    "body_format",
    "message_type",
    "attachments",
    "is_read",
    "read_at",
    "is_flagged",
    "flagged_reason",
    "created_at",
    "is_purged",
}
THREAD_FIELDS = {
    "id",
    "application_id",
    "employer_id",
    "candidate_id",
    "subject",
    "last_message_at",
    "unread_count",
    "is_archived",
    "other_participant",
    "created_at",
    "updated_at",
}


async def count(app: Litestar, model: type, *where: object) -> int:
    async with app.state.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def actions(app: Litestar) -> list[str]:
    async with app.state.sessionmaker() as session:
        return list(
            await session.scalars(select(AuditEvent.action).order_by(AuditEvent.occurred_at))
        )


async def test_send_plain_creates_thread(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    body = await send_ok(
        client, settings, employer, candidate, "  Hello <b>Sam</b>  ", subject="Hi"
    )
    message, thread = body["message"], body["thread"]
    assert set(message) == MESSAGE_FIELDS
    assert set(thread) == THREAD_FIELDS
    assert message["body"] == "Hello <b>Sam</b>"  # trimmed, not escaped: plain is stored as written
    assert message["body_format"] == "plain"
    assert message["message_type"] == "general"
    assert message["sender_id"] == str(employer.id)
    assert message["recipient_id"] == str(candidate.id)
    assert message["is_read"] is False and message["read_at"] is None
    assert message["attachments"] == []
    assert thread["employer_id"] == str(employer.id)
    assert thread["candidate_id"] == str(candidate.id)
    assert thread["application_id"] is None
    assert thread["subject"] == "Hi"
    assert thread["unread_count"] == 0  # the sender's own counter
    assert thread["is_archived"] is False
    assert thread["last_message_at"] == message["created_at"]
    assert thread["other_participant"] == {
        "id": str(candidate.id),
        "display_name": candidate.display_name,
        "role": "candidate",
    }
    async with app.state.sessionmaker() as session:
        stored = await session.get(MessageThread, uuid.UUID(thread["id"]))
        assert stored is not None
        assert (stored.unread_count_candidate, stored.unread_count_employer) == (1, 0)
    assert await actions(app) == ["user.created", "user.created", "thread.created", "message.sent"]

    reply = await send_ok(client, settings, candidate, employer, "Thanks!")
    assert reply["thread"]["id"] == thread["id"]
    assert reply["thread"]["unread_count"] == 1  # the candidate has not read the first one
    assert reply["thread"]["other_participant"]["id"] == str(employer.id)
    assert await count(app, MessageThread) == 1
    assert (await actions(app))[-1] == "message.sent"


async def test_thread_without_subject_takes_the_first_one_given(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    first = await send_ok(client, settings, employer, candidate, subject="   ")
    assert first["message"]["subject"] is None
    assert first["thread"]["subject"] is None
    second = await send_ok(client, settings, candidate, employer, subject=" Interview ")
    assert second["message"]["subject"] == "Interview"
    assert second["thread"]["subject"] == "Interview"
    third = await send_ok(client, settings, employer, candidate, subject="Other")
    assert third["thread"]["subject"] == "Interview"


async def test_send_with_application_uses_its_own_thread(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    application = await make_application(app, employer, candidate)
    general = await send_ok(client, settings, employer, candidate)
    first = await send_ok(client, settings, employer, candidate, application_id=str(application.id))
    second = await send_ok(
        client, settings, candidate, employer, "About the job", application_id=str(application.id)
    )
    assert first["thread"]["application_id"] == str(application.id)
    assert first["thread"]["id"] == second["thread"]["id"] != general["thread"]["id"]
    assert await count(app, MessageThread) == 2


async def test_send_application_must_link_the_pair(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    other_candidate = await make_user(app, "candidate")
    application = await make_application(app, employer, other_candidate)
    response = await send(client, settings, employer, candidate, application_id=str(application.id))
    assert response.status_code == 400
    assert "application_id" in response.json()["detail"]
    unknown = await send(client, settings, employer, candidate, application_id=str(uuid.uuid4()))
    assert unknown.status_code == 404
    assert "application" in unknown.json()["detail"]
    assert await count(app, Message) == 0


async def test_send_rejects_bad_pairs(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    other_employer = await make_user(app, "employer")
    other_candidate = await make_user(app, "candidate")

    # The refusal says nothing of the recipient's role (nor repeats their id).
    for sender, recipient in [(employer, other_employer), (candidate, other_candidate)]:
        same_role = await send(client, settings, sender, recipient)
        assert same_role.status_code == 400
        assert same_role.json()["detail"] == (
            "recipient_id: messages go between an employer and a candidate"
        )
        assert same_role.json()["code"] == "validation_failed"
        assert same_role.json()["field"] == "recipient_id"

    to_self = await send(client, settings, employer, employer)
    assert to_self.status_code == 400
    assert "recipient_id" in to_self.json()["detail"]

    unknown = await send(client, settings, employer, uuid.uuid4())
    assert unknown.status_code == 404
    assert unknown.json()["status_code"] == 404
    assert (unknown.json()["code"], unknown.json()["field"]) == ("not_found", "recipient_id")
    assert await count(app, Message) == 0
    assert await count(app, MessageThread) == 0


async def test_send_body_rules(app: Litestar, client: AsyncTestClient, settings: Settings) -> None:
    employer, candidate = await make_pair(app)
    for body in ["", "   ", "\n\t ", "x" * 10_001, "a\x00b"]:
        response = await send(client, settings, employer, candidate, body)
        assert response.status_code == 400, body
        assert "body" in response.json()["detail"]
    assert (await send(client, settings, employer, candidate, "x" * 10_000)).status_code == 201
    padded = await send_ok(client, settings, employer, candidate, "  " + "y" * 10_000 + "\n")
    assert padded["message"]["body"] == "y" * 10_000
    too_long_subject = await send(client, settings, employer, candidate, subject="s" * 501)
    assert too_long_subject.status_code == 400
    assert "subject" in too_long_subject.json()["detail"]
    assert too_long_subject.json()["code"] == "validation_failed"
    assert too_long_subject.json()["field"] == "subject"
    bad_type = await send(client, settings, employer, candidate, message_type="gossip")
    assert bad_type.status_code == 400
    assert "message_type" in bad_type.json()["detail"]
    missing = await client.post(
        "/api/v1/messages", json={"body": "hi"}, headers=auth(settings, employer)
    )
    assert missing.status_code == 400
    assert "recipient_id" in missing.json()["detail"]
    assert (missing.json()["code"], missing.json()["field"]) == (
        "validation_failed",
        "recipient_id",
    )
    assert await count(app, Message) == 2


async def test_send_html_is_sanitised_and_plain_kept(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    html = (
        '<p onclick="steal()">Hi <b>Sam</b><script>alert(1)</script>'
        '<a href="javascript:alert(1)">x</a> <a href="https://example.com">site</a></p>'
    )
    sent = await send_ok(client, settings, employer, candidate, html, body_format="html")
    assert sent["message"]["body"] == (
        '<p>Hi <b>Sam</b><a rel="noopener noreferrer">x</a> '
        '<a href="https://example.com" rel="noopener noreferrer">site</a></p>'
    )
    plain = await send_ok(client, settings, employer, candidate, html, body_format="plain")
    assert plain["message"]["body"] == html
    only_script = await send(
        client, settings, employer, candidate, "<script>alert(1)</script>", body_format="html"
    )
    assert only_script.status_code == 400
    assert "body" in only_script.json()["detail"]


async def test_send_attachment_rules(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)

    def attachment(**changes: object) -> dict[str, object]:
        return {
            "filename": "cv.pdf",
            "content_type": "application/pdf",
            "size_bytes": 1000,
            "url": "https://files.example.com/cv.pdf",
            **changes,
        }

    ok = await send_ok(
        client,
        settings,
        employer,
        candidate,
        attachments=[attachment(), attachment(filename="logo.png", content_type="image/png")],
    )
    assert ok["message"]["attachments"][0] == attachment()
    assert len(ok["message"]["attachments"]) == 2

    six = await send(client, settings, employer, candidate, attachments=[attachment()] * 6)
    assert six.status_code == 400
    assert "attachments" in six.json()["detail"]
    exe = await send(
        client,
        settings,
        employer,
        candidate,
        attachments=[attachment(content_type="application/x-msdownload")],
    )
    assert exe.status_code == 400
    assert "content_type" in exe.json()["detail"]
    for url in ["javascript:alert(1)", "ftp://example.com/x", "data:text/html,hi", "/relative"]:
        response = await send(
            client, settings, employer, candidate, attachments=[attachment(url=url)]
        )
        assert response.status_code == 400, url
        assert "url" in response.json()["detail"]
    blank_name = await send(
        client, settings, employer, candidate, attachments=[attachment(filename="  ")]
    )
    assert blank_name.status_code == 400
    assert "filename" in blank_name.json()["detail"]

    # 25 MB is 25,000,000 bytes, and the refusal says so in that one unit.
    too_large = await send(
        client,
        settings,
        employer,
        candidate,
        attachments=[attachment(size_bytes=20_000_000), attachment(size_bytes=5_000_001)],
    )
    assert too_large.status_code == 413
    assert too_large.json()["detail"] == (
        "attachments: 25,000,001 bytes in total; at most 25,000,000 bytes (25 MB) per message"
    )
    assert (too_large.json()["code"], too_large.json()["field"]) == ("too_large", "attachments")
    five_mib_each = await send(
        client, settings, employer, candidate, attachments=[attachment(size_bytes=5 * 2**20)] * 5
    )
    assert five_mib_each.status_code == 413  # 26,214,400 bytes: 25 MiB is more than 25 MB
    exactly = await send(
        client, settings, employer, candidate, attachments=[attachment(size_bytes=5_000_000)] * 5
    )
    assert exactly.status_code == 201
    assert await count(app, Message) == 2


async def test_send_to_blocked_user_is_forbidden_both_ways(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    await send_ok(client, settings, employer, candidate)
    blocked = await client.post(
        "/api/v1/messages/block",
        json={"user_id": str(employer.id), "reason": "spam"},
        headers=auth(settings, candidate),
    )
    assert blocked.status_code == 200
    events_before = await count(app, AuditEvent)
    for sender, recipient in [(employer, candidate), (candidate, employer)]:
        response = await send(client, settings, sender, recipient)
        assert response.status_code == 403
        assert "blocked" in response.json()["detail"]
        assert response.json()["code"] == "blocked"
    assert await count(app, Message) == 1
    assert await count(app, MessageBlock) == 1
    assert await count(app, AuditEvent) == events_before  # a refusal leaves no trace either


async def test_send_by_suspended_user_is_forbidden(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    candidate = await make_user(app, "candidate")
    suspended = await make_user(app, "employer", suspended=True)
    response = await send(client, settings, suspended, candidate)
    assert response.status_code == 403
    assert "suspended" in response.json()["detail"]
    assert response.json()["code"] == "suspended"
    until = utcnow() + timedelta(days=2)
    temporary = await make_user(app, "employer", suspended=True, suspended_until=until)
    response = await send(client, settings, temporary, candidate)
    assert response.status_code == 403
    assert "suspended until" in response.json()["detail"]
    expired = await make_user(
        app, "employer", suspended=True, suspended_until=utcnow() - timedelta(minutes=1)
    )
    assert (await send(client, settings, expired, candidate)).status_code == 201
    assert await count(app, Message) == 1


async def test_send_unauthenticated_and_service_token(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    candidate = await make_user(app, "candidate")
    payload = {"recipient_id": str(candidate.id), "body": "hi"}
    response = await client.post("/api/v1/messages", json=payload)
    assert response.status_code == 401
    assert response.json()["status_code"] == 401
    assert response.json()["code"] == "unauthorized"
    service = await client.post("/api/v1/messages", json=payload, headers=service_auth(settings))
    assert service.status_code == 403
    assert service.json()["code"] == "forbidden"
    assert await count(app, Message) == 0


async def test_rate_limit_refuses_with_retry_after_and_records_violation(
    settings: Settings,
) -> None:
    from server.app import create_app

    limited = settings_with(settings, rate_limit_messages=3, rate_limit_window_seconds=3600)
    app = create_app(limited)
    async with AsyncTestClient(app=app) as client:
        employer, candidate = await make_pair(app)
        other_candidate = await make_user(app, "candidate")
        for _ in range(2):
            await send_ok(client, limited, employer, candidate)
        await send_ok(client, limited, employer, other_candidate)
        # Deleting a thread does not give back its messages' place in the window.
        thread_id = (await send(client, limited, candidate, employer)).json()["thread"]["id"]
        deleted = await client.delete(
            f"/api/v1/messages/threads/{thread_id}", headers=auth(limited, candidate)
        )
        assert deleted.status_code == 204

        refused = await send(client, limited, employer, candidate)
        assert refused.status_code == 429
        retry_after = int(refused.headers["retry-after"])
        assert 3590 <= retry_after <= 3600
        assert "rate limit" in refused.json()["detail"]
        assert refused.json()["status_code"] == 429
        assert refused.json()["code"] == "rate_limited"
        assert "field" not in refused.json()

        async with app.state.sessionmaker() as session:
            violations = (await session.scalars(select(RateLimitViolation))).all()
        assert len(violations) == 1
        violation = violations[0]
        assert violation.user_id == employer.id
        assert (violation.count_in_window, violation.limit, violation.window_seconds) == (
            3,
            3,
            3600,
        )
        assert violation.attempts == 1
        assert violation.first_attempt_at == violation.last_attempt_at
        assert await count(app, Message, Message.sender_id == employer.id) == 3
        assert (await actions(app))[-1] == "message.rate_limited"
        # The candidate has a budget of their own.
        assert (await send(client, limited, candidate, employer)).status_code == 201


async def test_rate_limit_window_rolls(settings: Settings, owner_session: AsyncSession) -> None:
    from sqlalchemy import update

    from server.app import create_app

    limited = settings_with(settings, rate_limit_messages=2, rate_limit_window_seconds=600)
    app = create_app(limited)
    async with AsyncTestClient(app=app) as client:
        employer, candidate = await make_pair(app)
        await send_ok(client, limited, employer, candidate)
        await send_ok(client, limited, employer, candidate)
        assert (await send(client, limited, employer, candidate)).status_code == 429
        # Time passes, as the schema owner: the app may not change when a message was sent.
        async with owner_session.begin():
            oldest = await owner_session.scalar(select(func.min(Message.created_at)))
            await owner_session.execute(
                update(Message)
                .where(Message.created_at == oldest)
                .values(created_at=utcnow() - timedelta(seconds=601))
            )
        assert (await send(client, limited, employer, candidate)).status_code == 201
        refused = await send(client, limited, employer, candidate)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 600
