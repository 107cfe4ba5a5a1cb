"""wrk over prepared requests, each with headers of its own (the API's bearer token, a staff
session cookie, a sign-in form), through bench/requests.lua, for bench/run.py and the new
paths alike."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.path_rows import Row

LUA = Path(__file__).resolve().parent / "requests.lua"
SEPARATOR = "\x1f"


@dataclass(frozen=True)
class HeaderRequest:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def row(self, label: str, note: str = "") -> Row:
        return Row(label, self.rate, self.p50_ms, self.p99_ms, None, self.errors, note)


def request_line(request: HeaderRequest) -> str:
    headers = SEPARATOR.join(f"{name}: {value}" for name, value in request.headers.items())
    for part in (request.path, headers, request.body):
        if "\t" in part or "\n" in part:
            raise ValueError("a request line cannot hold tabs or newlines")
    return f"{request.method}\t{request.path}\t{headers}\t{request.body}\n"


def command(
    base_url: str, requests_file: Path, seconds: float, threads: int, connections: int
) -> list[str]:
    return [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(LUA), base_url, "--", str(requests_file), str(threads),
    ]  # fmt: skip


def prepare(out_dir: Path, name: str, requests: list[HeaderRequest]) -> tuple[Path, Path]:
    lines = out_dir / f"requests-{name}.tsv"
    lines.write_text("".join(request_line(r) for r in requests))
    result_file = out_dir / f"wrk-{name}.json"
    result_file.unlink(missing_ok=True)
    return lines, result_file


def start(
    base_url: str,
    out_dir: Path,
    name: str,
    requests: list[HeaderRequest],
    *,
    seconds: float,
    threads: int,
    connections: int,
) -> tuple[subprocess.Popen[bytes], Path]:
    """wrk in the background (to drive two workloads at once); :func:`finish` reads it."""
    lines, result_file = prepare(out_dir, name, requests)
    process = subprocess.Popen(
        command(base_url, lines, seconds, threads, connections),
        env={**os.environ, "BENCH_WRK_OUT": str(result_file)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, result_file


def finish(process: subprocess.Popen[bytes], result_file: Path) -> WrkResult:
    if process.wait() != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}")
    return parse(json.loads(result_file.read_text()))


def parse(summary: dict[str, object]) -> WrkResult:
    errors = summary["errors"]
    assert isinstance(errors, dict)
    return WrkResult(
        requests=int(summary["requests"]),  # type: ignore[call-overload]
        seconds=int(summary["duration_us"]) / 1e6,  # type: ignore[call-overload]
        p50_ms=int(summary["p50_us"]) / 1000,  # type: ignore[call-overload]
        p99_ms=int(summary["p99_us"]) / 1000,  # type: ignore[call-overload]
        errors=sum(int(v) for v in errors.values()),
    )


def run(
    base_url: str,
    out_dir: Path,
    name: str,
    requests: list[HeaderRequest],
    *,
    seconds: float,
    threads: int,
    connections: int,
) -> WrkResult:
    process, result_file = start(
        base_url, out_dir, name, requests, seconds=seconds, threads=threads,
        connections=connections,
    )  # fmt: skip
    return finish(process, result_file)
