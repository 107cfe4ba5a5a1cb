"""The whole path of a decision through the API and the dashboard, on both databases, with email
on a real SMTP server: a candidate reports a scam (receipt), a moderator removes it citing a
policy (statement to the sender, outcome to the reporter, neither revealing the other), the sender
appeals, the same moderator is refused, a second moderator overturns (message restored, new
statement, complainant told), and every step is in the thread's audit chain and its export."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.audit import Actor
from portal.database import create_sessionmaker, read_transaction, write_transaction
from portal.email_delivery import deliver_due
from portal.models import Appeal, AuditEvent, Message, User
from portal.models.base import utcnow
from portal.services.compliance.reports import stream_report
from portal.services.compliance.verify import verify_export
from portal.settings import Settings
from tests.admin.support import post_form, sign_in
from tests.api.helpers import auth, make_user, send_ok
from tests.conftest import settings_with
from tests.portal.moderation_support import staff
from tests.smtp_server import RecordingHandler, free_port, running_smtp_server, smtp_settings

SCAM = "Welcome aboard! Pay the $150 equipment fee by wire today to confirm your start date."

pytestmark = pytest.mark.own_app  # its app mails through this module's SMTP server


@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, smtp_port: int) -> Settings:
    return settings_with(settings, smtp=smtp_settings(smtp_port))


async def _go_offline(session: AsyncSession, *users: User) -> None:
    """As if they closed the app a day ago: a notice to them is emailed."""
    async with write_transaction(session):
        await session.execute(
            update(User)
            .where(User.id.in_([u.id for u in users]))
            .values(last_active_at=utcnow() - timedelta(days=1))
        )


async def _mail(app: Litestar, settings: Settings, handler: RecordingHandler) -> list[str]:
    """Delivers what the outbox holds; what arrived, as recipient, subject and plain text."""
    before = len(handler.messages())
    await deliver_due(app.state.sessionmaker, settings)
    return [
        f"To: {', '.join(m.rcpt_tos)}\nSubject: {m.message['Subject']}\n\n{m.text()}"
        for m in handler.messages()[before:]
    ]


def _none_of(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked"


async def test_report_decision_appeal_and_overturn_end_to_end(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    settings: Settings,
    session: AsyncSession,
    engine: AsyncEngine,
    smtp_port: int,
) -> None:
    employer = await make_user(app, "employer", name="Quentin Quickcash")
    candidate = await make_user(app, "candidate", name="Rosa Reporter")
    first = await staff(session, "moderator", "Mina First")
    second = await staff(session, "moderator", "Noor Second")
    officer = await staff(session, "compliance", "Cleo Compliance")
    sent = await send_ok(client, settings, employer, candidate, SCAM)
    message_id, thread_id = sent["message"]["id"], sent["thread"]["id"]
    sender_secrets = (str(employer.id), employer.display_name, employer.email)
    reporter_secrets = (str(candidate.id), candidate.display_name, candidate.email)

    with running_smtp_server(smtp_port) as handler:
        # 1. the candidate reports it and gets a receipt
        flagged = await client.post(
            f"/api/v1/messages/{message_id}/flag",
            params={"reason": "scam"},
            headers=auth(settings, candidate),
        )
        assert flagged.status_code == 200, flagged.text
        assert flagged.json()["report"]["status"] == "received"
        await _go_offline(session, employer, candidate)

        # 2. a moderator removes it, citing the scam policy, with a note for the reporter
        await sign_in(client, first)
        removed = await post_form(
            client,
            f"/mod/reports/{message_id}/remove",
            {
                "reason": "advance-fee pattern, third this week",
                "policy": "scam",
                "explanation": "",
                "public_note": "Thank you: the message broke our rules on fraud.",
            },
        )
        assert removed.status_code == 303, removed.text
        mails = await _mail(app, settings, handler)
        to_sender = [m for m in mails if employer.email in m]
        to_reporter = [m for m in mails if candidate.email in m]
        assert len(to_sender) == 1 and len(to_reporter) == 1, mails
        assert "Scams and advance-fee fraud" in to_sender[0]
        assert "appeal" in to_sender[0] and "No automated means" in to_sender[0]
        _none_of(to_sender[0], *reporter_secrets, "third this week")
        assert "took action" in to_reporter[0] and "rules on fraud" in to_reporter[0]
        _none_of(to_reporter[0], *sender_secrets, "removed", "suspend", "third this week")

        # ... and both read the same in the API, neither about the other
        decisions = await client.get(
            "/api/v1/moderation/decisions", headers=auth(settings, employer)
        )
        [decision] = decisions.json()["decisions"]
        assert decision["kind"] == "removed" and decision["appealable"] is True
        assert decision["policy"]["key"] == "scam"
        _none_of(decisions.text, *reporter_secrets)
        reports = await client.get("/api/v1/moderation/reports", headers=auth(settings, candidate))
        [outcome] = reports.json()["reports"]
        assert outcome["status"] == "action_taken"
        assert outcome["policy_title"] == "Scams and advance-fee fraud"
        _none_of(reports.text, *sender_secrets, "third this week")

        # 3. the sender appeals
        appealed = await client.post(
            "/api/v1/moderation/appeals",
            json={"decision_id": decision["id"], "text": "The fee is refunded on day one."},
            headers=auth(settings, employer),
        )
        assert appealed.status_code == 201, appealed.text
        appeal_id = appealed.json()["id"]
        await _go_offline(session, employer)

        # 4. the moderator who decided may not decide the appeal
        await sign_in(client, first)
        refused = await post_form(
            client,
            f"/mod/appeals/{appeal_id}/decide",
            {"outcome": "overturned", "reasoning": "Fine by me."},
        )
        assert refused.status_code == 403, refused.text
        async with read_transaction(session):
            still = await session.get(Appeal, appeal_id, populate_existing=True)
        assert still is not None and still.status == "open"

        # 5. a second moderator overturns it
        await sign_in(client, second)
        overturned = await post_form(
            client,
            f"/mod/appeals/{appeal_id}/decide",
            {
                "outcome": "overturned",
                "reasoning": "The employer's fee policy is refundable and was disclosed.",
            },
        )
        assert overturned.status_code == 303, overturned.text
        report_page = await client.get(f"/mod/reports/{message_id}")
        assert "overturned on appeal" in report_page.text  # marked where it was decided
        client.cookies.clear()
        mails = await _mail(app, settings, handler)
        [told] = [m for m in mails if employer.email in m]
        assert "overturned the decision" in told and "restored" in told
        _none_of(told, *reporter_secrets)

    # the message is back for its recipient
    detail = await client.get(
        f"/api/v1/messages/threads/{thread_id}", headers=auth(settings, candidate)
    )
    [shown] = [m for m in detail.json()["messages"] if m["id"] == message_id]
    assert shown["body"] == SCAM and not shown.get("is_removed")
    outcome_now = await client.get(
        f"/api/v1/moderation/appeals/{appeal_id}", headers=auth(settings, employer)
    )
    assert outcome_now.json()["status"] == "overturned"
    decisions = (
        await client.get("/api/v1/moderation/decisions", headers=auth(settings, employer))
    ).json()["decisions"]
    assert [d["kind"] for d in decisions] == ["restored", "removed"]
    assert decisions[1]["overturned"] == "overturned"

    # every step is in the thread's chain, and the exported report verifies and shows it
    async with read_transaction(session):
        actions = list(
            (
                await session.scalars(
                    select(AuditEvent.action)
                    .where(AuditEvent.thread_id == thread_id)
                    .order_by(AuditEvent.position)
                )
            ).all()
        )
        restored = await session.get(Message, message_id, populate_existing=True)
    assert restored is not None and not restored.is_removed
    # the restoration is recorded in the appeal decision's transaction, just before it
    steps = [
        "message.flagged",
        "message.removed",
        "appeal.filed",
        "message.restored",
        "appeal.decided",
    ]
    assert [a for a in actions if a in steps] == steps
    export = await stream_report(
        create_sessionmaker(engine),
        thread_id,
        "json",
        actor=Actor.staff(officer.id),
        settings=settings,
    )
    data = b"".join([chunk async for chunk in export.chunks])
    assert verify_export(data).unproven_messages == 0
    report = json.loads(data)["report"]
    exported = [e["action"] for e in report["chain"]["events"]]
    assert [a for a in exported if a in steps] == steps
    statement_events = [e for e in report["chain"]["events"] if e["action"] == "message.removed"]
    assert "Scams and advance-fee fraud" in statement_events[0]["details"]["statement"]
    [message] = [m for m in report["messages"] if m["id"] == message_id]
    assert message["removed"] is None
