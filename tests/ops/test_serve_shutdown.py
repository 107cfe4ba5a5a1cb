"""`portal serve` stopped (SIGTERM) while an event stream is open: the stream is cut after the
grace period and the app's own shutdown still runs (its loops stop, its pools close) before the
process exits. Granian, measured against uvicorn in `make bench`, kills a worker whose stream is
still open at the end of the grace period, so the app's shutdown never runs there: one reason
uvicorn stays the default (server/granian_serve.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from portal.database import create_engine, create_sessionmaker
from portal.settings import Settings
from portal.tokens import issue_user_token
from server.cli import SHUTDOWN_GRACE_SECONDS
from tests.conftest import POSTGRES_URL, TEST_JWT_SECRET, PostgresPool, as_runtime_role
from tests.portal.moderation_support import user

pytestmark = pytest.mark.xdist_group("serve-shutdown")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """`portal serve` (its default server) on ``port``, answering, its output in ``log``."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1)
            return process
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise AssertionError("portal serve did not answer:\n" + log.read_text()) from None
            time.sleep(0.1)


async def test_sigterm_with_an_open_stream_cuts_it_and_runs_the_apps_shutdown(
    postgres_pool: PostgresPool, tmp_path: Path
) -> None:
    name = postgres_pool.acquire()
    try:
        database_url = as_runtime_role(POSTGRES_URL.rsplit("/", 1)[0] + "/" + name)
        settings = Settings(database_url=database_url, jwt_secret=TEST_JWT_SECRET)
        engine = create_engine(database_url)
        async with create_sessionmaker(engine)() as session:
            candidate = await user(session, "candidate")
        await engine.dispose()
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")},
            "PORTAL_DATABASE_URL": database_url,
            "PORTAL_VAR_DIR": str(tmp_path),
            "PORTAL_JWT_SECRET": TEST_JWT_SECRET,
            "PORTAL_SESSION_SECRET": "test-session-" + "y" * 40,
            "PORTAL_ACCESS_LOG": "0",
        }
        log = tmp_path / "serve.log"
        process = _serve(env, port, log)
        try:
            base = f"http://127.0.0.1:{port}"
            token = issue_user_token(settings, candidate.id)
            headers = {"Authorization": f"Bearer {token}"}
            async with (
                httpx.AsyncClient(base_url=base, timeout=60) as client,
                client.stream("GET", "/api/v1/events", headers=headers) as stream,
            ):
                assert stream.status_code == 200
                chunks = stream.aiter_bytes()
                assert b"connected" in await anext(chunks)
                process.send_signal(signal.SIGTERM)
                stopping = time.monotonic()
                with pytest.raises(httpx.HTTPError):  # the server cuts the stream
                    async for _ in chunks:
                        pass
                process.wait(timeout=SHUTDOWN_GRACE_SECONDS + 30)
                assert time.monotonic() - stopping < SHUTDOWN_GRACE_SECONDS + 30
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        text = log.read_text()
        # uvicorn ends by re-raising the signal it was stopped with, once it has shut down.
        assert process.returncode in (0, -signal.SIGTERM), text
        # The app's lifespan ended: uvicorn says so only once the app has answered its
        # lifespan.shutdown. (Not the email loop's own "stopped" line: in one CI run it was
        # missing from the output although the shutdown completed.)
        assert "Application shutdown complete" in text, text
    finally:
        postgres_pool.release(name)
