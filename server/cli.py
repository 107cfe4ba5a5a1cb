"""The ``portal`` console command.

Each command prints what it made on stdout. Bad input or an unreachable database gives one line
on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from alembic.util import CommandError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import Actor
from portal.database import create_engine, create_sessionmaker
from portal.database_roles import RuntimeRoleError
from portal.errors import Forbidden, NotFound, PortalError
from portal.permissions import Capability
from portal.settings import Settings, SettingsError, get_settings
from portal.tokens import TokenError

if TYPE_CHECKING:
    from litestar import Litestar

    from portal.services.transparency import Period

T = TypeVar("T")
DEFAULT_VERIFY_MAX_BYTES = 1024**3


def fail(message: str) -> NoReturn:
    click.echo(f"portal: error: {message}", err=True)
    sys.exit(1)


def _database_problem(exc: DBAPIError) -> str:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if "no such table" in first_line or (
        "does not exist" in first_line and "relation" in first_line
    ):
        return f"the database has no schema yet ({first_line}); run 'portal db upgrade'"
    if isinstance(exc, OperationalError):
        return f"database unreachable: {first_line}"
    return f"database error: {first_line}"


def handles_errors(command: Callable[..., T]) -> Callable[..., T]:
    """Turns the errors a user can cause into one line on stderr and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return command(*args, **kwargs)
        except PortalError as exc:
            fail(exc.detail)
        except (SettingsError, TokenError, RuntimeRoleError) as exc:
            fail(str(exc))
        except CommandError as exc:
            fail(str(exc).splitlines()[0])
        except (OperationalError, ProgrammingError, DBAPIError) as exc:
            fail(_database_problem(exc))
        except OSError as exc:
            fail(f"{exc.strerror or exc}")

    return wrapper


def settings() -> Settings:
    return get_settings()


