"""The staff activity export names people beside their ids (staff who acted, users and staff
acted on) and holds the staff reads of threads."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.database import create_sessionmaker
from portal.models.base import utcnow
from portal.services import suspensions
from portal.services.compliance import staff_activity
from portal.services.thread_timeline import READ_ACTION, record_staff_read
from portal.settings import Settings
from tests.portal.moderation_support import send, staff, user


async def _export(engine: AsyncEngine, fmt: str, who: object) -> bytes:
    now = utcnow()
    export = await staff_activity.export_staff_activity(
        create_sessionmaker(engine),
        start=now - timedelta(days=1),
        end=now + timedelta(days=1),
        fmt=fmt,
        actor=who,  # type: ignore[arg-type]
    )
    return b"".join([chunk async for chunk in export.chunks])


async def test_staff_and_users_by_name_and_email(
    session: AsyncSession, engine: AsyncEngine, settings: Settings
) -> None:
    erin = await user(session, "employer", "Erin Employer")
    cody = await user(session, "candidate", "Cody Candidate")
    thread_id = (await send(session, settings, erin, cody, "Hello")).thread_id
    moderator = await staff(session, "moderator", "Mona Moderator")
    await suspensions.suspend_user(
        session, erin.id, actor=moderator, reason="spam", days=1, policy="spam"
    )
    await record_staff_read(session, thread_id, actor=moderator)
    officer = await staff(session, "compliance", "Cleo Compliance")

    rows = list(csv.DictReader(io.StringIO((await _export(engine, "csv", officer)).decode())))
    suspended = next(r for r in rows if r["action"] == "user.suspended")
    assert (suspended["actor_id"], suspended["actor_name"], suspended["actor_email"]) == (
        str(moderator.id),
        "Mona Moderator",
        moderator.email,
    )
    assert (suspended["subject_id"], suspended["subject_name"], suspended["subject_email"]) == (
        str(erin.id),
        "Erin Employer",
        erin.email,
    )
    read = next(r for r in rows if r["action"] == READ_ACTION)
    assert (read["actor_name"], read["subject_type"], read["thread_id"]) == (
        "Mona Moderator",
        "thread",
        str(thread_id),
    )
    document = json.loads(await _export(engine, "json", officer))
    named = {(e["action"], e["actor_name"], e["subject_name"]) for e in document["events"]}
    assert ("user.suspended", "Mona Moderator", "Erin Employer") in named
    assert ("staff_activity.exported", "Cleo Compliance", None) in named
