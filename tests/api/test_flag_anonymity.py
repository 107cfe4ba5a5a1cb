"""Flagging (issue 6, defects 1 and 2): the reported sender learns nothing, only the recipient can
report, and the first report's reason and time on the message are never overwritten."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from portal.models import FlagReport, Message, User
from portal.settings import Settings
from tests.api.helpers import auth, make_pair, send_ok

MESSAGES = "/api/v1/messages"


async def everything_seen_by(
    client: AsyncTestClient, settings: Settings, user: User, thread_id: str
) -> list[Any]:
    headers = auth(settings, user)
    return [
        (await client.get(f"{MESSAGES}/threads/{thread_id}", headers=headers)).json(),
        (await client.get(f"{MESSAGES}/threads", headers=headers)).json(),
        (
            await client.get(f"{MESSAGES}/threads", params={"archived": True}, headers=headers)
        ).json(),
        (await client.get(f"{MESSAGES}/unread-count", headers=headers)).json(),
    ]


async def flag(
    client: AsyncTestClient, settings: Settings, user: User, message_id: str, reason: str
) -> Any:
    return await client.post(
        f"{MESSAGES}/{message_id}/flag", params={"reason": reason}, headers=auth(settings, user)
    )


async def message_row(app: Litestar, message_id: str) -> Message:
    async with app.state.sessionmaker() as session:
        message = await session.get(Message, uuid.UUID(message_id))
        assert message is not None
        return message


async def test_the_reported_sender_sees_nothing_change(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    sender, recipient = await make_pair(app)
    sent = await send_ok(client, settings, sender, recipient, "you will regret this")
    await send_ok(client, settings, recipient, sender, "please stop")
    thread_id, message_id = sent["thread"]["id"], sent["message"]["id"]
    before = await everything_seen_by(client, settings, sender, thread_id)

    flagged = await flag(client, settings, recipient, message_id, "harassment")
    assert flagged.status_code == 200

    assert await everything_seen_by(client, settings, sender, thread_id) == before
    shown = before[0]["messages"][0]
    assert (shown["is_flagged"], shown["flagged_reason"]) == (False, None)
    # The reporter sees their own report, in the answer and in the thread.
    assert (flagged.json()["is_flagged"], flagged.json()["flagged_reason"]) == (True, "harassment")
    reporter_view = await everything_seen_by(client, settings, recipient, thread_id)
    own, reply = reporter_view[0]["messages"]
    assert (own["is_flagged"], own["flagged_reason"]) == (True, "harassment")
    assert (reply["is_flagged"], reply["flagged_reason"]) == (False, None)
    # Staff have it on the message row.
    row = await message_row(app, message_id)
    assert (row.is_flagged, row.flagged_reason) == (True, "harassment")


async def test_flagging_ones_own_message_is_forbidden(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    sender, recipient = await make_pair(app)
    message_id = (await send_ok(client, settings, sender, recipient))["message"]["id"]
    assert (await flag(client, settings, recipient, message_id, "harassment")).status_code == 200
    first = await message_row(app, message_id)

    own = await flag(client, settings, sender, message_id, "other")
    assert own.status_code == 403
    assert own.json()["detail"] == (
        "you cannot flag your own message; only its recipient can report it"
    )
    row = await message_row(app, message_id)
    assert (row.flagged_reason, row.flagged_at) == ("harassment", first.flagged_at)
    async with app.state.sessionmaker() as session:
        reporters = (await session.scalars(select(FlagReport.reporter_id))).all()
    assert reporters == [recipient.id]


async def test_a_later_report_never_overwrites_the_first_on_the_message(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    sender, recipient = await make_pair(app)
    message_id = (await send_ok(client, settings, sender, recipient))["message"]["id"]
    assert (await flag(client, settings, recipient, message_id, "harassment")).status_code == 200
    first = await message_row(app, message_id)
    assert first.flagged_at is not None

    again = await flag(client, settings, recipient, message_id, "spam")
    assert again.status_code == 200
    # The reporter's own report follows their latest word ...
    assert again.json()["flagged_reason"] == "spam"
    async with app.state.sessionmaker() as session:
        reports = (await session.scalars(select(FlagReport))).all()
    assert [(r.reporter_id, r.reason) for r in reports] == [(recipient.id, "spam")]
    # ... while the message keeps the first report's reason and time.
    row = await message_row(app, message_id)
    assert (row.is_flagged, row.flagged_reason, row.flagged_at) == (
        True,
        "harassment",
        first.flagged_at,
    )
