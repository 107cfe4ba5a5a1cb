"""What moderation tells the people it touches, through the API (issue 17): the reporter's receipt
and outcome, the sanctioned user's decision with its statement of reasons, appeals (once, by the
right person, within the window), and a notice of illegal content on the flag endpoint. Neither
side ever sees the other's identity."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from api import schemas
from portal.errors import InvalidInput
from portal.models import Appeal, AuditEvent, FlagReport, StaffUser, User
from portal.models.base import utcnow
from portal.services import appeals, moderation
from portal.services.suspensions import required_text
from portal.settings import Settings
from tests.api.helpers import auth, make_pair, make_user, send_ok
from tests.portal.moderation_support import staff

MESSAGES = "/api/v1/messages"
DECISIONS = "/api/v1/moderation/decisions"
REPORTS = "/api/v1/moderation/reports"
APPEALS = "/api/v1/moderation/appeals"
SCAM = moderation.Grounds(policy="scam", public_note="Thank you for telling us.")


async def moderator(app: Litestar, name: str = "Mona Moderator") -> StaffUser:
    async with app.state.sessionmaker() as session:
        return await staff(session, "moderator", name)


async def flag(
    client: AsyncTestClient[Litestar],
    settings: Settings,
    user: User,
    message_id: str,
    **params: Any,
) -> Any:
    return await client.post(
        f"{MESSAGES}/{message_id}/flag",
        params={"reason": "scam", **params},
        headers=auth(settings, user),
    )


async def reported_scam(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings
) -> tuple[User, User, dict[str, Any], dict[str, Any]]:
    """An employer's scam message reported by its candidate: sender, reporter, the sent message
    and the flag's answer."""
    sender, reporter = await make_pair(app)
    sent = await send_ok(
        client, settings, sender, reporter, "Pay a 200 EUR training fee to start the job."
    )
    flagged = await flag(client, settings, reporter, sent["message"]["id"], note="asks for money")
    assert flagged.status_code == 200, flagged.text
    return sender, reporter, sent["message"], flagged.json()


async def remove(
    app: Litestar, message_id: str, actor: StaffUser, *, now: datetime | None = None
) -> None:
    async with app.state.sessionmaker() as session:
        await moderation.remove_message(
            session, uuid.UUID(message_id), actor=actor, reason="advance fee", grounds=SCAM, now=now
        )


async def get_ok(
    client: AsyncTestClient[Litestar], settings: Settings, user: User, url: str
) -> Any:
    response = await client.get(url, headers=auth(settings, user))
    assert response.status_code == 200, response.text
    return response


async def appeal(
    client: AsyncTestClient[Litestar], settings: Settings, user: User, decision_id: str, text: Any
) -> Any:
    return await client.post(
        APPEALS, json={"decision_id": decision_id, "text": text}, headers=auth(settings, user)
    )


def conforming(response: Any, shape: type[msgspec.Struct]) -> Any:
    """The answer's JSON, once it decodes strictly as the schema it is declared with (every enum
    value, every required field), which the fuzz test's empty lists cannot show."""
    msgspec.json.decode(response.content, type=shape, strict=True)
    return response.json()


def assert_reveals_nothing_of(text: str, person: User | StaffUser) -> None:
    for trace in (str(person.id), person.display_name, person.email):
        assert trace.lower() not in text.lower(), trace


