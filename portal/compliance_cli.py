"""The compliance commands of ``portal``: ``audit``, ``hold`` and ``retention``.

``--as EMAIL`` attributes an action to a staff account (compliance or admin) in the audit log;
without it the actor is the system (the operator at the console).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.cli import fail, handles_errors, parse_id, run_with_session, settings
from portal.database import create_engine, create_sessionmaker
from portal.errors import Forbidden, NotFound
from portal.models import StaffUser

COMPLIANCE_ROLES = ("compliance", "admin")
act_as = click.option(
    "--as",
    "as_email",
    metavar="EMAIL",
    help="The staff account (compliance or admin) this is done as; recorded in the audit log.",
)


async def _actor(session: AsyncSession, email: str | None) -> Actor:
    if email is None:
        return Actor.system()
    staff = await session.scalar(select(StaffUser).where(StaffUser.email == email.lower()))
    if staff is None or not staff.is_active:
        raise NotFound(f"--as: no active staff account {email}")
    if staff.role not in COMPLIANCE_ROLES:
        raise Forbidden(f"--as: {email} is a {staff.role}; compliance or admin required")
    return Actor.staff(staff.id)


async def _save(chunks: AsyncIterator[bytes], path: Path) -> int:
    size = 0
    temporary = path.with_name(path.name + ".part")
    try:
        with temporary.open("wb") as out:
            async for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return size


@click.group()
def audit() -> None:
    """The tamper-evident audit log: reports, verification, checks."""


@audit.command("report")
@click.argument("thread_id")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv", "pdf"]), default="json", show_default=True
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File.")
@act_as
@handles_errors
def audit_report(thread_id: str, fmt: str, output: str, as_email: str | None) -> None:
    """Export THREAD_ID's audit report to a file (the export is itself audited)."""
    from portal.services.compliance.reports import stream_report

    thread = parse_id("THREAD_ID", thread_id)

    async def run() -> tuple[str, int]:
        engine = create_engine(settings().database_url)
        try:
            sessions = create_sessionmaker(engine)
            async with sessions() as session:
                actor = await _actor(session, as_email)
            export = await stream_report(sessions, thread, fmt, actor=actor, settings=settings())
            size = await _save(export.chunks, Path(output))
            return export.head.hash, size
        finally:
            await engine.dispose()

    head, size = asyncio.run(run())
    click.echo(f"wrote {output} ({size} bytes, {fmt}), head {head}")


@audit.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False),
    help="PEM Ed25519 public key the export must be signed with.",
)
def audit_verify(file: str, public_key: str | None) -> None:
    """Verify a JSON audit report offline (no database): exit 0 when intact."""
    from portal.services.compliance.signing import SigningKeyError, load_public_key
    from portal.services.compliance.verify import VerificationFailed, verify_export

    try:
        key = load_public_key(Path(public_key).read_bytes()) if public_key else None
    except SigningKeyError as exc:
        fail(f"--public-key: {exc}")
    try:
        verified = verify_export(Path(file).read_bytes(), key)
    except VerificationFailed as exc:
        click.echo(f"FAILED: {exc}", err=True)
        sys.exit(2)
    click.echo(f"verified {verified.events} events, head {verified.head}")
    click.echo(f"signature: {verified.signature}")
    if verified.unproven_messages:
        click.echo(
            f"note: {verified.unproven_messages} messages predate content digests in the chain"
        )


@audit.command("check")
@handles_errors
def audit_check() -> None:
    """Verify every audit chain in the database."""
    from portal.services.compliance.integrity import CheckResult, check_all_chains, count_events

    async def work(session: AsyncSession) -> CheckResult:
        total = await count_events(session)
        with click.progressbar(length=total, label="checking", file=sys.stderr) as bar:
            return await check_all_chains(session, progress=bar.update)

    result = run_with_session(work)
    for problem in result.problems:
        click.echo(f"FAILED: {problem}", err=True)
    if result.problems:
        sys.exit(2)
    click.echo(f"verified {result.chains} chains, {result.events} events")


