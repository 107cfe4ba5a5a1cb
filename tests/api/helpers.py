"""Shared helpers for API tests: people, applications, bearer headers and common requests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from portal.audit import Actor
from portal.models import Application, User
from portal.models.base import utcnow
from portal.services.applications import upsert_application
from portal.settings import Settings
from portal.tokens import issue_service_token, issue_user_token
from tests.people import person


async def make_user(
    app: Litestar,
    role: str = "employer",
    *,
    name: str | None = None,
    online: bool = True,
    suspended: bool = False,
    suspended_until: datetime | None = None,
) -> User:
    """A provisioned user; ``online`` users were active just now (so no email is queued)."""
    async with app.state.sessionmaker() as session:
        user = await person(session, role, name)
        values: dict[str, Any] = {}
        if online:
            values["last_active_at"] = utcnow()
        if suspended:
            values.update(is_suspended=True, suspended_at=utcnow(), suspended_until=suspended_until)
        if values:
            async with session.begin():
                await session.execute(update(User).where(User.id == user.id).values(**values))
            for name_, value in values.items():
                setattr(user, name_, value)
    return user


async def make_pair(app: Litestar) -> tuple[User, User]:
    return await make_user(app, "employer"), await make_user(app, "candidate")


async def make_application(app: Litestar, employer: User, candidate: User) -> Application:
    async with app.state.sessionmaker() as session:
        application, _ = await upsert_application(
            session,
            employer_id=employer.id,
            candidate_id=candidate.id,
            job_title="Backend Engineer",
            actor=Actor.service(),
        )
    return application


def auth(settings: Settings, user: User | uuid.UUID) -> dict[str, str]:
    user_id = user.id if isinstance(user, User) else user
    return {"Authorization": f"Bearer {issue_user_token(settings, user_id)}"}


def service_auth(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_service_token(settings)}"}


async def send(
    client: AsyncTestClient[Litestar],
    settings: Settings,
    sender: User,
    recipient: User | uuid.UUID,
    body: str = "Hello there",
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Response:
    recipient_id = recipient.id if isinstance(recipient, User) else recipient
    payload = {"recipient_id": str(recipient_id), "body": body, **fields}
    return await client.post(
        "/api/v1/messages", json=payload, headers={**auth(settings, sender), **(headers or {})}
    )


async def send_ok(
    client: AsyncTestClient[Litestar],
    settings: Settings,
    sender: User,
    recipient: User,
    body: str = "Hello there",
    **fields: Any,
) -> dict[str, Any]:
    response = await send(client, settings, sender, recipient, body, **fields)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