async def test_reporter_gets_a_receipt_then_the_outcome_and_the_sender_the_statement(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    sender, reporter, message, flagged = await reported_scam(app, client, settings)
    receipt = flagged["report"]
    assert receipt["status"] == "received"
    assert (receipt["legal_ground"], receipt["good_faith"]) == (None, None)
    # The answer's message fields are as they were: the reporter's own report.
    assert (flagged["id"], flagged["is_flagged"], flagged["flagged_reason"]) == (
        message["id"],
        True,
        "scam",
    )

    before = (await get_ok(client, settings, reporter, REPORTS)).json()
    assert before["total"] == 1
    [pending] = before["reports"]
    assert (pending["id"], pending["status"], pending["message_id"]) == (
        receipt["id"],
        "received",
        message["id"],
    )
    assert (pending["decided_at"], pending["decision_id"], pending["appealable"]) == (
        None,
        None,
        False,
    )
    assert (await get_ok(client, settings, sender, DECISIONS)).json() == {
        "decisions": [],
        "total": 0,
    }

    mona = await moderator(app)
    await remove(app, message["id"], mona)

    reporter_answer = await get_ok(client, settings, reporter, REPORTS)
    [outcome] = conforming(reporter_answer, schemas.ReportListOut)["reports"]
    assert outcome["id"] == receipt["id"]
    assert outcome["status"] == "action_taken"
    assert outcome["policy_title"]
    assert outcome["public_note"] == "Thank you for telling us."
    assert outcome["decided_at"] is not None
    # Action was taken: nothing for the reporter to appeal.
    assert (outcome["appealable"], outcome["appeal"]) == (False, None)
    # Never the sanction (removed, the internal note) or anything of the sender.
    assert "removed" not in reporter_answer.text
    assert "advance fee" not in reporter_answer.text
    assert_reveals_nothing_of(reporter_answer.text, sender)

    sender_answer = await get_ok(client, settings, sender, DECISIONS)
    body = conforming(sender_answer, schemas.DecisionListOut)
    assert body["total"] == 1
    [decision] = body["decisions"]
    assert decision["id"] == outcome["decision_id"]
    assert (decision["kind"], decision["message_id"], decision["source"]) == (
        "removed",
        message["id"],
        "notice",
    )
    assert decision["policy"]["key"] == "scam"
    assert decision["policy"]["title"] == outcome["policy_title"]
    assert decision["policy"]["category"] == "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
    assert decision["statement"]
    assert "appeal" in decision["statement"]
    assert decision["appealable"] is True
    window = _parse(decision["appealable_until"]) - _parse(decision["decided_at"])
    assert window >= timedelta(days=181)
    assert (decision["overturned"], decision["appeal"]) == (None, None)
    # Never who reported, nor the internal note.
    assert "advance fee" not in sender_answer.text
    assert_reveals_nothing_of(sender_answer.text, reporter)
    assert_reveals_nothing_of(sender_answer.text, mona)


async def test_appeals_once_by_the_person_decided_about_within_the_window(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    sender, reporter, message, _ = await reported_scam(app, client, settings)
    await remove(app, message["id"], await moderator(app))
    [decision] = (await get_ok(client, settings, sender, DECISIONS)).json()["decisions"]

    # The reporter got action taken: not theirs to appeal; nor an outsider's.
    outsider = await make_user(app, "candidate")
    for other in (reporter, outsider):
        refused = await appeal(client, settings, other, decision["id"], "Please look again.")
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "forbidden"
    unknown = await appeal(client, settings, sender, str(uuid.uuid4()), "Please look again.")
    assert unknown.status_code == 404, unknown.text

    text = "It was a genuine offer.\n\nThe fee is the client's, not mine."
    filed = await appeal(client, settings, sender, decision["id"], text)
    assert filed.status_code == 201, filed.text
    made = filed.json()
    assert (made["decision_id"], made["basis"], made["status"], made["text"]) == (
        decision["id"],
        "sanctioned_user",
        "open",
        text,
    )
    assert (made["decided_at"], made["reasoning"]) == (None, None)

    second = await appeal(client, settings, sender, decision["id"], "And again.")
    assert second.status_code == 409, second.text
    assert second.json()["code"] == "conflict"

    shown = await get_ok(client, settings, sender, f"{APPEALS}/{made['id']}")
    assert conforming(shown, schemas.AppealOut) == made
    [listed] = (await get_ok(client, settings, sender, DECISIONS)).json()["decisions"]
    assert listed["appeal"] == made
    assert listed["appealable"] is False
    for other in (reporter, outsider):
        hidden = await client.get(f"{APPEALS}/{made['id']}", headers=auth(settings, other))
        assert hidden.status_code == 404, hidden.text
    missing = await client.get(f"{APPEALS}/{uuid.uuid4()}", headers=auth(settings, sender))
    assert missing.status_code == 404
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Appeal)) == 1

    # Another moderator overturns it: the appellant reads the outcome and its reasoning, and the
    # decision is marked overturned under the reversal that restored the message.
    async with app.state.sessionmaker() as session:
        await appeals.decide_appeal(
            session,
            uuid.UUID(made["id"]),
            actor=await staff(session, "moderator", "Otto Other"),
            outcome="overturned",
            reasoning="The fee was the client's; the offer was genuine.",
        )
    decided = conforming(
        await get_ok(client, settings, sender, f"{APPEALS}/{made['id']}"), schemas.AppealOut
    )
    assert (decided["status"], decided["reasoning"]) == (
        "overturned",
        "The fee was the client's; the offer was genuine.",
    )
    assert decided["decided_at"] is not None
    after = conforming(await get_ok(client, settings, sender, DECISIONS), schemas.DecisionListOut)
    reversal, original = after["decisions"]
    assert (reversal["kind"], reversal["appealable"], reversal["appeal"]) == (
        "restored",
        False,
        None,
    )
    assert (original["id"], original["overturned"], original["appeal"]["status"]) == (
        decision["id"],
        "overturned",
        "overturned",
    )
    assert original["overturned_at"] is not None
    again = await appeal(client, settings, sender, decision["id"], "One more time.")
    assert again.status_code == 409, again.text


