"""Every console command that changes or exports something names its operator (``--as EMAIL``
or ``PORTAL_OPERATOR``): production refuses without one, the operator is the actor of its audit
events, and console actions appear in the staff activity export."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import AuditEvent, StaffUser
from portal.models.base import utcnow
from portal.services.compliance.holds import list_holds
from portal.settings import Settings, get_settings
from tests.conftest import settings_with
from tests.portal.compliance_world import World, build_world, staff_member
from tests.portal.test_cli import UUID_LINE, assert_one_line_error, cli_env, run

__all__ = ["cli_env"]  # the fixture, imported for these tests

PASSWORD = "correct horse battery staple"


async def cli(*args: str) -> Result:
    return await asyncio.to_thread(run, *args)


@pytest.fixture
def production(cli_env: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_SESSION_SECRET", "s" * 48)
    monkeypatch.setenv("PORTAL_AUDIT_SIGNING_KEY", key.decode())
    monkeypatch.setenv("PORTAL_ALLOW_UNSCANNED", "1")  # no attachment scanner in these tests
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def world_of(session: AsyncSession, settings: Settings) -> World:
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    await session.commit()
    return world


async def event_count(session: AsyncSession) -> int:
    count = await session.scalar(select(func.count()).select_from(AuditEvent))
    await session.commit()
    return count or 0


async def latest_event(session: AsyncSession, action: str) -> AuditEvent:
    event = await session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    )
    await session.commit()
    assert event is not None, action
    return event


def period() -> tuple[str, str]:
    return (
        (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d"),
        (utcnow() + timedelta(days=1)).strftime("%Y-%m-%d"),
    )


async def test_production_refuses_every_console_change_without_an_operator(
    production: None, session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    world = await world_of(session, settings)
    hold = (await list_holds(session))[0]
    await session.commit()
    start, end = period()
    out = str(tmp_path / "out")
    thread, employer, candidate = (
        str(world.thread_id),
        str(world.employer.id),
        str(world.candidate.id),
    )
    commands = {
        "audit report": ["audit", "report", thread, "-o", out],
        "audit staff-activity": [
            "audit", "staff-activity", "--from", start, "--to", end, "-o", out,
        ],
        "audit checkpoint": ["audit", "checkpoint", "-o", out],
        "hold place": ["hold", "place", "--thread", thread, "--reason", "r", "--case", "c"],
        "hold lift": ["hold", "lift", str(hold.id), "--reason", "r"],
        "retention purge": ["retention", "purge"],
        "staff create": [
            "staff", "create", "--email", "new@staff.example", "--role", "moderator",
            "--password", PASSWORD,
        ],
        "users create": [
            "users", "create", "--email", "u@example.com", "--name", "U", "--role", "candidate",
        ],
        "applications create": [
            "applications", "create", "--employer", employer, "--candidate", candidate,
            "--title", "Clerk",
        ],
    }  # fmt: skip
    before = await event_count(session)
    for name, args in commands.items():
        result = await cli(*args)
        assert_one_line_error(result, "--as EMAIL or PORTAL_OPERATOR", "PORTAL_ENV=production")
        assert not (tmp_path / "out").exists(), name
    assert await event_count(session) == before
    assert_one_line_error(await cli("demo"), "refused when PORTAL_ENV=production")
    assert await event_count(session) == before


async def test_the_operator_is_the_actor_whether_named_by_as_or_the_environment(
    production: None,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await world_of(session, settings)
    admin = await staff_member(session, "admin")
    await session.commit()
    monkeypatch.setenv("PORTAL_OPERATOR", world.officer.email)
    get_settings.cache_clear()

    placed = await cli(
        "hold", "place", "--user", str(world.candidate.id), "--reason", "charge", "--case", "C-1"
    )
    assert placed.exit_code == 0, placed.stderr
    event = await latest_event(session, "hold.placed")
    assert (event.actor_type, event.actor_id) == ("staff", world.officer.id)
    assert "operator" not in event.details

    new_user = ["users", "create", "--email", "u@example.com", "--name", "U", "--role", "candidate"]
    assert_one_line_error(
        await cli(*new_user),
        f"PORTAL_OPERATOR: {world.officer.email} is a compliance; admin required",
    )
    created = await cli(*new_user, "--as", admin.email)
    assert created.exit_code == 0, created.stderr
    event = await latest_event(session, "user.created")
    assert (event.actor_type, event.actor_id) == ("staff", admin.id)

    assert_one_line_error(
        await cli("retention", "purge", "--as", world.moderator.email),
        f"--as: {world.moderator.email} is a moderator; compliance or admin required",
    )
    assert_one_line_error(
        await cli("retention", "purge", "--as", "nobody@staff.example"),
        "--as: no active staff account nobody@staff.example",
    )
    purged = await cli("retention", "purge")
    assert purged.exit_code == 0, purged.stderr


async def test_the_first_staff_account_needs_no_operator_the_next_an_admin(
    production: None, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An operator named for the whole environment cannot exist before the first account.
    monkeypatch.setenv("PORTAL_OPERATOR", "first@staff.example")
    get_settings.cache_clear()
    first = await cli(
        "staff", "create", "--email", "first@staff.example", "--role", "admin",
        "--password", PASSWORD,
    )  # fmt: skip
    assert first.exit_code == 0, first.stderr
    assert UUID_LINE.match(first.stdout)
    event = await latest_event(session, "staff.created")
    assert (event.actor_type, event.details.get("operator")) == ("system", "console")

    monkeypatch.delenv("PORTAL_OPERATOR")
    get_settings.cache_clear()
    second = ["staff", "create", "--email", "second@staff.example", "--role", "moderator"]
    assert_one_line_error(
        await cli(*second, "--password", PASSWORD), "--as EMAIL or PORTAL_OPERATOR"
    )
    # refused before the password is asked for
    assert_one_line_error(await cli(*second), "--as EMAIL or PORTAL_OPERATOR")
    made = await cli(*second, "--password", PASSWORD, "--as", "first@staff.example")
    assert made.exit_code == 0, made.stderr
    event = await latest_event(session, "staff.created")
    assert (event.actor_type, event.actor_id) == ("staff", uuid.UUID(first.stdout.strip()))
    assert await session.scalar(select(func.count()).select_from(StaffUser)) == 2


async def test_console_actions_appear_in_the_staff_activity_export(
    cli_env: dict, session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    world = await world_of(session, settings)
    placed = await cli(
        "hold", "place", "--user", str(world.employer.id), "--reason", "charge", "--case", "C-2"
    )
    assert placed.exit_code == 0, placed.stderr
    made = await cli(
        "staff", "create", "--email", "mod2@staff.example", "--role", "moderator",
        "--password", PASSWORD,
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    report = await cli(
        "audit", "report", str(world.thread_id), "-o", str(tmp_path / "r.json"),
        "--as", world.officer.email,
    )  # fmt: skip
    assert report.exit_code == 0, report.stderr

    start, end = period()
    # An export is recorded once its file is complete: the first shows in the second.
    for name in ("first.json", "activity.json"):
        exported = await cli(
            "audit", "staff-activity", "--from", start, "--to", end, "--format", "json",
            "-o", str(tmp_path / name),
        )  # fmt: skip
        assert exported.exit_code == 0, exported.stderr
    events = json.loads((tmp_path / "activity.json").read_bytes())["events"]
    console = [
        (e["action"], e["actor_type"], e["actor_id"], e["details"].get("operator"))
        for e in events
        if e["actor_type"] == "system" or e["action"] == "report.exported"
    ]
    assert console == [
        ("hold.placed", "system", None, "console"),
        ("staff.created", "system", None, "console"),
        ("report.exported", "staff", str(world.officer.id), None),
        ("staff_activity.exported", "system", None, "console"),
    ]
    # What the services did as the system, with no one at the console, is not staff activity.
    system_made = await session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.actor_type == "system", AuditEvent.action == "staff.created")
    )
    assert system_made == 3  # the world's two and the console's one
