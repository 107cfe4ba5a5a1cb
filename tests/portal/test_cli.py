"""The ``portal`` command: what it prints, and one clear line on stderr for every bad input."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from portal.database import create_engine
from portal.models import StaffUser, User
from portal.passwords import verify_password
from portal.settings import get_settings
from portal.tokens import PROVISIONING_SCOPE, decode_token
from server.cli import main
from tests.conftest import TEST_JWT_SECRET

UUID_LINE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$")


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    env = {
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_VAR_DIR": str(tmp_path),
        "PORTAL_JWT_SECRET": TEST_JWT_SECRET,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("portal: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def _count(url: str, model: type) -> int:
    async def count() -> int:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.scalar(select(func.count()).select_from(model))
        finally:
            await engine.dispose()

    return asyncio.run(count())


def _create_user(email: str, role: str) -> str:
    result = run("users", "create", "--email", email, "--name", email.split("@")[0], "--role", role)
    assert result.exit_code == 0, result.stderr
    assert UUID_LINE.match(result.stdout)
    return result.stdout.strip()


def test_users_create_and_its_errors(cli_env: dict) -> None:
    _create_user("ada@example.com", "employer")
    assert _count(cli_env["PORTAL_DATABASE_URL"], User) == 1
    assert_one_line_error(
        run("users", "create", "--email", "ada@example.com", "--name", "A", "--role", "employer"),
        "already exists",
    )
    assert_one_line_error(
        run("users", "create", "--email", "b@example.com", "--name", "B", "--role", "boss"),
        "role",
        "boss",
    )
    assert_one_line_error(
        run("users", "create", "--email", "not-an-email", "--name", "B", "--role", "candidate"),
        "email",
    )
    assert _count(cli_env["PORTAL_DATABASE_URL"], User) == 1


def test_applications_create_and_its_errors(cli_env: dict) -> None:
    employer = _create_user("boss@example.com", "employer")
    candidate = _create_user("cand@example.com", "candidate")
    result = run(
        "applications", "create", "--employer", employer, "--candidate", candidate, "--title", "Dev"
    )
    assert result.exit_code == 0, result.stderr
    assert UUID_LINE.match(result.stdout)
    swapped = run(
        "applications", "create", "--employer", candidate, "--candidate", employer, "--title", "Dev"
    )
    assert_one_line_error(swapped, "employer")
    unknown = str(uuid.uuid4())
    assert_one_line_error(
        run(
            "applications",
            "create",
            "--employer",
            unknown,
            "--candidate",
            candidate,
            "--title",
            "X",
        ),
        unknown,
        "does not exist",
    )
    assert_one_line_error(
        run(
            "applications", "create", "--employer", "nope", "--candidate", candidate, "--title", "X"
        ),
        "not a UUID",
    )


async def test_token_is_accepted_by_the_api(cli_env: dict, client: httpx.AsyncClient) -> None:
    user_id = await asyncio.to_thread(_create_user, "ada@example.com", "candidate")
    result = await asyncio.to_thread(run, "token", user_id, "--ttl", "120")
    assert result.exit_code == 0, result.stderr
    token = result.stdout.strip()
    claims = decode_token(get_settings(), token)
    assert claims["sub"] == user_id
    assert claims["exp"] - claims["iat"] == 120
    response = await client.get(
        "/api/v1/messages/unread-count", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200


async def test_service_token_is_accepted_for_provisioning(
    cli_env: dict, client: httpx.AsyncClient
) -> None:
    result = await asyncio.to_thread(run, "token", "--service")
    assert result.exit_code == 0, result.stderr
    token = result.stdout.strip()
    assert decode_token(get_settings(), token)["scope"] == PROVISIONING_SCOPE
    response = await client.put(
        f"/api/v1/users/{uuid.uuid4()}",
        json={"email": "new@example.com", "display_name": "New", "role": "employer"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201


def test_token_errors(cli_env: dict) -> None:
    unknown = str(uuid.uuid4())
    assert_one_line_error(run("token", unknown), unknown, "does not exist")
    assert_one_line_error(run("token", "nope"), "not a UUID")
    assert_one_line_error(run("token"), "USER_ID")


def test_staff_create_with_password_and_prompt(cli_env: dict) -> None:
    url = cli_env["PORTAL_DATABASE_URL"]
    result = run(
        "staff",
        "create",
        "--email",
        "mod@example.com",
        "--role",
        "moderator",
        "--password",
        "correct horse battery",
    )
    assert result.exit_code == 0, result.stderr
    assert UUID_LINE.match(result.stdout)
    prompted = run(
        "staff",
        "create",
        "--email",
        "officer@example.com",
        "--role",
        "compliance",
        input="another long password\nanother long password\n",
    )
    assert prompted.exit_code == 0, prompted.stderr
    assert UUID_LINE.match(prompted.stdout.splitlines()[-1] + "\n")

    async def stored() -> dict[str, tuple[str, str]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(StaffUser.email, StaffUser.role, StaffUser.password_hash)
                )
                return {email: (role, hashed) for email, role, hashed in rows}
        finally:
            await engine.dispose()

    staff = asyncio.run(stored())
    assert staff["mod@example.com"][0] == "moderator"
    assert staff["mod@example.com"][1].startswith("$argon2id$")
    assert verify_password(staff["officer@example.com"][1], "another long password")

    assert_one_line_error(
        run(
            "staff",
            "create",
            "--email",
            "mod@example.com",
            "--role",
            "moderator",
            "--password",
            "correct horse battery",
        ),
        "already exists",
    )
    assert_one_line_error(
        run(
            "staff",
            "create",
            "--email",
            "x@example.com",
            "--role",
            "god",
            "--password",
            "correct horse battery",
        ),
        "role",
    )
    assert_one_line_error(
        run(
            "staff", "create", "--email", "x@example.com", "--role", "admin", "--password", "short"
        ),
        "password",
    )
    assert _count(url, StaffUser) == 2


@pytest.mark.parametrize("backend", ["sqlite"])
def test_unreachable_database_is_one_line(cli_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PORTAL_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"
    )
    get_settings.cache_clear()
    assert_one_line_error(
        run("users", "create", "--email", "a@example.com", "--name", "A", "--role", "employer"),
        "database unreachable",
    )
    assert_one_line_error(run("db", "upgrade"), "database unreachable")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_unmigrated_database_says_to_upgrade(
    cli_env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'new.sqlite3'}")
    get_settings.cache_clear()
    assert_one_line_error(
        run("users", "create", "--email", "a@example.com", "--name", "A", "--role", "employer"),
        "portal db upgrade",
    )


def test_db_upgrade_and_downgrade_commands(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert run("db", "upgrade").exit_code == 0
        assert _count(empty_database_url, User) == 0
        assert run("db", "downgrade", "base").exit_code == 0
        assert_one_line_error(run("db", "downgrade", "nonsense"), "nonsense")
        assert run("db", "upgrade").exit_code == 0
        assert _count(empty_database_url, User) == 0
    finally:
        get_settings.cache_clear()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_serve_answers_health(cli_env: dict) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
        env={**os.environ, **cli_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, "portal serve exited"
                assert time.monotonic() < deadline, "portal serve did not answer in 20 s"
                time.sleep(0.1)
        assert response.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/schema/openapi.json").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _table_counts(url: str) -> dict[str, int]:
    from portal.models import Base

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return {
                name: await connection.scalar(select(func.count()).select_from(table))
                for name, table in Base.metadata.tables.items()
            }
    finally:
        await engine.dispose()


def test_demo_seeds_once_and_prints_logins(cli_env: dict) -> None:
    url = cli_env["PORTAL_DATABASE_URL"]
    first = run("demo")
    assert first.exit_code == 0, first.stderr
    assert "seeded" in first.stdout
    assert "moderator@demo.example" in first.stdout
    token = re.search(r"^\s+(eyJ[\w-]+\.[\w-]+\.[\w-]+)$", first.stdout, re.MULTILINE)
    assert token is not None
    assert decode_token(get_settings(), token.group(1))["sub"]
    seeded = asyncio.run(_table_counts(url))
    for table in (
        "users",
        "applications",
        "message_threads",
        "messages",
        "flag_reports",
        "message_blocklist",
        "rate_limit_violations",
        "staff_users",
    ):
        assert seeded[table] > 0, table

    second = run("demo")
    assert second.exit_code == 0, second.stderr
    assert "already present" in second.stdout
    assert "moderator@demo.example" in second.stdout
    assert asyncio.run(_table_counts(url)) == seeded