async def test_an_appeal_after_the_window_is_gone(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    sender, _, message, _ = await reported_scam(app, client, settings)
    # Decided seven months ago (on the moderator's clock): the 6-month window closed a month ago.
    await remove(app, message["id"], await moderator(app), now=utcnow() - timedelta(days=213))

    [closed] = (await get_ok(client, settings, sender, DECISIONS)).json()["decisions"]
    assert closed["appealable"] is False
    assert _parse(closed["appealable_until"]) < utcnow()
    late = await appeal(client, settings, sender, closed["id"], "I was away.")
    assert late.status_code == 410, late.text
    assert late.json()["code"] == "gone"
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Appeal)) == 0


async def test_a_reporter_appeals_a_dismissal_the_sender_never_hears_of(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    sender, reporter, message, flagged = await reported_scam(app, client, settings)
    async with app.state.sessionmaker() as session:
        await moderation.dismiss(
            session,
            uuid.UUID(message["id"]),
            actor=await staff(session, "moderator"),
            note="a normal offer",
            public_note="We found no violation.",
        )

    [outcome] = (await get_ok(client, settings, reporter, REPORTS)).json()["reports"]
    assert (outcome["id"], outcome["status"], outcome["policy_title"]) == (
        flagged["report"]["id"],
        "no_violation",
        None,
    )
    assert outcome["public_note"] == "We found no violation."
    assert outcome["appealable"] is True
    assert outcome["appealable_until"] is not None
    # A dismissal is no decision about the sender.
    assert (await get_ok(client, settings, sender, DECISIONS)).json()["total"] == 0
    refused = await appeal(client, settings, sender, outcome["decision_id"], "Me too.")
    assert refused.status_code == 403, refused.text

    filed = await appeal(client, settings, reporter, outcome["decision_id"], "It asks for money.")
    assert filed.status_code == 201, filed.text
    assert (filed.json()["basis"], filed.json()["status"]) == ("reporter", "open")
    [appealed] = (await get_ok(client, settings, reporter, REPORTS)).json()["reports"]
    assert appealed["appeal"] == filed.json()
    assert_reveals_nothing_of(filed.text, sender)


async def test_appeal_input_is_checked(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    sender, _, message, _ = await reported_scam(app, client, settings)
    await remove(app, message["id"], await moderator(app))
    [decision] = (await get_ok(client, settings, sender, DECISIONS)).json()["decisions"]
    for text in ("", "   \n\t ", "x" * 2001, "bell\x07", 42):
        refused = await appeal(client, settings, sender, decision["id"], text)
        assert refused.status_code == 400, (text, refused.text)
        assert refused.json()["field"] == "text", refused.text
    not_an_id = await appeal(client, settings, sender, "nope", "Please look again.")
    assert (not_an_id.status_code, not_an_id.json()["field"]) == (400, "decision_id")
    extra = await client.post(
        APPEALS,
        json={"decision_id": decision["id"], "text": "Please.", "basis": "reporter"},
        headers=auth(settings, sender),
    )
    assert extra.status_code == 400, extra.text
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Appeal)) == 0
    longest = await appeal(client, settings, sender, decision["id"], "y" * 2000)
    assert longest.status_code == 201, longest.text


