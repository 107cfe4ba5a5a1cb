"""Dashboard test helpers: signing in through the real form, CSRF tokens, a reported message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import DateTime, cast, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import Base, Message, StaffUser, User
from portal.settings import Settings
from tests.portal.moderation_support import PASSWORD, report, send, staff, user

CSRF_COOKIE = "portal_csrf"
ROLES = ("moderator", "compliance", "admin")


async def csrf_token(client: AsyncTestClient[Litestar]) -> str:
    """The CSRF token of this client's cookie jar (a GET hands one out first)."""
    if CSRF_COOKIE not in client.cookies:
        await client.get("/mod/login")
    return client.cookies[CSRF_COOKIE]


async def post_form(
    client: AsyncTestClient[Litestar], path: str, data: dict[str, Any] | None = None, **kw: Any
) -> Response:
    form = {"_csrf_token": await csrf_token(client), **(data or {})}
    return await client.post(path, data=form, follow_redirects=False, **kw)


async def sign_in(
    client: AsyncTestClient[Litestar], account: StaffUser, password: str = PASSWORD
) -> Response:
    client.cookies.clear()
    response = await post_form(client, "/mod/login", {"email": account.email, "password": password})
    assert response.status_code == 303, response.text
    return response


@dataclass
class World:
    moderator: StaffUser
    compliance: StaffUser
    admin: StaffUser
    sender: User
    recipient: User
    message: Message

    def account(self, role: str) -> StaffUser:
        return getattr(self, role)


async def make_world(
    session: AsyncSession, settings: Settings, body: str = "You are useless"
) -> World:
    sender, recipient = (
        await user(session, "employer", "Erin Employer"),
        await user(session, "candidate", "Cody Candidate"),
    )
    message = await send(session, settings, sender, recipient, body)
    await report(session, message, recipient, "harassment", note="insulting")
    return World(
        moderator=await staff(session, "moderator", "Mona Moderator"),
        compliance=await staff(session, "compliance", "Cleo Compliance"),
        admin=await staff(session, "admin", "Ada Admin"),
        sender=sender,
        recipient=recipient,
        message=message,
    )


async def snapshot(session: AsyncSession) -> dict[str, tuple[Any, ...]]:
    """Rows and latest update of every table, to prove a request changed nothing (one
    statement: tests take thousands of snapshots)."""
    counts = union_all(
        *(
            select(
                literal(table.name).label("name"),
                func.count().label("rows"),
                func.max(table.c.updated_at).label("updated")
                if "updated_at" in table.c
                else cast(null(), DateTime(timezone=True)).label("updated"),
            ).select_from(table)
            for table in Base.metadata.sorted_tables
        )
    )
    async with read_transaction(session):
        rows = (await session.execute(select(counts.subquery()))).all()
    return {name: (count, updated) for name, count, updated in rows}
