"""The compliance audit report of the bench's long thread (10,000 messages at full scale), as
JSON and as PDF, for `make bench`: each export in a fresh child process of bench/pdf_export.py
(its wall time, CPU time and peak memory growth), a few times each, on the bench database as
the app's runtime role."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from bench.path_rows import Row

ROOT = Path(__file__).resolve().parent.parent


def export_once(database_url: str, thread_id: uuid.UUID, fmt: str) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "bench.pdf_export", "--database", database_url,
        "--export-one", fmt, "--thread", str(thread_id),
    ]  # fmt: skip
    # The child builds its own test settings; the bench's production ones stay out of it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    child = subprocess.run(
        command, cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=600
    )
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


def row(fmt: str, messages: int, runs: list[dict[str, Any]]) -> Row:
    walls = [r["seconds"] * 1000 for r in runs]
    cpu = statistics.median(r["cpu_seconds"] for r in runs)
    rss = max(r["rss_growth_mb"] for r in runs)
    size = runs[0]["bytes"] / 2**20
    return Row(
        f"compliance export {fmt.upper()} ({messages:,}-message thread)",
        p50_ms=statistics.median(walls),
        worst_ms=max(walls),
        note=f"{len(runs)} runs; CPU {cpu:.1f} s, peak RSS +{rss:.1f} MB, {size:.1f} MB out",
    )


def measure(database_url: str, thread_id: uuid.UUID, messages: int, runs: int) -> list[Row]:
    rows = []
    for fmt in ("json", "pdf"):
        results = [export_once(database_url, thread_id, fmt) for _ in range(runs)]
        rows.append(row(fmt, messages, results))
        print(
            f"  export {fmt:<7} median {rows[-1].p50_ms or 0:8.0f} ms, "
            f"{results[0]['bytes'] / 2**20:.1f} MB",
            flush=True,
        )
    return rows
