"""NUL and other control characters never reach the database (issue 6, defect 5).

PostgreSQL refuses NUL in text (a 500 before), SQLite stored it; either way a field holding one
is a 400 naming the field, on every text field a request can write: provisioning (email,
display_name, job_title), block notes, flag notes (a query parameter), and the same rules hold
for the services that the CLI and the dashboard call.
"""

from __future__ import annotations

import uuid

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.errors import InvalidInput
from portal.models import Application, AuditEvent, FlagReport, MessageBlock, User
from portal.services.applications import upsert_application
from portal.services.staff import create_staff
from portal.services.users import create_user
from portal.settings import Settings
from tests.api.helpers import auth, make_pair, send_ok, service_auth

# NUL, a bell, an escape, DEL, a C1 control, a right-to-left override, a line separator.
REFUSED_IN_ONE_LINE = ["\x00", "\x07", "\x1b[31m", "\x7f", "\x9b", "\u202e", "\u2028", "\n"]
REFUSED_IN_NOTES = ["\x00", "\x07", "\x1b[31m", "\x7f", "\x9b"]


async def _count(app: Litestar, model: type) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("bad", REFUSED_IN_ONE_LINE)
async def test_provisioning_refuses_control_characters(
    app: Litestar, client: AsyncTestClient, settings: Settings, bad: str
) -> None:
    employer, candidate = await make_pair(app)
    headers = service_auth(settings)
    person = {"email": "ada@example.com", "display_name": "Ada", "role": "employer"}
    users_before, events_before = await _count(app, User), await _count(app, AuditEvent)
    for field, value in (
        ("display_name", f"Ada{bad}"),
        ("display_name", f"{bad}Ada"),
        ("email", f"a{bad}da@example.com"),
    ):
        response = await client.put(
            f"/api/v1/users/{uuid.uuid4()}", json={**person, field: value}, headers=headers
        )
        assert response.status_code == 400, (field, repr(bad), response.text)
        assert response.json()["detail"].startswith(f"{field}: "), response.text
    application = {
        "employer_id": str(employer.id),
        "candidate_id": str(candidate.id),
        "job_title": f"Engineer{bad}",
    }
    response = await client.put(
        f"/api/v1/applications/{uuid.uuid4()}", json=application, headers=headers
    )
    assert response.status_code == 400, (repr(bad), response.text)
    assert response.json()["detail"].startswith("job_title: ")
    assert await _count(app, User) == users_before
    assert await _count(app, Application) == 0
    assert await _count(app, AuditEvent) == events_before


async def test_provisioning_keeps_ordinary_unicode(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    for name in ("Zoë Ångström", "李小龍", "محمد", "O'Brien-Smith 🙂"):
        person = {"email": f"{uuid.uuid4().hex}@example.com", "display_name": name}
        response = await client.put(
            f"/api/v1/users/{uuid.uuid4()}",
            json={**person, "role": "candidate"},
            headers=service_auth(settings),
        )
        assert response.status_code == 201, (name, response.text)
        assert response.json()["display_name"] == name


@pytest.mark.parametrize("bad", REFUSED_IN_NOTES)
async def test_block_and_flag_notes_refuse_control_characters(
    app: Litestar, client: AsyncTestClient, settings: Settings, bad: str
) -> None:
    employer, candidate = await make_pair(app)
    message_id = (await send_ok(client, settings, candidate, employer))["message"]["id"]
    headers = auth(settings, employer)
    block = await client.post(
        "/api/v1/messages/block",
        json={"user_id": str(candidate.id), "reason": "spam", "note": f"spam{bad}"},
        headers=headers,
    )
    assert block.status_code == 400, block.text
    assert block.json()["detail"].startswith("note: ")
    flag = await client.post(
        f"/api/v1/messages/{message_id}/flag",
        params={"reason": "spam", "note": f"see{bad}this"},
        headers=headers,
    )
    assert flag.status_code == 400, flag.text
    assert flag.json()["detail"].startswith("note: ")
    assert await _count(app, MessageBlock) == 0
    assert await _count(app, FlagReport) == 0


async def test_notes_keep_tabs_and_line_breaks(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    message_id = (await send_ok(client, settings, candidate, employer))["message"]["id"]
    note = "First line\r\n\tsecond line, ünïcödé"
    headers = auth(settings, employer)
    flag = await client.post(
        f"/api/v1/messages/{message_id}/flag",
        params={"reason": "spam", "note": note},
        headers=headers,
    )
    assert flag.status_code == 200, flag.text
    block = await client.post(
        "/api/v1/messages/block",
        json={"user_id": str(candidate.id), "reason": "spam", "note": note},
        headers=headers,
    )
    assert block.status_code == 200, block.text
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(FlagReport.note)) == note.strip()
        assert await session.scalar(select(MessageBlock.note)) == note.strip()


async def test_services_refuse_them_too(session: AsyncSession) -> None:
    """The CLI and the staff side call the services directly, without the API's schemas."""
    for bad in ["\x00", "\x1b", "\u202e", "\ud800"]:
        with pytest.raises(InvalidInput) as refused:
            await create_user(
                session,
                email="ada@example.com",
                display_name=f"Ada{bad}",
                role="employer",
                actor=Actor.system(),
            )
        assert refused.value.field == "display_name"
    employer = await create_user(
        session, email="e@example.com", display_name="E", role="employer", actor=Actor.system()
    )
    candidate = await create_user(
        session, email="c@example.com", display_name="C", role="candidate", actor=Actor.system()
    )
    with pytest.raises(InvalidInput) as refused:
        await upsert_application(
            session,
            employer_id=employer.id,
            candidate_id=candidate.id,
            job_title="Engineer\x00",
            actor=Actor.system(),
        )
    assert refused.value.field == "job_title"
    assert await session.scalar(select(func.count()).select_from(Application)) == 0


async def test_staff_names_are_checked_like_users(session: AsyncSession) -> None:
    with pytest.raises(InvalidInput) as refused:
        await create_staff(
            session,
            email="mod@example.com",
            role="moderator",
            password="a-long-enough-password",
            display_name="Mod\x00",
            actor=Actor.system(),
        )
    assert refused.value.field == "display_name"
    staff = await create_staff(
        session,
        email="mod@example.com",
        role="moderator",
        password="a-long-enough-password",
        display_name="  Mod Erator ",
        actor=Actor.system(),
    )
    assert staff.display_name == "Mod Erator"
