"""Provisioned people for tests, each with an email of their own."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.models import User
from portal.services.users import create_user


async def person(session: AsyncSession, role: str, name: str | None = None) -> User:
    tag = uuid.uuid4().hex[:10]
    return await create_user(
        session,
        email=f"{role}-{tag}@example.com",
        display_name=name or f"{role.title()} {tag}",
        role=role,
        actor=Actor.service(),
    )
