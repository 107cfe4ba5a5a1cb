"""Where a request comes from: the client address (X-Forwarded-For only from trusted proxies,
in the app and in `portal serve`) and the Host it names (only the configured hosts)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.connection import ASGIConnection
from litestar.testing import AsyncTestClient

from portal.client_address import client_address
from portal.services import sign_in_throttle
from portal.settings import Settings, SettingsError, get_settings, load_settings
from server.app import create_app
from tests.admin.support import CSRF_COOKIE
from tests.admin.test_sign_in_attacks import clear_of_window_edge
from tests.conftest import TEST_JWT_SECRET, no_database, settings_with
from tests.portal.moderation_support import PASSWORD, staff


def _connection(peer: str, *forwarded: str) -> ASGIConnection[Any, Any, Any, Any]:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    scope = {"type": "http", "client": (peer, 40000), "headers": headers, "path": "/"}
    return ASGIConnection(scope=scope)  # type: ignore[arg-type]


def _networks(*values: str) -> tuple[str, ...]:
    return tuple(str(ipaddress.ip_network(value)) for value in values)


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    # no trusted proxy: the header is the client's own words, even from localhost
    assert client_address(_connection("127.0.0.1", "203.0.113.5"), ()) == "127.0.0.1"
    untrusted = _connection("198.51.100.7", "203.0.113.5")
    assert client_address(untrusted, _networks("10.0.0.0/8")) == "198.51.100.7"
    # through trusted proxies: the right-most address that is not one of them
    chain = _connection("10.0.0.2", "6.6.6.6, 203.0.113.5, 10.0.0.9")
    assert client_address(chain, _networks("10.0.0.0/8")) == "203.0.113.5"
    two_headers = _connection("127.0.0.1", "6.6.6.6", "203.0.113.5")
    assert client_address(two_headers, _networks("127.0.0.1/32")) == "203.0.113.5"
    # something that is not an address stops the walk: nothing left of it is believed
    garbage = _connection("127.0.0.1", "203.0.113.5, not-an-ip")
    assert client_address(garbage, _networks("127.0.0.1/32")) == "127.0.0.1"
    assert client_address(_connection("127.0.0.1"), _networks("127.0.0.1/32")) == "127.0.0.1"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("PORTAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()


@pytest.mark.usefixtures("clean_environment")
def test_trusted_proxies_and_allowed_hosts_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings()
    assert defaults.trusted_proxies == ()
    assert defaults.allowed_hosts == ("127.0.0.1", "localhost")
    monkeypatch.setenv("PORTAL_BASE_URL", "https://Portal.Example.com:8443/")
    monkeypatch.setenv("PORTAL_TRUSTED_PROXIES", " 10.0.0.0/8, 127.0.0.1 ,::1")
    configured = load_settings()
    assert configured.allowed_hosts == ("127.0.0.1", "localhost", "portal.example.com")
    assert configured.trusted_proxies == _networks("10.0.0.0/8", "127.0.0.1/32", "::1/128")
    monkeypatch.setenv("PORTAL_ALLOWED_HOSTS", "portal.example.com, [::1]")
    assert load_settings().allowed_hosts == ("portal.example.com", "::1")
    for name, bad, named in (
        ("PORTAL_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal", "proxy.internal"),
        ("PORTAL_ALLOWED_HOSTS", "https://portal.example.com", "https://portal.example.com"),
        ("PORTAL_ALLOWED_HOSTS", "portal.example.com:8443", "portal.example.com:8443"),
    ):
        monkeypatch.setenv(name, bad)
        with pytest.raises(SettingsError, match=name) as caught:
            load_settings()
        assert named in str(caught.value)
        monkeypatch.delenv(name)


@no_database
async def test_only_the_configured_hosts_are_answered(settings: Settings) -> None:
    app = create_app(settings_with(settings, allowed_hosts=("portal.example.com",)))
    async with AsyncTestClient(app=app, base_url="http://evil.example") as client:
        for path in (
            "/admin",
            "/admin/",
            "/mod/login",
            "/api/v1/messages/threads/00000000-0000-0000-0000-000000000000",
            "/schema",
        ):
            answer = await client.get(path, follow_redirects=False)
            assert answer.status_code == 400, path
            assert "evil.example" not in answer.headers.get("location", ""), path
            assert "invalid host" in answer.text
        # probes address a pod by its IP
        assert (await client.get("/health/live")).status_code == 200
    async with AsyncTestClient(app=app, base_url="http://portal.example.com:8443") as client:
        answer = await client.get("/admin", follow_redirects=False)
        assert answer.status_code in (303, 307), answer.status_code
        assert answer.headers["location"].startswith(("/", "http://portal.example.com:8443/"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("backend", ["sqlite"])
def test_served_forwarded_for_from_localhost_does_not_reset_the_count(
    database_url: str, tmp_path: Path
) -> None:
    """`portal serve` itself (uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told not to):
    a client on this host naming a new address on every attempt is still one address, and
    reaches the address's ceiling across accounts."""
    accounts = asyncio.run(_make_staff(database_url, 11))
    asyncio.run(clear_of_window_edge(60))
    per_account = sign_in_throttle.MAX_FAILURES_PER_ADDRESS // 10
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")},
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_VAR_DIR": str(tmp_path),
        "PORTAL_JWT_SECRET": TEST_JWT_SECRET,
        "PORTAL_EMAIL_WORKER_IN_SERVE": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/health/live", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, "portal serve exited"
                assert time.monotonic() < deadline, "portal serve did not answer in 20 s"
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=30) as client:
            client.get("/mod/login")
            token = client.cookies[CSRF_COOKIE]
            codes = []
            for i, email in enumerate(accounts[:10]):
                for j in range(per_account):
                    answer = client.post(
                        "/mod/login",
                        data={"_csrf_token": token, "email": email, "password": "wrong"},
                        headers={"x-forwarded-for": f"203.0.{i}.{j}"},
                    )
                    codes.append(answer.status_code)
            assert codes == [401] * per_account * 10
            answer = client.post(
                "/mod/login",
                data={"_csrf_token": token, "email": accounts[10], "password": PASSWORD},
                headers={"x-forwarded-for": "203.0.113.99"},
            )
            assert answer.status_code == 429
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _make_staff(database_url: str, count: int) -> list[str]:
    from portal.database import create_engine, create_sessionmaker

    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return [(await staff(session, "moderator")).email for _ in range(count)]
    finally:
        await engine.dispose()
