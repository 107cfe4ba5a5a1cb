"""The compliance pages (/mod/compliance): per-thread audit report downloads that verify, the
staff activity export, legal holds placed and lifted from the page, for the compliance and admin
roles only; POST forms with CSRF (an export writes an audit event); errors that name the field
and change nothing; hostile values rendered inert."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.database import read_transaction
from portal.models import AuditEvent, LegalHold
from portal.services.compliance.holds import list_holds, place_hold
from portal.services.compliance.verify import verify_export
from portal.settings import Settings
from tests.admin.support import make_world, post_form, sign_in, snapshot
from tests.portal.compliance_world import build_world, send
from tests.portal.moderation_support import staff, user

UNKNOWN = "00000000-0000-7000-8000-000000000000"
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


async def events(session: AsyncSession, action: str) -> list[AuditEvent]:
    async with read_transaction(session):
        return list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == action)
                .order_by(AuditEvent.chain_key, AuditEvent.position)
            )
        )


async def test_only_compliance_and_admin_get_in(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    thread_id = world.message.thread_id
    pages = [
        "/mod/compliance",
        f"/mod/compliance?thread={thread_id}",
        f"/mod/compliance/threads/{thread_id}",
        "/mod/compliance/holds",
    ]
    posts: list[tuple[str, dict[str, str]]] = [
        (f"/mod/compliance/threads/{thread_id}/report", {"format": "json"}),
        ("/mod/compliance/staff-activity", {"from": "2026-01-01", "to": "2026-01-02"}),
        (
            "/mod/compliance/holds",
            {"thread_id": str(thread_id), "reason": "r", "case_reference": "c"},
        ),
        (f"/mod/compliance/holds/{UNKNOWN}/lift", {"reason": "done"}),
    ]
    async with AsyncTestClient(app=app) as client:
        for path in pages:
            response = await client.get(path, follow_redirects=False)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/mod/login?next=/mod/compliance")
        for path, data in posts:
            response = await post_form(client, path, data)
            assert response.status_code == 303 and "/mod/login" in response.headers["location"]

        await sign_in(client, world.moderator)
        before = await snapshot(session)
        for path in pages:
            response = await client.get(path, follow_redirects=False)
            assert response.status_code == 403, path
            assert "needs the role compliance or admin" in response.text
        for path, data in posts:
            assert (await post_form(client, path, data)).status_code == 403, path
        assert await snapshot(session) == before
        # and a moderator's pages offer none of it
        for path in ("/mod", f"/mod/reports/{world.message.id}", f"/mod/users/{world.sender.id}"):
            page = (await client.get(path)).text
            assert "/mod/compliance" not in page, path
            assert "Download audit report" not in page and 'id="user-threads"' not in page

        for role in ("compliance", "admin"):
            await sign_in(client, world.account(role))
            for path in pages:
                response = await client.get(path, follow_redirects=False)
                assert response.status_code in (200, 303), (role, path)
            queue = (await client.get("/mod")).text
            assert 'href="/mod/compliance"' in queue and ">Compliance</a>" in queue
            report_page = (await client.get(f"/mod/reports/{world.message.id}")).text
            assert f'action="/mod/compliance/threads/{thread_id}/report"' in report_page
            assert 'hx-boost="false"' in report_page
            user_page = (await client.get(f"/mod/users/{world.sender.id}")).text
            assert 'id="user-threads"' in user_page
            assert f'action="/mod/compliance/threads/{thread_id}/report"' in user_page


async def test_every_post_needs_the_csrf_token(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    thread_id = world.message.thread_id
    hold = await place_hold(
        session,
        actor=Actor.system(),
        reason="charge",
        case_reference="C-1",
        user_id=world.sender.id,
    )
    posts = [
        (f"/mod/compliance/threads/{thread_id}/report", {"format": "json"}),
        ("/mod/compliance/staff-activity", {"from": "2026-01-01", "to": "2026-12-31"}),
        (
            "/mod/compliance/holds",
            {"thread_id": str(thread_id), "reason": "r", "case_reference": "c"},
        ),
        (f"/mod/compliance/holds/{hold.id}/lift", {"reason": "done"}),
    ]
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.compliance)
        before = await snapshot(session)
        for path, data in posts:
            missing = await client.post(path, data=data, follow_redirects=False)
            forged = await client.post(
                path,
                data={**data, "_csrf_token": "f" * 128},
                headers={"x-csrftoken": "f" * 128},
                follow_redirects=False,
            )
            assert (missing.status_code, forged.status_code) == (403, 403), path
            assert "The form expired" in missing.text
        assert await snapshot(session) == before
    assert await events(session, "report.exported") == []


async def test_report_downloads_verify_parse_and_are_audited(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await build_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.officer)
        thread_page = await client.get(f"/mod/compliance/threads/{world.thread_id}")
        assert thread_page.status_code == 200
        assert "Grace Candidate" in thread_page.text and "EEOC-2026-001" in thread_page.text
        assert "Not exported yet." in thread_page.text
        path = f"/mod/compliance/threads/{world.thread_id}/report"
        bodies: dict[str, bytes] = {}
        for fmt in ("json", "csv", "pdf"):
            response = await post_form(client, path, {"format": fmt})
            assert response.status_code == 200, response.text
            assert response.headers["content-disposition"] == (
                f'attachment; filename="audit-thread-{world.thread_id}.{fmt}"'
            )
            bodies[fmt] = response.content
        assert response.headers["content-type"] == "application/pdf"
        page = (await client.get(f"/mod/compliance/threads/{world.thread_id}")).text
        assert page.count(world.officer.display_name or "") >= 3

    verified = verify_export(bodies["json"])
    report = json.loads(bodies["json"])["report"]
    assert verified.events == len(report["chain"]["events"]) > 0
    assert report["generated_by"]["id"] == str(world.officer.id)
    assert {m["id"] for m in report["messages"]} == {str(m.id) for m in world.messages}
    rows = list(csv.DictReader(io.StringIO(bodies["csv"].decode())))
    assert [r["hash"] for r in rows] == [e["hash"] for e in report["chain"]["events"]]
    assert bodies["pdf"].startswith(b"%PDF")

    exported = await events(session, "report.exported")
    assert [(e.actor_type, e.actor_id) for e in exported] == [("staff", world.officer.id)] * 3
    assert [e.details["format"] for e in exported] == ["json", "csv", "pdf"]
    assert {e.subject_id for e in exported} == {world.thread_id}
    assert exported[0].details["head_hash"] == verified.head


async def test_report_download_errors_name_the_problem_and_change_nothing(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    thread_id = world.message.thread_id
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.admin)
        before = await snapshot(session)
        bad = await post_form(
            client, f"/mod/compliance/threads/{thread_id}/report", {"format": "xlsx"}
        )
        assert bad.status_code == 400 and "format: must be one of json, csv, pdf" in bad.text
        unknown = await post_form(
            client, f"/mod/compliance/threads/{UNKNOWN}/report", {"format": "json"}
        )
        assert unknown.status_code == 404 and f"thread {UNKNOWN} does not exist" in unknown.text
        lookups = {
            "not-an-id": (404, "No thread matches “not-an-id”"),
            " ": (400, "thread: enter a thread id"),
            UNKNOWN: (404, f"thread {UNKNOWN} does not exist"),
        }
        for value, (status, detail) in lookups.items():
            response = await client.get("/mod/compliance", params={"thread": value})
            assert (response.status_code, detail in response.text) == (status, True), value
        found = await client.get(
            "/mod/compliance", params={"thread": f" {thread_id} "}, follow_redirects=False
        )
        assert found.headers["location"] == f"/mod/compliance/threads/{thread_id}"
        missing = await client.get(f"/mod/compliance/threads/{UNKNOWN}")
        assert missing.status_code == 404
        assert await snapshot(session) == before


async def test_staff_activity_export(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    today = datetime.now(UTC).date()
    period = {"from": str(today - timedelta(days=1)), "to": str(today)}
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        await post_form(client, f"/mod/reports/{world.message.id}/claim")
        await sign_in(client, world.compliance)
        as_csv = await post_form(
            client, "/mod/compliance/staff-activity", {**period, "format": "csv"}
        )
        as_json = await post_form(
            client, "/mod/compliance/staff-activity", {**period, "format": "json"}
        )
        before = await snapshot(session)
        refusals = {
            ("", str(today), "csv"): "from: a date is required",
            ("2026-02-30", str(today), "csv"): "from: &#39;2026-02-30&#39; is not a date",
            (str(today), str(today - timedelta(days=2)), "json"): "to: must not be before from",
            (str(today), str(today), "xml"): "format: must be one of csv, json",
        }
        for (start, end, fmt), detail in refusals.items():
            response = await post_form(
                client, "/mod/compliance/staff-activity", {"from": start, "to": end, "format": fmt}
            )
            assert (response.status_code, detail in response.text) == (400, True), detail
        assert await snapshot(session) == before

    name = f"staff-activity-{period['from']}-{today + timedelta(days=1)}"
    assert as_csv.status_code == as_json.status_code == 200
    assert as_csv.headers["content-disposition"] == f'attachment; filename="{name}.csv"'
    assert as_json.headers["content-disposition"] == f'attachment; filename="{name}.json"'
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode())))
    actions = {(r["actor_id"], r["action"]) for r in rows}
    assert (str(world.moderator.id), "moderation.claimed") in actions
    assert (str(world.compliance.id), "staff.signed_in") in actions
    document = json.loads(as_json.content)
    assert {e["id"] for e in document["events"]} >= {r["id"] for r in rows if r.get("id")}
    assert len(document["events"]) == len(rows) + 1  # the CSV export came in between
    exported = await events(session, "staff_activity.exported")
    assert [(e.actor_id, e.details["format"]) for e in exported] == [
        (world.compliance.id, "csv"),
        (world.compliance.id, "json"),
    ]


async def test_holds_placed_and_lifted_from_the_page(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await build_world(session, settings)
    officer = world.officer
    officer_id = officer.id
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, officer)
        targets: list[dict[str, str]] = [
            {"user_id": str(world.candidate.id)},
            {"employer_id": str(world.employer.id), "requisition_id": "REQ-1"},
            {"thread_id": str(world.thread_id), "return_to": "thread"},
        ]
        for n, target in enumerate(targets):
            response = await post_form(
                client,
                "/mod/compliance/holds",
                {**target, "reason": f"charge {n}", "case_reference": f"EEOC-{n}"},
            )
            assert response.status_code == 303, response.text
        assert response.headers["location"] == (
            f"/mod/compliance/threads/{world.thread_id}?done=placed"
        )
        standing = await list_holds(session)
        placed = {h.case_reference: h for h in standing}
        assert placed["EEOC-0"].scope == "user" and placed["EEOC-0"].user_id == world.candidate.id
        assert (placed["EEOC-1"].scope, placed["EEOC-1"].requisition_id) == ("requisition", "REQ-1")
        assert placed["EEOC-2"].scope == "thread" and placed["EEOC-2"].placed_by_id == officer.id
        page = (await client.get("/mod/compliance/holds")).text
        assert "4 standing, 4 in all" in page  # build_world placed one
        assert 'requisition <b class="mono">REQ-1</b> of' in page

        lifted = await post_form(
            client, f"/mod/compliance/holds/{placed['EEOC-0'].id}/lift", {"reason": "settled"}
        )
        assert lifted.status_code == 303
        assert lifted.headers["location"].startswith("/mod/compliance/holds?done=lifted")
        page = (await client.get(lifted.headers["location"])).text
        assert "Done: hold lifted." in page and "3 standing, 4 in all" in page
        assert "settled" in page

    session.expire_all()  # the holds listed above were loaded before the page lifted one
    everything = await list_holds(session, include_lifted=True)
    lifted_hold = next(h for h in everything if h.case_reference == "EEOC-0")
    assert lifted_hold.lifted_by_id == officer_id and lifted_hold.lifted_reason == "settled"
    assert len(await list_holds(session)) == 3
    placed_events = await events(session, "hold.placed")
    assert [e.actor_id for e in placed_events][-3:] == [officer_id] * 3
    (lift_event,) = await events(session, "hold.lifted")
    assert (lift_event.actor_id, lift_event.subject_id) == (officer_id, lifted_hold.id)
    assert lift_event.details["lifted_reason"] == "settled"


async def test_hold_form_errors_name_the_field_and_change_nothing(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    candidate = world.recipient
    hold = await place_hold(
        session, actor=Actor.system(), reason="x", case_reference="C-9", user_id=candidate.id
    )
    ok = {"reason": "charge", "case_reference": "EEOC-1"}
    cases: list[tuple[dict[str, str], int, str]] = [
        (ok, 400, "scope: give exactly one of"),
        (
            {**ok, "thread_id": str(world.message.thread_id), "user_id": str(candidate.id)},
            400,
            "scope:",
        ),
        # a name (not an id) lists whom it finds, to pick: nothing is placed yet
        ({**ok, "thread_id": "123"}, 200, "Pick whom or which thread you mean"),
        ({**ok, "user_id": "nope"}, 200, "Pick whom or which thread you mean"),
        ({**ok, "thread_id": UNKNOWN}, 404, f"thread {UNKNOWN} does not exist"),
        ({**ok, "user_id": UNKNOWN}, 404, f"user {UNKNOWN} does not exist"),
        ({**ok, "employer_id": str(world.sender.id)}, 400, "requisition_id: a requisition hold"),
        (
            {**ok, "employer_id": str(candidate.id), "requisition_id": "R"},
            400,
            "employer: user",
        ),
        ({"case_reference": "C", "user_id": str(candidate.id)}, 400, "reason: must not be empty"),
        ({"reason": "r", "user_id": str(candidate.id)}, 400, "case_reference: must not be empty"),
        ({**ok, "case_reference": "x" * 201, "user_id": str(candidate.id)}, 400, "case_reference:"),
    ]
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.admin)
        before = await snapshot(session)
        for data, status, detail in cases:
            response = await post_form(client, "/mod/compliance/holds", data)
            assert (response.status_code, detail in response.text) == (status, True), data
            # what was typed is kept in the form
            assert data.get("case_reference", "")[:50] in response.text
        lifts: list[tuple[str, dict[str, str], int, str]] = [
            (str(hold.id), {"reason": ""}, 400, "reason: must not be empty"),
            (UNKNOWN, {"reason": "x"}, 404, f"legal hold {UNKNOWN} does not exist"),
        ]
        for hold_id, data, status, detail in lifts:
            response = await post_form(client, f"/mod/compliance/holds/{hold_id}/lift", data)
            assert (response.status_code, detail in response.text) == (status, True), detail
        assert await snapshot(session) == before
        first = await post_form(client, f"/mod/compliance/holds/{hold.id}/lift", {"reason": "ok"})
        assert first.status_code == 303
        after_lift = await snapshot(session)
        again = await post_form(client, f"/mod/compliance/holds/{hold.id}/lift", {"reason": "ok"})
        assert again.status_code == 409 and "was already lifted" in again.text
        assert await snapshot(session) == after_lift


async def test_hostile_values_are_rendered_inert(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    employer = await user(session, "employer", HOSTILE)
    candidate = await user(session, "candidate", "Cody")
    message = await send(session, settings, employer, candidate, "hello")
    officer = await staff(session, "compliance", HOSTILE)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, officer)
        placed = await post_form(
            client,
            "/mod/compliance/holds",
            {"user_id": str(employer.id), "reason": HOSTILE, "case_reference": HOSTILE},
        )
        assert placed.status_code == 303
        await post_form(
            client, f"/mod/compliance/threads/{message.thread_id}/report", {"format": "csv"}
        )
        pages: list[Any] = [
            await client.get("/mod/compliance/holds"),
            await client.get(f"/mod/compliance/threads/{message.thread_id}"),
            await client.get(f"/mod/users/{candidate.id}"),
            await client.get("/mod/compliance", params={"thread": HOSTILE}),
        ]
    for page in pages:
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, page.url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, page.url


async def test_hold_placed_by_the_console_shows_as_system(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    await place_hold(
        session,
        actor=Actor.system(),
        reason="from the CLI",
        case_reference="CLI-1",
        thread_id=world.message.thread_id,
    )
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.compliance)
        page = (await client.get(f"/mod/compliance/threads/{world.message.thread_id}")).text
    assert "CLI-1" in page and '<div class="muted">system</div>' in page
    async with read_transaction(session):
        assert (await session.scalar(select(LegalHold.scope))) == "thread"