async def test_a_notice_of_illegal_content_needs_good_faith(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    sender, reporter = await make_pair(app)
    sent = await send_ok(client, settings, sender, reporter, "Send me your passport scan.")
    message_id = sent["message"]["id"]
    ground = "Fraud: Section 263 of the German Criminal Code (StGB)"

    for params in ({"legal_ground": ground}, {"legal_ground": ground, "good_faith": "false"}):
        refused = await flag(client, settings, reporter, message_id, **params)
        assert refused.status_code == 400, refused.text
        assert (refused.json()["code"], refused.json()["field"]) == (
            "validation_failed",
            "good_faith",
        )
    too_long = await flag(client, settings, reporter, message_id, legal_ground="x" * 501)
    assert too_long.status_code == 400
    assert too_long.json()["field"] == "legal_ground"
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(FlagReport)) == 0
        events = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "message.flagged")
        )
        assert events == 0
    assert (await get_ok(client, settings, reporter, REPORTS)).json()["total"] == 0

    notice = await flag(
        client, settings, reporter, message_id, legal_ground=ground, good_faith="true"
    )
    assert notice.status_code == 200, notice.text
    receipt = notice.json()["report"]
    assert (receipt["status"], receipt["legal_ground"], receipt["good_faith"]) == (
        "received",
        ground,
        True,
    )
    # Flagging again keeps the notice, and cannot withdraw its good faith.
    again = await flag(client, settings, reporter, message_id, reason="spam")
    assert again.status_code == 200, again.text
    assert (again.json()["report"]["id"], again.json()["report"]["legal_ground"]) == (
        receipt["id"],
        ground,
    )
    withdrawn = await flag(client, settings, reporter, message_id, good_faith="false")
    assert withdrawn.status_code == 400
    assert withdrawn.json()["field"] == "good_faith"

    async with app.state.sessionmaker() as session:
        [stored] = (await session.scalars(select(FlagReport))).all()
        [first, _] = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "message.flagged")
                .order_by(AuditEvent.occurred_at)
            )
        ).all()
    assert (stored.id, stored.reason, stored.legal_ground, stored.good_faith) == (
        uuid.UUID(receipt["id"]),
        "spam",
        ground,
        True,
    )
    assert (first.details["legal_ground"], first.details["good_faith"]) == (ground, True)
    [listed] = (await get_ok(client, settings, reporter, REPORTS)).json()["reports"]
    assert (listed["legal_ground"], listed["good_faith"]) == (ground, True)
    # The sender is told nothing of it.
    thread = await get_ok(client, settings, sender, f"{MESSAGES}/threads/{sent['thread']['id']}")
    assert ground not in thread.text


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_the_appeal_text_pattern_is_the_services_rule() -> None:
    """The published pattern accepts exactly the texts the appeals service takes (derived from
    the note pattern, so a change there that breaks the derivation shows here)."""
    pattern = re.compile(schemas.APPEAL_TEXT_PATTERN)
    samples = ["a", " a ", "Line one.\n\nLine two.", "\ttabbed", "", " ", "\n\t \r\n", "\u3000"]
    samples += ["bell\x07", "nul\x00", "esc\x1b[31m", "c1\x85", "\x0b", "é ✓"]
    for text in samples:
        try:
            required_text("text", text, max_length=appeals.MAX_APPEAL_LENGTH)
        except InvalidInput:
            taken = False
        else:
            taken = True
        assert (pattern.search(text) is not None) == taken, repr(text)
