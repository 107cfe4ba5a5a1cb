"""A thread report's ``application`` section (id, job title, status, requisition) is bound to
the thread's chain: the thread's creation records the application's facts, every provisioning
change of the application appends them anew to each of its threads' chains, and a send that
creates a thread cannot interleave with a change so that the chain keeps the old facts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.audit import Actor
from portal.database import create_sessionmaker
from portal.models import Application, MessageThread, User
from portal.services.applications import upsert_application
from portal.services.compliance.verify import verify_export
from portal.settings import Settings
from server.cli import main
from tests.conftest import settings_with
from tests.independent_verifier.audit_verifier import Rejected
from tests.independent_verifier.audit_verifier import verify as independently_verify
from tests.independent_verifier.test_independent_verifier import export_as_system
from tests.people import person
from tests.portal.compliance_world import World, build_world, send, staff_member
from tests.portal.test_report_binding import edits, export, failure, rechained, resealed

APPLICATION_EDITS = ("requisition", "job title", "application status", "application id")


async def change(
    session: AsyncSession, application: Application, actor: Actor | None = None, **wanted: Any
) -> None:
    values = {
        "job_title": application.job_title,
        "status": application.status,
        "requisition_id": application.requisition_id,
        **wanted,
    }
    await upsert_application(
        session,
        application_id=application.id,
        employer_id=application.employer_id,
        candidate_id=application.candidate_id,
        actor=actor or Actor.service(),
        **values,
    )


async def the_application(session: AsyncSession, world: World) -> Application:
    thread = await session.get(MessageThread, world.thread_id)
    assert thread is not None and thread.application_id is not None
    found = await session.get(Application, thread.application_id, populate_existing=True)
    assert found is not None
    return found


def verifies(data: bytes) -> dict[str, Any]:
    ours = verify_export(data)
    theirs = independently_verify(data)
    assert (theirs["events"], theirs["head"]) == (ours.events, ours.head)
    return json.loads(data)["report"]


def recorded_facts(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (event["action"], event["details"]["application"])
        for event in report["chain"]["events"]
        if "application" in event["details"]
    ]


def independent_refusal(data: bytes) -> str:
    with pytest.raises(Rejected) as refused:
        independently_verify(data)
    return str(refused.value)


def cli_verify(tmp_path: Path, data: bytes) -> Any:
    path = tmp_path / "report.json"
    path.write_bytes(data)
    return CliRunner().invoke(main, ["audit", "verify", str(path), "--allow-unsigned"])


async def test_an_edited_application_is_refused_by_both_verifiers_and_the_cli(
    engine: AsyncEngine, session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    unsigned = await export(engine, settings, world)
    assert cli_verify(tmp_path, unsigned).exit_code == 0
    for name in APPLICATION_EDITS:
        edit, named = edits(world)[name]
        forged = resealed(unsigned, edit)
        assert named in failure(forged), name
        assert independent_refusal(forged).startswith("binding: "), name
        refused = cli_verify(tmp_path, forged)
        assert refused.exit_code == 2 and named in refused.stderr, name
        assert "Traceback" not in refused.output, name
    report = verifies(unsigned)  # the genuine report
    assert recorded_facts(report) == [
        (
            "thread.created",
            {
                "id": report["application"]["id"],
                "job_title": "Engineer",
                "status": "submitted",
                "requisition_id": "REQ-1",
            },
        )
    ]


async def test_a_report_after_a_provisioning_change_shows_and_binds_the_new_facts(
    engine: AsyncEngine, session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    application = await the_application(session, world)
    await change(session, application, status="interviewing", requisition_id="REQ-7")
    # As the admin panel's edit does: an administrator's change, in the report's staff directory.
    admin = await staff_member(session, "admin")
    await change(session, application, Actor.staff(admin.id), job_title="Staff Engineer")

    data = await export(engine, settings, world)
    report = verifies(data)
    assert cli_verify(tmp_path, data).exit_code == 0
    shown = report["application"]
    assert (shown["job_title"], shown["status"], shown["requisition_id"]) == (
        "Staff Engineer",
        "interviewing",
        "REQ-7",
    )
    facts = recorded_facts(report)
    updates = [e for e in report["chain"]["events"] if e["action"] == "application.updated"]
    assert [(e["actor_type"], e["actor_id"]) for e in updates] == [
        ("service", None),
        ("staff", str(admin.id)),
    ]
    assert [action for action, _ in facts] == [
        "thread.created",
        "application.updated",
        "application.updated",
    ]
    assert facts[-1][1] == {
        name: shown[name] for name in ("id", "job_title", "status", "requisition_id")
    }

    # The application as it was before the changes is no longer what the chain says.
    def as_before(report: dict[str, Any]) -> None:
        report["application"].update(
            job_title="Engineer", status="submitted", requisition_id="REQ-1"
        )

    assert "application.job_title" in failure(resealed(data, as_before))
    assert independent_refusal(resealed(data, as_before)) == "binding: application job_title"
    refused = cli_verify(tmp_path, resealed(data, as_before))
    assert refused.exit_code == 2 and "application.job_title" in refused.stderr


async def test_a_chain_from_before_application_facts_still_verifies(
    engine: AsyncEngine, session: AsyncSession, settings: Settings
) -> None:
    """An export whose chain predates application facts on thread chains: no event has
    ``details.application``, and the application's other facts are not bound."""
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    document = json.loads(await export(engine, settings, world))
    for event in document["report"]["chain"]["events"]:
        event["details"].pop("application", None)
    document["report"]["application"]["requisition_id"] = "REQ-2"
    report = verifies(rechained(document))
    assert recorded_facts(report) == []