@audit.command("staff-activity")
@click.option("--from", "start", required=True, type=click.DateTime(), help="Start (UTC).")
@click.option("--to", "end", required=True, type=click.DateTime(), help="End, excluded (UTC).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@act_as
@handles_errors
def audit_staff_activity(
    start: datetime, end: datetime, fmt: str, output: str, as_email: str | None
) -> None:
    """Export every staff action in a period."""
    from portal.services.compliance.staff_activity import export_staff_activity

    async def run() -> int:
        engine = create_engine(settings().database_url)
        try:
            sessions = create_sessionmaker(engine)
            async with sessions() as session:
                actor = await _actor(session, as_email)
            export = await export_staff_activity(
                sessions,
                start=start.replace(tzinfo=UTC),
                end=end.replace(tzinfo=UTC),
                fmt=fmt,
                actor=actor,
            )
            return await _save(export.chunks, Path(output))
        finally:
            await engine.dispose()

    size = asyncio.run(run())
    click.echo(f"wrote {output} ({size} bytes, {fmt})")


@click.group()
def hold() -> None:
    """Legal holds: nothing they cover can be purged or deleted."""


@hold.command("place")
@click.option("--thread", "thread_id", help="Hold one thread.")
@click.option("--user", "user_id", help="Hold every thread of a user.")
@click.option("--employer", "employer_id", help="With --requisition: the employer.")
@click.option("--requisition", "requisition_id", help="Hold every candidate's threads for a job.")
@click.option("--reason", required=True)
@click.option("--case", "case_reference", required=True, help="The case or charge reference.")
@act_as
@handles_errors
def hold_place(
    thread_id: str | None,
    user_id: str | None,
    employer_id: str | None,
    requisition_id: str | None,
    reason: str,
    case_reference: str,
    as_email: str | None,
) -> None:
    """Place a legal hold and print its id."""
    from portal.services.compliance.holds import place_hold

    async def work(session: AsyncSession) -> uuid.UUID:
        placed = await place_hold(
            session,
            actor=await _actor(session, as_email),
            reason=reason,
            case_reference=case_reference,
            thread_id=parse_id("--thread", thread_id) if thread_id else None,
            user_id=parse_id("--user", user_id) if user_id else None,
            employer_id=parse_id("--employer", employer_id) if employer_id else None,
            requisition_id=requisition_id,
        )
        return placed.id

    click.echo(str(run_with_session(work)))


@hold.command("lift")
@click.argument("hold_id")
@click.option("--reason", required=True)
@act_as
@handles_errors
def hold_lift(hold_id: str, reason: str, as_email: str | None) -> None:
    """Lift a legal hold."""
    from portal.services.compliance.holds import lift_hold

    parsed = parse_id("HOLD_ID", hold_id)

    async def work(session: AsyncSession) -> None:
        await lift_hold(session, parsed, actor=await _actor(session, as_email), reason=reason)

    run_with_session(work)
    click.echo(f"lifted {parsed}")


@hold.command("list")
@click.option("--all", "include_lifted", is_flag=True, help="Include lifted holds.")
@handles_errors
def hold_list(include_lifted: bool) -> None:
    """List standing (or all) legal holds, one per line."""
    from portal.services.compliance.holds import list_holds

    holds = run_with_session(lambda session: list_holds(session, include_lifted=include_lifted))
    for item in holds:
        target = item.thread_id or item.user_id or f"{item.employer_id}/{item.requisition_id}"
        state = f"lifted {item.lifted_at:%Y-%m-%d}" if item.lifted_at else "standing"
        click.echo(
            f"{item.id}\t{item.scope}\t{target}\t{item.case_reference}\t"
            f"placed {item.placed_at:%Y-%m-%d}\t{state}\t{item.reason}"
        )


@click.group()
def retention() -> None:
    """The retention policy (PORTAL_RETENTION_DAYS)."""


@retention.command("purge")
@click.option("--dry-run", is_flag=True, help="Show what would be purged; change nothing.")
@handles_errors
def retention_purge(dry_run: bool) -> None:
    """Purge message bodies of expired, unheld threads, leaving a tombstone per message."""
    from portal.services.compliance.retention import plan_purge, purge_expired

    days = settings().retention_days

    async def work(session: AsyncSession) -> str:
        if dry_run:
            plan = await plan_purge(session, days)
            return (
                f"would purge {plan.messages} messages in {len(plan.threads)} threads inactive "
                f"or deleted before {plan.cutoff:%Y-%m-%d}; {len(plan.held_threads)} held "
                "threads kept"
            )
        plan = await plan_purge(session, days)
        with click.progressbar(length=len(plan.threads), label="purging", file=sys.stderr) as bar:
            result = await purge_expired(session, days, actor=Actor.system(), progress=bar.update)
        return (
            f"purged {result.messages} messages in {result.threads} threads; "
            f"{len(result.held_threads)} held threads kept"
        )

    click.echo(run_with_session(work))