def run_with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine(settings().database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def parse_id(field: str, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{field}: {value!r} is not a UUID")


# Every command that changes or exports something names its operator: ``--as EMAIL`` or
# ``PORTAL_OPERATOR``, an active staff account allowed the command's capability
# (``portal.permissions``), recorded as the actor of its audit events (so it appears in the staff
# activity export). Production refuses to run without one; elsewhere the actor is the system
# with ``details.operator = "console"`` (``Actor.console()``). The services check it again.


def act_as(capability: Capability) -> Callable[[Callable[..., T]], Callable[..., T]]:
    roles = " or ".join(permissions.roles_for(capability))
    return click.option(
        "--as",
        "as_email",
        metavar="EMAIL",
        help=f"The staff account ({roles}) this is done as; recorded in the audit "
        "log. Default: PORTAL_OPERATOR. Required in production.",
    )


async def _operator(
    session: AsyncSession,
    as_email: str | None,
    capability: Capability,
    *,
    bootstrap: bool = False,
) -> Actor:
    """The actor of a console command: the named staff account, allowed ``capability``.

    With ``bootstrap`` (creating staff), no operator is needed while there is no staff account
    at all: someone has to create the first one.
    """
    from portal.models import StaffUser

    no_staff_yet = bootstrap and await session.scalar(select(StaffUser.id).limit(1)) is None
    if no_staff_yet and as_email is None:  # even with PORTAL_OPERATOR set: it cannot exist yet
        return _console(capability)
    named_by = "--as" if as_email else "PORTAL_OPERATOR"
    email = as_email or settings().operator
    roles = " or ".join(permissions.roles_for(capability))
    if email is None:
        if settings().environment == "production":
            raise Forbidden(
                "name the operator with --as EMAIL or PORTAL_OPERATOR (a staff account with "
                f"the role {roles}); required when PORTAL_ENV=production"
            )
        return _console(capability)
    staff = await session.scalar(select(StaffUser).where(StaffUser.email == email.lower()))
    if staff is None or not staff.is_active:
        raise NotFound(f"{named_by}: no active staff account {email}")
    if not permissions.may(staff, capability):
        raise Forbidden(f"{named_by}: {email} is a {staff.role}; {roles} required")
    return permissions.audit_actor(staff)


def _console(capability: Capability) -> Actor:
    """The unnamed operator at the console, if the console may do ``capability``."""
    permissions.require(Actor.console(), capability)
    return Actor.console()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Employer–candidate messaging with a moderation and compliance portal."""


def log_to_stderr() -> None:
    """For the long-running commands: the portal's own INFO lines (email delivery) on stderr."""
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    logging.getLogger("portal").setLevel(logging.INFO)


@main.group()
def db() -> None:
    """Schema migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@handles_errors
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: head) as the schema's owner
    (PORTAL_MIGRATION_DATABASE_URL), then create the app's role (PORTAL_DATABASE_URL) if it is
    missing and grant it what it uses."""
    from portal import migrate
    from portal.settings import make_database_directory, write_development_secrets

    config = settings()
    make_database_directory(config)  # the embedded mode's files are made here, on purpose
    role = migrate.upgrade_database(config.owner_database_url, config.database_url, revision)
    click.echo(f"database at {revision}")
    for path in write_development_secrets(config):
        click.echo(f"kept a development secret in {path}")
    if role.skipped_reason is None:
        created = "created and granted" if role.created else "granted"
        click.echo(f"runtime role {role.role}: {created} what the app uses")
    elif not config.is_sqlite:
        click.echo(f"warning: {role.skipped_reason}", err=True)


@db.command("downgrade")
@click.argument("revision")
@handles_errors
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' empties it)."""
    from portal import migrate

    migrate.downgrade(settings().owner_database_url, revision)
    click.echo(f"database at {revision}")


@main.group()
def users() -> None:
    """End users (employers and candidates)."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True, help="Display name.")
@click.option("--role", required=True, help="employer or candidate")
@act_as(Capability.PROVISION)
@handles_errors
def users_create(email: str, display_name: str, role: str, as_email: str | None) -> None:
    """Create a user and print its id."""
    from portal.models import User
    from portal.services.users import create_user

    async def work(session: AsyncSession) -> User:
        actor = await _operator(session, as_email, Capability.PROVISION)
        return await create_user(
            session, email=email, display_name=display_name, role=role, actor=actor
        )

    click.echo(str(run_with_session(work).id))


@main.group()
def applications() -> None:
    """Job applications linking an employer and a candidate."""


@applications.command("create")
@click.option("--employer", required=True, help="The employer's user id.")
@click.option("--candidate", required=True, help="The candidate's user id.")
@click.option("--title", required=True, help="The job title.")
@click.option("--requisition-id", help="The platform's id for the job (its requisition).")
@act_as(Capability.PROVISION)
@handles_errors
def applications_create(
    employer: str, candidate: str, title: str, requisition_id: str | None, as_email: str | None
) -> None:
    """Create an application and print its id."""
    from portal.models import Application
    from portal.services.applications import upsert_application

    employer_id = parse_id("--employer", employer)
    candidate_id = parse_id("--candidate", candidate)

    async def work(session: AsyncSession) -> Application:
        application, _ = await upsert_application(
            session,
            employer_id=employer_id,
            candidate_id=candidate_id,
            job_title=title,
            requisition_id=requisition_id,
            actor=await _operator(session, as_email, Capability.PROVISION),
        )
        return application

    click.echo(str(run_with_session(work).id))


@main.command("settings")
@click.option("--markdown", is_flag=True, help="The table of every setting, as in the docs.")
def settings_command(markdown: bool) -> None:
    """Print every PORTAL_* setting with its default and meaning (without reading them)."""
    from portal.settings import declarations, settings_table_markdown

    if markdown:
        click.echo(settings_table_markdown(), nl=False)
        return
    for declared in declarations():
        click.echo(f"{declared.variable}\t{declared.help}")


@main.command("token")
@click.argument("user_id", required=False)
@click.option("--ttl", type=click.IntRange(min=1), help="Lifetime in seconds.")
@click.option("--service", is_flag=True, help="A provisioning token for the platform's backend.")
@handles_errors
def token(user_id: str | None, ttl: int | None, service: bool) -> None:
    """Print a JWT the API accepts for USER_ID (or, with --service, a provisioning token)."""
    from portal.services.users import get_user
    from portal.tokens import issue_service_token, issue_user_token

    if service:
        if user_id is not None:
            fail("give either USER_ID or --service, not both")
        click.echo(issue_service_token(settings(), ttl))
        return
    if user_id is None:
        fail("USER_ID is required (or --service for a provisioning token)")
    user = run_with_session(lambda session: get_user(session, parse_id("USER_ID", user_id)))
    click.echo(issue_user_token(settings(), user.id, ttl))


@main.group()
def staff() -> None:
    """Staff accounts for the dashboard and the admin panels."""


@staff.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, help="moderator, compliance or admin")
@click.option("--name", "display_name", help="Display name.")
@click.option("--password", help="Prompted for (twice) when not given.")
@act_as(Capability.MANAGE_STAFF)
@handles_errors
def staff_create(
    email: str, role: str, display_name: str | None, password: str | None, as_email: str | None
) -> None:
    """Create a staff account and print its id (the first one needs no operator)."""
    from portal.models import StaffUser
    from portal.services.staff import create_staff

    async def operator(session: AsyncSession) -> Actor:
        return await _operator(session, as_email, Capability.MANAGE_STAFF, bootstrap=True)

    run_with_session(operator)  # refused before a password is asked for
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    checked_password = password

    async def work(session: AsyncSession) -> StaffUser:
        return await create_staff(
            session,
            email=email,
            role=role,
            password=checked_password,
            display_name=display_name,
            actor=await operator(session),
        )

    click.echo(str(run_with_session(work).id))


# How long `portal serve` waits, on shutdown, for open requests (event streams included).
SHUTDOWN_GRACE_SECONDS = 5
WORKER_START_SECONDS = 60


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--server",
    "server_kind",
    type=click.Choice(["uvicorn", "granian"]),
    default="uvicorn",
    show_default=True,
    help="The ASGI server (make bench measures both).",
)
@handles_errors
def serve(host: str, port: int, workers: int, server_kind: str) -> None:
    """Serve the API, the dashboard and the admin panels."""
    import uvicorn

    config = settings()  # a configuration problem is one line here, not a traceback in every worker
    log_to_stderr()
    prepare_metrics_directory(config)
    for name in config.unsaved_secrets:
        # Made up in memory (no `portal db upgrade` kept one): every worker gets this process's.
        os.environ[f"PORTAL_{name.upper()}"] = getattr(config, name)
    if server_kind == "granian":
        from server.granian_serve import run_granian

        run_granian(config, host, port, workers, SHUTDOWN_GRACE_SECONDS)
        return
    uvicorn.run(
        "server.cli:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=config.access_log,
        # X-Forwarded-For/-Proto only from PORTAL_TRUSTED_PROXIES (uvicorn alone trusts 127.0.0.1)
        proxy_headers=bool(config.trusted_proxies),
        forwarded_allow_ips=list(config.trusted_proxies),
        loop=_fastest("uvloop", fallback="asyncio"),
        http=_fastest("httptools", fallback="h11"),
        # An event stream (/api/v1/events, /mod/events) never ends by itself: on shutdown the
        # open ones are cut after this long (their clients reconnect to another process).
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        # A worker must finish starting (imports, the app, its lifespan) within this, or the
        # supervisor kills and restarts it: uvicorn's 5 s made a loaded machine restart workers
        # for ever (seen in `make bench` at a load average of 20 on two cores).
        timeout_worker_healthcheck=WORKER_START_SECONDS,
    )


def prepare_metrics_directory(config: Settings) -> Path:
    """The directory where every worker keeps its Prometheus samples (``/metrics`` adds them
    up): ``PROMETHEUS_MULTIPROC_DIR`` when set, else ``var/metrics``; emptied of an earlier run's
    files, and named in the environment before any worker imports prometheus_client."""
    directory = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or config.var_dir / "metrics")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return directory


def create_served_app() -> Litestar:
    """The app as `portal serve` runs it (uvicorn's factory, in each worker): once started,
    everything built so far (modules, routes, compiled schemas) lives as long as the process, so
    it is frozen out of the collector's sight: a full collection no longer walks it, which took
    tens of milliseconds of a busy worker's event loop at a time."""
    import gc

    from server.app import create_app

    def freeze_startup_objects() -> None:
        gc.collect()
        gc.freeze()

    app = create_app()
    app.on_startup.append(freeze_startup_objects)
    return app


def _fastest(module: str, *, fallback: str) -> str:
    """The C implementation when it is installed (a pinned dependency, absent only on platforms
    without a wheel), else uvicorn's pure-Python one."""
    import importlib.util

    return module if importlib.util.find_spec(module) is not None else fallback


@main.command("worker")
@handles_errors
def worker() -> None:
    """Deliver queued email notifications, and write audit checkpoints (when
    PORTAL_AUDIT_CHECKPOINT_DIR and PORTAL_AUDIT_SIGNING_KEY are set), until interrupted."""
    import signal

    from server.workers import run_checkpoint_loop, run_delivery_loop

    async def run() -> None:
        # Bounded like the app's own engine, so a stuck database cannot hang a delivery claim.
        engine = create_engine(settings().database_url, bounds=settings().database_bounds)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        sessions = create_sessionmaker(engine)
        try:
            await asyncio.gather(
                run_delivery_loop(settings(), sessions, stop),
                run_checkpoint_loop(settings(), sessions, stop),
            )
        finally:
            await engine.dispose()

    log_to_stderr()
    click.echo("delivering email notifications; Ctrl-C to stop", err=True)
    asyncio.run(run())


@main.command("demo")
@handles_errors
def demo() -> None:
    """Seed a small demo world (once) and print how to log in."""
    from portal.demo import seed_demo

    if settings().environment == "production":
        # Its accounts have published passwords; and it acts as the system, naming no operator.
        fail("the demo world is for development; refused when PORTAL_ENV=production")
    result = run_with_session(lambda session: seed_demo(session, settings()))
    click.echo(result.summary(settings()))


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


@main.group()
def audit() -> None:
    """The tamper-evident audit log: reports, verification, checks."""


@audit.command("report")
@click.argument("thread_id")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv", "pdf"]), default="json", show_default=True
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File.")
@act_as(Capability.EXPORT)
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
                actor = await _operator(session, as_email, Capability.EXPORT)
            export = await stream_report(sessions, thread, fmt, actor=actor, settings=settings())
            size = await _save(export.chunks, Path(output))
            return export.head.hash, size
        finally:
            await engine.dispose()

    head, size = asyncio.run(run())
    click.echo(f"wrote {output} ({size} bytes, {fmt}), head {head}")


@audit.command("verify")
@click.argument("file", type=click.Path())
@click.option(
    "--public-key",
    type=click.Path(),
    help="PEM Ed25519 public key the export must be signed with (from 'audit public-key').",
)
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Check an unsigned export, or one signed by a key not given, for integrity only.",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_VERIFY_MAX_BYTES,
    show_default=True,
    help="Refuse a file larger than this.",
)
@click.option(
    "--earlier",
    "earlier_files",
    multiple=True,
    type=click.Path(),
    help="An earlier export of the same thread; its chain must be a prefix of FILE's.",
)
def audit_verify(
    file: str,
    public_key: str | None,
    allow_unsigned: bool,
    max_bytes: int,
    earlier_files: tuple[str, ...],
) -> None:
    """Verify a JSON audit report offline (no database): exit 0 when intact and signed by
    --public-key; 2 when it is not intact; 3 when nothing shows who made it (unsigned, or signed
    by a key not given) and --allow-unsigned was not given. docs/audit-format.md has the rules."""
    from portal.services.compliance.signing import SigningKeyError, load_public_key
    from portal.services.compliance.verify import (
        NotAuthenticated,
        VerificationFailed,
        check_extends,
        read_report_file,
        verify_export,
    )

    try:
        key = load_public_key(read_report_file(public_key, 64 * 1024)) if public_key else None
    except (SigningKeyError, VerificationFailed) as exc:
        fail(f"--public-key: {exc}")
    try:
        data = read_report_file(file, max_bytes)
        verified = verify_export(data, key, require_signature=not allow_unsigned)
        for earlier_file in earlier_files:
            where = f"--earlier {earlier_file}"
            try:
                earlier = verify_export(
                    read_report_file(earlier_file, max_bytes),
                    key,
                    require_signature=not allow_unsigned,
                )
                check_extends(verified, earlier)
            except VerificationFailed as exc:
                raise type(exc)(f"{where}: {exc}") from None
    except NotAuthenticated as exc:
        click.echo(f"FAILED: {exc}", err=True)
        sys.exit(3)
    except VerificationFailed as exc:
        click.echo(f"FAILED: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:
        # Not expected: the verifier names every problem it knows; still one line, no traceback.
        click.echo(f"FAILED: the file cannot be verified ({type(exc).__name__})", err=True)
        sys.exit(2)
    click.echo(f"verified {verified.events} events, head {verified.head}")
    signer = f" ({verified.signer})" if verified.signer else ""
    click.echo(f"signature: {verified.signature}{signer}")
    if verified.unproven_messages:
        click.echo(
            f"note: {verified.unproven_messages} messages predate content digests in the chain"
        )


@audit.command("public-key")
@handles_errors
def audit_public_key() -> None:
    """Print the PEM public key of PORTAL_AUDIT_SIGNING_KEY (its fingerprint on stderr), for the
    recipients of signed exports; they check exports with 'audit verify --public-key'."""
    from portal.services.compliance.signing import fingerprint, load_private_key, public_key_pem

    pem = settings().audit_signing_key
    if pem is None:
        fail("PORTAL_AUDIT_SIGNING_KEY is not set: exports are not signed")
    key = load_private_key(pem)
    click.echo(public_key_pem(key), nl=False)
    click.echo(f"fingerprint: {fingerprint(key)}", err=True)


@audit.command("check")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False),
    help="A signed checkpoint (portal audit checkpoint): every chain must still reach its head.",
)
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False),
    help="PEM Ed25519 public key the checkpoint must be signed with.",
)
@handles_errors
def audit_check(checkpoint_file: str | None, public_key: str | None) -> None:
    """Verify every audit chain in the database, every head an export recorded, and every
    stored message's content against its chain; with --checkpoint, against a signed checkpoint
    too. Exit 2 with "FAILED: ..." lines on stderr when anything does not hold."""
    from portal.services.compliance.checkpoints import CheckpointError, read_checkpoint_file
    from portal.services.compliance.content_integrity import (
        check_message_contents,
        count_messages,
    )
    from portal.services.compliance.file_integrity import check_stored_files, count_files
    from portal.services.compliance.integrity import (
        CheckResult,
        check_all_chains,
        check_exported_heads,
        count_events,
    )
    from portal.services.compliance.signing import SigningKeyError, load_public_key
    from portal.storage import attachment_store

    checkpoint = None
    if checkpoint_file is not None or public_key is not None:
        if checkpoint_file is None or public_key is None:
            fail("--checkpoint and --public-key go together")
        try:
            key = load_public_key(Path(public_key).read_bytes())
        except SigningKeyError as exc:
            fail(f"--public-key: {exc}")
        try:
            checkpoint = read_checkpoint_file(Path(checkpoint_file), key)
        except CheckpointError as exc:
            click.echo(f"FAILED: checkpoint {checkpoint_file}: {exc}", err=True)
            sys.exit(2)

    async def work(session: AsyncSession) -> CheckResult:
        total = (
            await count_events(session) + await count_messages(session) + await count_files(session)
        )
        result = CheckResult()
        with click.progressbar(length=total, label="checking", file=sys.stderr) as bar:
            await check_all_chains(session, bar.update, checkpoint=checkpoint, result=result)
            await check_exported_heads(session, result)
            await check_message_contents(session, result, bar.update)
            await check_stored_files(session, attachment_store(settings()), result, bar.update)
        return result

    result = run_with_session(work)
    for problem in result.problems:
        click.echo(f"FAILED: {problem}", err=True)
    if result.problems:
        sys.exit(2)
    click.echo(f"verified {result.chains} chains, {result.events} events")
    click.echo(f"verified {result.messages} messages' content, {result.exports} exported heads")
    click.echo(f"verified {result.files} stored files against their SHA-256")
    if checkpoint is not None:
        click.echo(f"every chain reaches the checkpoint of {checkpoint.created_at.isoformat()}")
    if result.unproven_messages:
        click.echo(
            f"unproven: {result.unproven_messages} messages predate content digests in the chain"
        )


