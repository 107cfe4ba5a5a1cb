"""The ``portal`` console command.

Each command prints what it made on stdout. Bad input or an unreachable database gives one line
on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import click
from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.database import create_engine, create_sessionmaker
from portal.errors import PortalError
from portal.settings import Settings, SettingsError, get_settings
from portal.tokens import TokenError

T = TypeVar("T")


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
        except (SettingsError, TokenError) as exc:
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
    """Migrate the database up to REVISION (default: head)."""
    from portal import migrate

    migrate.upgrade(settings().database_url, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
@handles_errors
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' empties it)."""
    from portal import migrate

    migrate.downgrade(settings().database_url, revision)
    click.echo(f"database at {revision}")


@main.group()
def users() -> None:
    """End users (employers and candidates)."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True, help="Display name.")
@click.option("--role", required=True, help="employer or candidate")
@handles_errors
def users_create(email: str, display_name: str, role: str) -> None:
    """Create a user and print its id."""
    from portal.services.users import create_user

    user = run_with_session(
        lambda session: create_user(
            session, email=email, display_name=display_name, role=role, actor=Actor.system()
        )
    )
    click.echo(str(user.id))


@main.group()
def applications() -> None:
    """Job applications linking an employer and a candidate."""


@applications.command("create")
@click.option("--employer", required=True, help="The employer's user id.")
@click.option("--candidate", required=True, help="The candidate's user id.")
@click.option("--title", required=True, help="The job title.")
@click.option("--requisition-id", help="The platform's id for the job (its requisition).")
@handles_errors
def applications_create(
    employer: str, candidate: str, title: str, requisition_id: str | None
) -> None:
    """Create an application and print its id."""
    from portal.services.applications import upsert_application

    employer_id = parse_id("--employer", employer)
    candidate_id = parse_id("--candidate", candidate)
    application, _ = run_with_session(
        lambda session: upsert_application(
            session,
            employer_id=employer_id,
            candidate_id=candidate_id,
            job_title=title,
            requisition_id=requisition_id,
            actor=Actor.system(),
        )
    )
    click.echo(str(application.id))


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
@handles_errors
def staff_create(email: str, role: str, display_name: str | None, password: str | None) -> None:
    """Create a staff account and print its id."""
    from portal.services.staff import create_staff

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    staff_member = run_with_session(
        lambda session: create_staff(
            session,
            email=email,
            role=role,
            password=password,
            display_name=display_name,
            actor=Actor.system(),
        )
    )
    click.echo(str(staff_member.id))


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@handles_errors
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API, the dashboard and the admin panels."""
    import uvicorn

    settings()  # a configuration problem is one line here, not a traceback in every worker
    log_to_stderr()
    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=True,
    )


@main.command("worker")
@handles_errors
def worker() -> None:
    """Deliver queued email notifications until interrupted."""
    import signal

    from portal.email_delivery import run_delivery_loop

    async def run() -> None:
        engine = create_engine(settings().database_url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await run_delivery_loop(settings(), create_sessionmaker(engine), stop)
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

    result = run_with_session(lambda session: seed_demo(session, settings()))
    click.echo(result.summary(settings()))


from portal.compliance_cli import audit, hold, retention  # noqa: E402

main.add_command(audit)
main.add_command(hold)
main.add_command(retention)

if __name__ == "__main__":
    main()
