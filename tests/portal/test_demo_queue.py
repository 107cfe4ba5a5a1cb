"""The demo's moderation queue holds enough to try every feature: twenty or more open reports,
several per sender, every reason; seeding twice adds nothing; the banner prints the address the
app was given (``make run PORT=…`` sets PORTAL_BASE_URL)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.demo import seed_demo
from portal.models import FlagReport, Message
from portal.models.moderation import FLAG_REASONS
from portal.settings import Settings


async def _open_reports(session: AsyncSession) -> list[tuple[str, str]]:
    async with read_transaction(session):
        rows = await session.execute(
            select(Message.sender_id, FlagReport.reason)
            .join(Message, Message.id == FlagReport.message_id)
            .where(FlagReport.status == "open")
        )
        return [(str(sender), reason) for sender, reason in rows]


async def test_the_demo_queue_has_every_reason_and_several_items_per_sender(
    session: AsyncSession, settings: Settings
) -> None:
    first = await seed_demo(session, settings)
    assert first.created
    reports = await _open_reports(session)
    assert len(reports) >= 20
    assert {reason for _, reason in reports} == set(FLAG_REASONS)
    per_sender: dict[str, int] = {}
    for sender, _ in reports:
        per_sender[sender] = per_sender.get(sender, 0) + 1
    assert sum(1 for count in per_sender.values() if count >= 5) >= 3, per_sender

    async with read_transaction(session):
        total = await session.scalar(select(func.count()).select_from(FlagReport))
    again = await seed_demo(session, settings)
    assert not again.created
    async with read_transaction(session):
        assert await session.scalar(select(func.count()).select_from(FlagReport)) == total

    banner = again.summary(replace(settings, base_url="http://127.0.0.1:8123"))
    assert "dashboard http://127.0.0.1:8123/mod" in banner
    assert "http://127.0.0.1:8000" not in banner