async def test_a_change_racing_the_first_send_is_recorded_on_the_new_thread(
    engine: AsyncEngine,
    session: AsyncSession,
    owner_session: AsyncSession,
    settings: Settings,
    backend: str,
) -> None:
    """Provisioning changes the application while a send creates the application's first
    thread. On PostgreSQL the send is held between reading the application and inserting the
    thread (the schema's owner locks the threads table), which is where a send that read the
    application without locking it would record the old facts, while the change, not seeing
    the uncommitted thread, recorded the new ones on no thread's chain."""
    employer = await person(session, "employer", "Ada Employer")
    candidate: User = await person(session, "candidate", "Grace Candidate")
    application, _ = await upsert_application(
        session,
        employer_id=employer.id,
        candidate_id=candidate.id,
        job_title="Engineer",
        requisition_id="REQ-1",
        actor=Actor.service(),
    )
    sessions = create_sessionmaker(engine)
    async with sessions() as sending, sessions() as provisioning:

        async def first_send() -> Any:
            return await send(sending, settings, employer, candidate, "Hello", application.id)

        async def provision() -> None:
            await change(provisioning, application, status="interviewing", requisition_id="REQ-9")

        if backend == "postgres":
            held = await owner_session.begin()
            await owner_session.execute(text("LOCK TABLE message_threads IN SHARE MODE"))
            sent = asyncio.create_task(first_send())
            await waiting_for_locks(owner_session, 1)
            changed = asyncio.create_task(provision())
            for _ in range(100):  # until the change has committed, or waits for the send
                if changed.done() or await lock_waits(owner_session) >= 2:
                    break
                await asyncio.sleep(0.05)
            await held.commit()
            message, _ = await asyncio.gather(sent, changed)
        else:
            message, _ = await asyncio.gather(first_send(), provision())

    report = verifies(await export_as_system(engine, settings, message.thread_id))
    assert (report["application"]["status"], report["application"]["requisition_id"]) == (
        "interviewing",
        "REQ-9",
    )
    assert recorded_facts(report)[-1][1]["requisition_id"] == "REQ-9"


async def lock_waits(session: AsyncSession) -> int:
    """Sessions of this test's database waiting for a lock (the server is shared). Read afresh
    each time: within a transaction PostgreSQL answers from the snapshot of its first read."""
    await session.execute(text("SELECT pg_stat_clear_snapshot()"))
    statement = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return (await session.execute(statement)).scalar_one()


async def waiting_for_locks(session: AsyncSession, count: int) -> None:
    for _ in range(100):
        if await lock_waits(session) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} lock waits after 5 s")
