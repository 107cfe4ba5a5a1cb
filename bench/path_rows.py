"""The rows `make bench` prints for its newer paths (staff pages, exports, event delivery,
sign-in): one row per path, in a table of its own under the API table, and the same figures for
``var/bench/latest.json``. Pure formatting and arithmetic, no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

HEADER = "| new path | requests/s | p50 ms | p99 ms | worst ms | errors | notes |"
RULE = "|---|---:|---:|---:|---:|---:|---|"
MISSING = "–"


@dataclass(frozen=True)
class Row:
    """One measured path; ``None`` where a figure does not apply (an export has no rate)."""

    label: str
    rate: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    worst_ms: float | None = None
    errors: int = 0
    note: str = ""


def _number(value: float | None, digits: int) -> str:
    if value is None:
        return MISSING
    return f"{value:,.{digits}f}"


def format_row(row: Row) -> str:
    return (
        f"| {row.label} | {_number(row.rate, 0)} | {_number(row.p50_ms, 1)} | "
        f"{_number(row.p99_ms, 1)} | {_number(row.worst_ms, 1)} | {row.errors} | {row.note} |"
    )


def table(rows: Sequence[Row]) -> str:
    return "\n".join([HEADER, RULE, *(format_row(r) for r in rows)])


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile ``q`` (0–100) of ``values``, which must not be empty."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def slowdown(alone: float, loaded: float) -> float:
    """How many times ``loaded`` is of ``alone`` (latencies), 0 when there is nothing to compare."""
    return loaded / alone if alone > 0 else 0.0
