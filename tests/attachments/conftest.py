"""Real parts for the attachment tests: a clamd of their own (Debian's clamav-daemon, a temporary
config, a database directory holding one custom signature that matches the EICAR test file: no
signature download is possible here) and a real S3-compatible server (moto in server mode),
each started once per test session; the same tests run over both attachment stores."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from litestar import Litestar

from portal.database import create_engine
from portal.settings import Settings
from server.app import create_app, database_state, readiness_engine_for

# The EICAR anti-virus test file: harmless, and detected by every scanner as if it were a virus.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Portal.Test.EICAR"
REQUIRE_CLAMD = os.environ.get("PORTAL_REQUIRE_CLAMD") == "1"
BUCKET = "portal-test-attachments"
STORES = ["local", "s3"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clamd_binary() -> str | None:
    return shutil.which("clamd") or next(
        (path for path in ("/usr/sbin/clamd", "/usr/local/sbin/clamd") if os.access(path, os.X_OK)),
        None,
    )


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"zPING\0")
            return connection.recv(16).startswith(b"PONG")
    except OSError:
        return False


@dataclass(frozen=True)
class Clamd:
    tcp_url: str  # tcp://127.0.0.1:PORT
    unix_url: str  # unix:///PATH: the same daemon listens on both


@pytest.fixture(scope="session")
def clamd() -> Iterator[Clamd]:
    """A clamd started for this test session, on TCP and on a unix socket."""
    binary = _clamd_binary()
    if binary is None:
        reason = "clamd is not installed (Debian: apt-get install clamav-daemon)"
        if REQUIRE_CLAMD:
            pytest.fail(f"{reason}, and PORTAL_REQUIRE_CLAMD=1 requires it", pytrace=False)
        pytest.skip(reason)
    # Short: a unix socket's path is limited to 107 bytes.
    home = Path(tempfile.mkdtemp(prefix="clamd-"))
    database = home / "db"
    database.mkdir()
    # A hash signature (.hdb): the MD5 and size of the whole file, and the name to report.
    (database / "portal-test.hdb").write_text(
        f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:{EICAR_SIGNATURE}\n"
    )
    port = _free_port()
    config = home / "clamd.conf"
    config.write_text(
        "\n".join(
            [
                "Foreground yes",
                f"DatabaseDirectory {database}",
                "TCPAddr 127.0.0.1",
                f"TCPSocket {port}",
                f"LocalSocket {home / 'clamd.sock'}",
                f"LogFile {home / 'clamd.log'}",
                "StreamMaxLength 30M",
                "",
            ]
        )
    )
    process = subprocess.Popen(
        [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (home / "clamd.log").read_text() if (home / "clamd.log").exists() else ""
                pytest.fail(f"clamd did not start: {log[-2000:]}", pytrace=False)
            time.sleep(0.05)
        yield Clamd(f"tcp://127.0.0.1:{port}", f"unix://{home / 'clamd.sock'}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def clamd_url(clamd: Clamd) -> str:
    return clamd.tcp_url


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    """The endpoint of a moto S3 server started for this test session, with the bucket made."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        server.stop()


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(
    settings: Settings, store_kind: str, clamd_url: str, request: pytest.FixtureRequest
) -> Settings:
    """The usual test settings, with the scanner and this test's attachment store."""
    changes: dict[str, object] = {"clamd_url": clamd_url, "clamd_timeout_seconds": 30}
    if store_kind == "s3":
        changes.update(
            storage_url=request.getfixturevalue("s3_url"),
            storage_bucket=BUCKET,
            storage_access_key_id="test",
            storage_secret_access_key="test",
        )
    return replace(settings, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def attachment_apps() -> dict[tuple[str, str], Litestar]:
    return {}


@pytest.fixture
async def app(
    settings: Settings,
    backend: str,
    store_kind: str,
    attachment_apps: dict[tuple[str, str], Litestar],
) -> AsyncIterator[Litestar]:
    """The app on this test's database, built once per backend and store in this process (the
    store and the scanner are read from the settings in the app's state, swapped per test)."""
    engine = create_engine(settings.database_url, bounds=settings.database_bounds)
    readiness_engine = readiness_engine_for(settings)
    app = attachment_apps.get((backend, store_kind))
    if app is None:
        app = create_app(settings, engine=engine, readiness_engine=readiness_engine)
        attachment_apps[(backend, store_kind)] = app
    else:
        for key, value in database_state(settings, engine, readiness_engine).items():
            app.state[key] = value
        if "sqladmin" in app.state:
            del app.state["sqladmin"]
    try:
        yield app
    finally:
        await engine.dispose()
        await readiness_engine.dispose()


def stored_path(settings: Settings, key: str) -> Path:
    return settings.var_dir / "attachments" / key[:2] / key