@audit.command("checkpoint")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File.")
@act_as(Capability.CHECKPOINT)
@handles_errors
def audit_checkpoint(output: str, as_email: str | None) -> None:
    """Write a signed checkpoint of every chain's head (PORTAL_AUDIT_SIGNING_KEY) to a file;
    keep it off the database host."""
    from portal.services.compliance.checkpoints import (
        CheckpointError,
        WrittenCheckpoint,
        write_checkpoint,
    )

    if not settings().audit_signing_key:
        fail("PORTAL_AUDIT_SIGNING_KEY is not set: a checkpoint must be signed to prove anything")

    async def work(session: AsyncSession) -> WrittenCheckpoint:
        actor = await _operator(session, as_email, Capability.CHECKPOINT)
        return await write_checkpoint(
            session, settings(), actor=actor, path_for=lambda _: Path(output)
        )

    try:
        written = run_with_session(work)
    except CheckpointError as exc:
        fail(str(exc))
    click.echo(f"wrote {output} ({written.size} bytes), {written.chains} chains")


@audit.command("staff-activity")
@click.option("--from", "start", required=True, type=click.DateTime(), help="Start (UTC).")
@click.option("--to", "end", required=True, type=click.DateTime(), help="End, excluded (UTC).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@act_as(Capability.EXPORT)
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
                actor = await _operator(session, as_email, Capability.EXPORT)
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


@main.group()
def hold() -> None:
    """Legal holds: nothing they cover can be purged or deleted."""


@hold.command("place")
@click.option("--thread", "thread_id", help="Hold one thread.")
@click.option("--user", "user_id", help="Hold every thread of a user.")
@click.option("--employer", "employer_id", help="With --requisition: the employer.")
@click.option("--requisition", "requisition_id", help="Hold every candidate's threads for a job.")
@click.option("--reason", required=True)
@click.option("--case", "case_reference", required=True, help="The case or charge reference.")
@act_as(Capability.PLACE_HOLD)
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
            actor=await _operator(session, as_email, Capability.PLACE_HOLD),
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
@act_as(Capability.LIFT_HOLD)
@handles_errors
def hold_lift(hold_id: str, reason: str, as_email: str | None) -> None:
    """Lift a legal hold."""
    from portal.services.compliance.holds import lift_hold

    parsed = parse_id("HOLD_ID", hold_id)

    async def work(session: AsyncSession) -> None:
        await lift_hold(
            session,
            parsed,
            actor=await _operator(session, as_email, Capability.LIFT_HOLD),
            reason=reason,
        )

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


@main.group()
def transparency() -> None:
    """The DSA transparency report (Art. 15) and statements of reasons (Art. 24(5))."""


def _transparency_period(start: str, end: str) -> Period:
    from portal.services.transparency import parse_period

    return parse_period(start, end, first_name="--from", last_name="--to")


@transparency.command("report")
@click.option("--from", "start", required=True, metavar="YYYY-MM-DD", help="First day (UTC).")
@click.option("--to", "end", required=True, metavar="YYYY-MM-DD", help="Last day, included.")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File.")
@act_as(Capability.EXPORT)
@handles_errors
def transparency_report(start: str, end: str, fmt: str, output: str, as_email: str | None) -> None:
    """Write the Art. 15 figures of a period (both days included) to a file."""
    from portal.services.transparency import export_report

    period = _transparency_period(start, end)

    async def run() -> int:
        engine = create_engine(settings().database_url)
        try:
            sessions = create_sessionmaker(engine)
            async with sessions() as session:
                actor = await _operator(session, as_email, Capability.EXPORT)
            export = await export_report(sessions, period, fmt, actor=actor)
            return await _save(export.chunks, Path(output))
        finally:
            await engine.dispose()

    size = asyncio.run(run())
    click.echo(f"wrote {output} ({size} bytes, {fmt}), {period.first} to {period.last}")


@transparency.command("statements")
@click.option("--from", "start", required=True, metavar="YYYY-MM-DD", help="First day (UTC).")
@click.option("--to", "end", required=True, metavar="YYYY-MM-DD", help="Last day, included.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File.")
@act_as(Capability.EXPORT)
@handles_errors
def transparency_statements(start: str, end: str, output: str, as_email: str | None) -> None:
    """Write a period's statements of reasons as Transparency Database API bodies (JSON:
    batches of at most 100, each the body of one POST /api/v1/statements)."""
    from portal.services.transparency import export_statements

    period = _transparency_period(start, end)

    async def run() -> tuple[int, int]:
        engine = create_engine(settings().database_url)
        try:
            sessions = create_sessionmaker(engine)
            async with sessions() as session:
                actor = await _operator(session, as_email, Capability.EXPORT)
            export = await export_statements(sessions, period, actor=actor)
            return export.count, await _save(export.chunks, Path(output))
        finally:
            await engine.dispose()

    count, size = asyncio.run(run())
    click.echo(
        f"wrote {output} ({size} bytes), {count} statements, {period.first} to {period.last}"
    )


@main.group()
def retention() -> None:
    """The retention policy (PORTAL_RETENTION_DAYS)."""


@retention.command("purge")
@click.option("--dry-run", is_flag=True, help="Show what would be purged; change nothing.")
@act_as(Capability.PURGE)
@handles_errors
def retention_purge(dry_run: bool, as_email: str | None) -> None:
    """Purge message bodies of expired, unheld threads, leaving a tombstone per message.

    The dry run lists each thread it would purge ("purge<TAB>thread id") and each hold that
    keeps expired threads ("keep<TAB>hold id<TAB>scope<TAB>case<TAB>thread ids")."""
    from portal.services.compliance.retention import plan_purge, purge_expired

    days = settings().retention_days

    async def work(session: AsyncSession) -> str:
        if dry_run:
            plan = await plan_purge(session, days)
            lines = [
                f"would purge {plan.messages} messages in {len(plan.threads)} threads inactive "
                f"or deleted before {plan.cutoff:%Y-%m-%d}; {len(plan.held_threads)} held "
                f"threads kept (PORTAL_RETENTION_DAYS={days})",
                *(f"purge\t{thread_id}" for thread_id in plan.threads),
                *(
                    f"keep\t{hold.hold_id}\t{hold.scope}\t{hold.case_reference}\t"
                    + ",".join(str(t) for t in hold.thread_ids)
                    for hold in plan.holds
                ),
            ]
            return "\n".join(lines)
        actor = await _operator(session, as_email, Capability.PURGE)
        plan = await plan_purge(session, days)
        with click.progressbar(length=len(plan.threads), label="purging", file=sys.stderr) as bar:
            result = await purge_expired(session, days, actor=actor, progress=bar.update)
        released = (
            f"; {len(result.released_holds)} EEOC charge holds released (final disposition passed)"
            if result.released_holds
            else ""
        )
        return (
            f"purged {result.messages} messages in {result.threads} threads; "
            f"{len(result.held_threads)} held threads kept{released}"
        )

    click.echo(run_with_session(work))


if __name__ == "__main__":
    main()
