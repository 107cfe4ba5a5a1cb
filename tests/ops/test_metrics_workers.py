"""`portal serve --workers 2`: whichever worker answers a scrape, /metrics counts every
worker's requests (prometheus_client's multiprocess mode in the directory `portal serve` sets
up)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.ops.test_metrics import BEARER, TOKEN, samples, total

REQUESTS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_two_workers_report_the_same_counters(database_url: str, tmp_path: Path) -> None:
    port = _free_port()
    shared = tmp_path / "multiproc"
    shared.mkdir()
    (shared / "counter_999999.db").write_bytes(b"stale")  # an earlier run's: removed at start
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")},
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_VAR_DIR": str(tmp_path),
        "PORTAL_JWT_SECRET": "w" * 40,
        "PORTAL_SESSION_SECRET": "s" * 40,
        "PORTAL_METRICS_TOKEN": TOKEN,
        "PORTAL_EMAIL_WORKER_IN_SERVE": "false",
        "PORTAL_ACCESS_LOG": "false",
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/health/live", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "portal serve did not answer in 30 s"
                time.sleep(0.1)
        # each on a connection of its own, so that the kernel spreads them over the workers;
        # on until both workers have answered some (the second may start a little later)
        sent = 1
        deadline = time.monotonic() + 30

        def writers() -> set[str]:
            return {path.stem.rsplit("_", 1)[-1] for path in shared.glob("counter_*.db")}

        while sent < REQUESTS or len(writers() - {"999999"}) < 2:
            assert time.monotonic() < deadline, f"one worker answered everything: {writers()}"
            assert httpx.get(f"{url}/health/live", timeout=5).status_code == 200
            sent += 1
        assert "999999" not in writers()  # an earlier run's file is gone
        counts = []
        for _ in range(8):
            response = httpx.get(f"{url}/metrics", headers=BEARER, timeout=5)
            assert response.status_code == 200
            found = samples(response.text)
            counts.append(total(found, "portal_requests_total", path="/health/live"))
        assert counts == [sent] * len(counts)
    finally:
        process.terminate()
        process.wait(timeout=15)
