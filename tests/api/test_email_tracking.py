"""The open-tracking image: no bearer token, always the same GIF, records only the first open."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from api.email_tracking import TRANSPARENT_GIF
from portal.models import AuditEvent, Message
from portal.services.notifications import open_tracking_token
from portal.settings import Settings
from tests.conftest import no_database
from tests.portal.test_email_notifications import count, notified_conversation, with_smtp


def tracking_path(body_html: str) -> str:
    match = re.search(r'src="https?://[^/"]+(/api/v1/email/opened/[^"]+\.gif)"', body_html)
    assert match, "the email has no tracking image"
    return match.group(1)


def assert_pixel(response: Response) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert "no-store" in response.headers["cache-control"]
    assert response.content == TRANSPARENT_GIF


async def message_row(session: AsyncSession, message_id: object) -> Message:
    row = await session.get(Message, message_id, populate_existing=True)
    assert row is not None
    return row


async def test_first_load_marks_the_email_opened_and_later_loads_change_nothing(
    client: AsyncTestClient[Litestar], session: AsyncSession, settings: Settings
) -> None:
    notified = await notified_conversation(session, with_smtp(settings))
    assert notified.outbox is not None
    path = tracking_path(notified.outbox.body_html or "")

    first = await client.get(path)
    assert_pixel(first)
    opened = await message_row(session, notified.message.id)
    assert opened.email_opened is True
    assert opened.email_opened_at is not None
    opened_at = opened.email_opened_at

    second = await client.get(path)
    assert_pixel(second)
    again = await message_row(session, notified.message.id)
    assert again.email_opened_at == opened_at
    assert (
        await count(
            session,
            AuditEvent,
            AuditEvent.action == "email.opened",
            AuditEvent.subject_id == notified.message.id,
            AuditEvent.thread_id == notified.thread.id,
        )
        == 1
    )


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda token: token[:-3] + "xyz", id="forged-signature"),
        pytest.param(lambda token: token.split(".")[0], id="unsigned-id"),
        pytest.param(lambda token: "0" * 32 + "." + token.split(".")[1], id="other-id"),
        pytest.param(lambda token: "not-a-token", id="garbage"),
        pytest.param(lambda token: token * 10, id="very-long"),
    ],
)
async def test_a_bad_token_gets_the_same_image_and_changes_nothing(
    client: AsyncTestClient[Litestar],
    session: AsyncSession,
    settings: Settings,
    mangle: Callable[[str], str],
) -> None:
    notified = await notified_conversation(session, with_smtp(settings))
    assert notified.outbox is not None
    token = open_tracking_token(settings, notified.outbox.id)

    response = await client.get(f"/api/v1/email/opened/{mangle(token)}.gif")

    assert_pixel(response)
    assert (await message_row(session, notified.message.id)).email_opened is False
    assert await count(session, AuditEvent, AuditEvent.action == "email.opened") == 0


async def test_a_valid_token_without_the_gif_suffix_records_nothing(
    client: AsyncTestClient[Litestar], session: AsyncSession, settings: Settings
) -> None:
    notified = await notified_conversation(session, with_smtp(settings))
    assert notified.outbox is not None
    token = open_tracking_token(settings, notified.outbox.id)

    assert_pixel(await client.get(f"/api/v1/email/opened/{token}"))
    assert (await message_row(session, notified.message.id)).email_opened is False


@no_database
async def test_the_pixel_is_not_in_the_api_schema(client: AsyncTestClient[Litestar]) -> None:
    schema = (await client.get("/schema/openapi.json")).json()

    assert not [path for path in schema["paths"] if "/email/" in path]
